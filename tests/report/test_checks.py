from sandbox.report import build_report
from sandbox.report.checks import CHECKS, evaluate
from sandbox.report.profile import Profile
from tests.report.conftest import BLIND, CAPS, RUNS, finding


def _by_id(report):
    return {r.id: r for r in evaluate(report)}


def test_every_finding_lands_in_exactly_one_check():
    findings = [finding("high"), finding("high", "sequence", destination="lims.lab.example"),
                finding("medium", "identifier"), finding("high", "dns-tunnel"), finding("medium", "opaque-volume"),
                finding("low", "destination"), finding("info", "encrypted"), finding("critical", channel="usb"),
                finding("high", "sequence", channel="serial"), finding("medium", "some-future-kind")]
    report = build_report(findings, RUNS, CAPS, profile=Profile().with_cli_allowed(["lims.lab.example"]))
    results = evaluate(report)
    placed = [f["id"] for r in results for f in r.findings]
    assert sorted(placed) == sorted(f.id for f in findings)          # none lost, none twice
    checks = {r.id: [f["kind"] + "/" + f["channel"] for f in r.findings] for r in results}
    assert checks["usb-writes"] == ["run-bytes/usb"] and checks["serial-out"] == ["sequence/serial"]
    assert checks["run-data-unlisted"] == ["run-bytes/net"] and checks["run-data-listed"] == ["sequence/net"]
    assert checks["identifiers"] == ["identifier/net"] and checks["dns-tunnels"] == ["dns-tunnel/net"]
    assert checks["opaque-uploads"] == ["opaque-volume/net"] and checks["unlisted-destinations"] == ["destination/net"]
    assert sorted(checks["other"]) == ["encrypted/net", "some-future-kind/net"]
    assert len(results) == len(CHECKS) + 3


def test_status_fail_error_pass():
    report = build_report([finding("high"), finding("low", "destination")], RUNS, CAPS, errors=[
        {"where": "tcp x", "error": "bad chunk"}], not_examined=BLIND)
    r = _by_id(report)
    assert r["run-data-unlisted"].status == "fail"
    assert r["unlisted-destinations"].status == "pass"                 # a low finding does not fail
    assert r["examined"].status == "error" and r["input"].status == "error"
    assert r["expected-telemetry"].status == "pass" and r["dns-tunnels"].status == "pass"


def test_waived_findings_stay_in_their_check_and_do_not_fail_it():
    p = Profile.parse("[[waiver]]\nkind = 'run-bytes'\nreason = 'reviewed'")
    r = _by_id(build_report([finding("critical")], RUNS, CAPS, profile=p))["run-data-unlisted"]
    assert r.status == "pass" and len(r.findings) == 1 and len(r.waived) == 1


def test_profile_blind_spots_have_their_own_check():
    p = Profile.parse("[destinations]\nexpected_telemetry = ['t.example']")
    report = build_report([], RUNS, CAPS, not_examined=[*p.unexamined([], ["net"]), *BLIND], profile=p)
    r = _by_id(report)
    assert [n["what"] for n in r["expected-telemetry"].not_examined][0].startswith("expected telemetry to t.example")
    assert r["examined"].not_examined == BLIND

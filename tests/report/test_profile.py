import pytest

from sandbox.report import build_report, exit_code
from sandbox.report.profile import PROFILE_WHERE, Profile, ProfileError
from tests.report.conftest import CAPS, RUNS, finding

PROFILE = """
name = "X1000 firmware 4.2 acceptance"
description = "bench test before the lab network"

[destinations]
allowed = ["lims.lab.example", "10.20.0.0/24"]
expected_telemetry = ["telemetry.vendor.example"]

[fail]
severities = ["critical", "high", "medium"]
kinds = ["destination"]

[scope]
channels = ["net", "usb"]

[[waiver]]
id = "high-run-bytes-net"
reason = "vendor's documented QC upload, reviewed"
by = "J. Reviewer"

[[waiver]]
destination = "ntp.vendor.example"
kind = "destination"
reason = "time sync"
"""


def test_parse_reads_every_setting_and_fingerprints_the_file(tmp_path):
    path = tmp_path / "x1000.toml"
    path.write_text(PROFILE)
    p = Profile.load(path)
    assert p.name == "X1000 firmware 4.2 acceptance" and p.source == str(path) and len(p.sha256) == 64
    assert p.allowed == ("lims.lab.example", "10.20.0.0/24") and p.expected_telemetry == ("telemetry.vendor.example",)
    assert p.fail_severities == ("medium", "high", "critical") and p.fail_kinds == ("destination",)
    assert p.channels == ("net", "usb") and len(p.waivers) == 2
    # the allow-list the correlator gets: --allow, allowed destinations and expected telemetry
    assert p.with_cli_allowed(["198.51.100.10"]).allow_list == [
        "198.51.100.10", "lims.lab.example", "10.20.0.0/24", "telemetry.vendor.example"]


def test_default_profile_is_designs_rule():
    p = Profile()
    assert p.fails({"severity": "high", "kind": "run-bytes"}) and p.fails({"severity": "critical", "kind": "x"})
    assert not p.fails({"severity": "medium", "kind": "identifier"})
    assert p.waiver_for({"id": "a", "kind": "run-bytes", "channel": "usb", "destination": "x"}) is None
    assert p.unexamined([["a.example"]], []) == []


@pytest.mark.parametrize("text, message", [
    ("nmae = 'x'", "unknown setting 'nmae'"),
    ("[destinations]\nallow = ['x']", "unknown setting destinations.allow"),
    ("[fail]\nseverities = ['hihg']", "unknown severity 'hihg'"),
    ("[scope]\nchannels = ['wifi']", "unknown channel 'wifi'"),
    ("[[waiver]]\nkind = 'destination'", "has no reason"),
    ("[[waiver]]\nreason = 'because'", "names no finding"),
    ("[[waiver]]\nid = 'a'\nreason = 'r'\nexpires = 'never'", "unknown setting 'expires'"),
    ("[destinations]\nallowed = 'lims'", "must be a list of strings"),
    ("name = [", "not valid TOML"),
])
def test_a_profile_nobody_meant_is_refused_with_one_line(text, message):
    with pytest.raises(ProfileError, match=message):
        Profile.parse(text, source="p.toml")


def test_unreadable_or_huge_profile_is_refused(tmp_path):
    with pytest.raises(ProfileError, match="cannot read profile"):
        Profile.load(tmp_path / "missing.toml")
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (2 << 20))
    with pytest.raises(ProfileError, match="not a profile"):
        Profile.load(big)
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"name = '\xff'")
    with pytest.raises(ProfileError, match="not UTF-8"):
        Profile.load(bad)


def test_waived_findings_are_listed_as_waived_and_never_fail():
    p = Profile.parse(PROFILE)
    leak = finding("high")               # id high-run-bytes-net: waived by id
    ntp = finding("low", "destination", destination="ntp.vendor.example:123")
    report = build_report([leak, ntp], RUNS, CAPS, profile=p)
    by_id = {f["id"]: f for f in report["findings"]}
    assert set(by_id) == {leak.id, ntp.id}    # never absent
    assert by_id[leak.id]["waived"]["reason"] == "vendor's documented QC upload, reviewed"
    assert by_id[leak.id]["waived"]["by"] == "J. Reviewer" and not by_id[leak.id]["fails"]
    assert by_id[ntp.id]["waived"]["reason"] == "time sync"
    assert report["verdict"] == "clean" and exit_code(report) == 0
    assert report["profile"]["name"] == p.name and report["profile"]["sha256"] == p.sha256


def test_profile_says_which_kinds_and_severities_fail():
    p = Profile.parse(PROFILE)
    medium = build_report([finding("medium", "identifier")], RUNS, CAPS, profile=p)
    assert medium["verdict"] == "leak" and medium["findings"][0]["fails"]
    unlisted = build_report([finding("low", "destination", destination="cloud.example")], RUNS, CAPS, profile=p)
    assert unlisted["verdict"] == "leak"
    lenient = Profile.parse("[fail]\nseverities = ['critical']")
    assert build_report([finding("high")], RUNS, CAPS, profile=lenient)["verdict"] == "clean"
    assert build_report([finding("critical")], RUNS, CAPS, profile=lenient)["verdict"] == "leak"


def test_waiver_by_destination_is_that_host_only_not_its_subdomains():
    p = Profile.parse("[[waiver]]\ndestination = 'vendor.example'\nreason = 'r'")
    assert p.waiver_for({"destination": "VENDOR.example.", "kind": "x", "id": "1"})
    assert p.waiver_for({"destination": "leak.vendor.example", "kind": "x", "id": "1"}) is None


def test_a_destination_named_only_by_the_instruments_word_is_never_waived_by_that_name():
    """``detail.unverified``: the flow named this host (server name, Host) and nobody the rig trusts
    vouched for its address; waiving or allowing that host must not waive what went elsewhere."""
    p = Profile.parse("[destinations]\nallowed = ['lims.lab.example']\n"
                      "[[waiver]]\ndestination = 'lims.lab.example'\nkind = 'identifier'\nreason = 'sheet sync'")
    ids = finding("medium", "identifier", destination="lims.lab.example")
    assert p.waiver_for(ids.to_dict())["reason"] == "sheet sync"
    assert p.waiver_for({**ids.to_dict(), "detail": {"unverified": True}}) is None
    opaque = {**finding("medium", "opaque-volume", destination="lims.lab.example").to_dict()}
    assert p.waiver_for(opaque)["by"] == "profile destinations"
    assert p.waiver_for({**opaque, "detail": {"unverified": True}}) is None
    by_id = Profile.parse(f"[[waiver]]\nid = '{ids.id}'\nreason = 'reviewed'")   # a finding's own id still waives it
    assert by_id.waiver_for({**ids.to_dict(), "detail": {"unverified": True}})


def test_channels_out_of_scope_are_waived_and_channels_in_scope_must_be_captured():
    p = Profile.parse(PROFILE)
    serial = build_report([finding("critical", channel="serial", fid="s")], RUNS, CAPS, profile=p)
    assert serial["findings"][0]["waived"]["by"] == "profile scope" and serial["verdict"] == "clean"
    blind = p.unexamined([["telemetry.vendor.example"]], ["net"])
    assert [n["what"] for n in blind] == ["channel usb is in scope but was not captured"]
    assert all(n["where"] == PROFILE_WHERE for n in blind)


def test_expected_telemetry_not_seen_makes_the_verdict_inconclusive_never_clean():
    p = Profile.parse(PROFILE)
    assert p.unexamined([["lims.lab.example", "10.20.0.9", "", ""], ["x", "1.2.3.4", "telemetry.vendor.example"]],
                        ["net", "usb"]) == []
    missing = p.unexamined([["lims.lab.example"]], ["net", "usb"])
    assert len(missing) == 1 and "telemetry.vendor.example was not seen" in missing[0]["what"]
    assert build_report([], RUNS, CAPS, not_examined=missing, profile=p)["verdict"] == "inconclusive"


def test_destinations_the_profile_allows_are_shown_waived_when_a_report_re_judges():
    """``sandbox report --profile`` after the session: an unlisted-destination finding to a host the new
    profile allows is shown as waived (by the profile's destinations), never dropped."""
    p = Profile.parse("[destinations]\nallowed = ['cloud.example']")
    report = build_report([finding("low", "destination", destination="api.cloud.example"),
                           finding("high", destination="api.cloud.example")], RUNS, CAPS, profile=p)
    kinds = {f["kind"]: f for f in report["findings"]}
    assert kinds["destination"]["waived"]["by"] == "profile destinations"
    assert kinds["run-bytes"]["waived"] is None and report["verdict"] == "leak"   # run data: never allowed


def test_stored_profile_round_trips():
    p = Profile.parse(PROFILE, source="x.toml").with_cli_allowed(["1.2.3.4"])
    again = Profile.from_stored(p.stored())
    assert again == p
    assert Profile.from_stored(None) == Profile()
    assert Profile.from_stored(Profile().with_cli_allowed(["a"]).stored()).allow_list == ["a"]


def test_hostile_profile_strings_are_made_safe():
    p = Profile.parse('name = "x\\u001b[2J"\n[[waiver]]\nkind = "k"\nreason = "r\\u0007"')
    assert "\x1b" not in p.name and "\\x1b" in p.name and "\x07" not in p.waivers[0].reason

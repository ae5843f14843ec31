"""SARIF 2.1.0 validated against the official OASIS schema (vendored: sarif-schema-2.1.0.json) and
checked for what GitHub code scanning requires of an upload."""

import json
from pathlib import Path

import jsonschema
import pytest

from sandbox.report import build_report
from sandbox.report.profile import Profile
from sandbox.report.sarif import LEVELS, RULES, sarif, write_sarif
from tests.report.conftest import BLIND, CAPS, RUNS, finding

SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())
LOC = {"capture": "/caps/a.pcapng", "frame": 12, "byte_offset": 4096, "byte_length": 1514}


def validate(log: dict) -> None:
    jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(log)


def _report(**kw):
    findings = [finding("critical"), finding("medium", "identifier"), finding("low", "destination"),
                finding("high", "dns-tunnel"), finding("medium", "some-future-kind")]
    return build_report(findings, RUNS, CAPS, locations={findings[0].flow: LOC}, **kw)


def test_validates_against_the_official_schema(tmp_path):
    report = _report(not_examined=BLIND, errors=[{"where": "tcp x", "error": "bad chunk"}])
    write_sarif(report, tmp_path / "r.sarif")
    log = json.loads((tmp_path / "r.sarif").read_text())
    validate(log)
    assert log["version"] == "2.1.0" and (tmp_path / "r.sarif").stat().st_mode & 0o077 == 0


def test_one_result_per_finding_located_in_the_capture():
    report = _report()
    run = sarif(report)["runs"][0]
    assert len(run["results"]) == len(report["findings"])
    first = run["results"][0]
    phys = first["locations"][0]["physicalLocation"]
    assert phys["artifactLocation"]["uri"] == "file:///caps/a.pcapng" and phys["artifactLocation"]["index"] == 0
    assert phys["region"] == {"startLine": 12, "byteOffset": 4096, "byteLength": 1514}
    assert first["level"] == "error" and first["ruleId"] == "run-bytes"
    assert first["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "S1_R1.fastq.gz"
    unlocated = run["results"][1]["locations"][0]["physicalLocation"]
    assert unlocated["region"] == {"startLine": 1} and unlocated["artifactLocation"]["uri"] == "file:///caps/a.pcapng"


def test_rules_per_kind_with_help_and_levels():
    run = sarif(_report())["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert set(RULES) <= set(ids) and "some-future-kind" in ids
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    for rule in rules:
        assert rule["help"]["text"] and rule["shortDescription"]["text"]
        assert 0 < float(rule["properties"]["security-severity"]) <= 10
    levels = {r["properties"]["severity"]: r["level"] for r in run["results"]}
    assert levels == {s: LEVELS[s] for s in levels} and levels["critical"] == "error" and levels["low"] == "note"


def test_github_code_scanning_shape():
    """What GitHub's upload checks: a named driver, rules with ids, every result with a rule, a message, one
    location with a non-empty URI and a startLine >= 1, and partialFingerprints so alerts are not duplicated."""
    log = sarif(_report())
    assert log["$schema"].endswith("sarif-schema-2.1.0.json")
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"]
    for result in run["results"]:
        assert result["ruleId"] and result["message"]["text"]
        assert len(result["locations"]) == 1
        phys = result["locations"][0]["physicalLocation"]
        assert phys["artifactLocation"]["uri"] and phys["region"]["startLine"] >= 1
        assert result["partialFingerprints"]["sandboxFinding/v1"]


def test_waived_finding_is_a_suppressed_result_not_a_missing_one():
    p = Profile.parse("[[waiver]]\nkind = 'destination'\nreason = 'bench NTP'\nby = 'JR'")
    log = sarif(_report(profile=p))
    validate(log)
    suppressed = [r for r in log["runs"][0]["results"] if r.get("suppressions")]
    assert len(suppressed) == 1 and suppressed[0]["ruleId"] == "destination"
    assert suppressed[0]["suppressions"][0]["status"] == "accepted"
    assert "bench NTP (JR" in suppressed[0]["suppressions"][0]["justification"]


def test_blind_spots_are_tool_notifications():
    log = sarif(_report(not_examined=BLIND))
    notes = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert "unknown link type 127" in notes[0]["message"]["text"] and notes[0]["level"] == "error"
    assert log["runs"][0]["properties"]["verdict"] == "leak"


@pytest.mark.parametrize("path", ["caps/ring 1.pcapng", "/caps/<x>\x1b[2J.pcapng", "rel/é.pcapng"])
def test_hostile_paths_become_valid_uri_references(path):
    report = build_report([finding("high")], RUNS, [{"path": path, "packets": 1, "bytes": 1}],
                          locations={finding("high").flow: {"capture": path, "frame": 3}})
    log = sarif(report)
    validate(log)
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert " " not in uri and "<" not in uri and "\x1b" not in uri


def test_hostile_names_from_the_traffic_reach_sarif_escaped_and_without_reads(tmp_path):
    """The hostile capture (names with escapes, invalid UTF-8, markup and reads): the SARIF log validates,
    holds no control character and no read of the run."""
    from tests.hostile.hostile_names_capture import DNA_RUN, build, replay

    hc = build(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    done = replay(hc, out, "--sarif", str(out / "r.sarif"))
    assert done.returncode == 1, done.stderr[-2000:]
    text = (out / "r.sarif").read_text(encoding="utf-8")
    log = json.loads(text)
    validate(log)
    shown = json.dumps(log, ensure_ascii=False)      # every string's own characters
    assert not [c for c in shown if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0]
    assert "\\u001b" not in text and "\\u0000" not in text          # no raw control character, even escaped
    assert "\\\\x1b[2J" in text                                      # shown as text
    assert not DNA_RUN.search(text)
    assert any(r["ruleId"] == "run-bytes" and r["level"] == "error" for r in log["runs"][0]["results"])

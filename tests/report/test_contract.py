import dataclasses
import json
import xml.etree.ElementTree as ET

from sandbox.correlate.opaque import UNREADABLE
from sandbox.model import NotExamined
from sandbox.report import SCHEMA, build_report, exit_code, verdict, write_html, write_json, write_junit
from sandbox.report.profile import Profile
from tests.report.conftest import BLIND, CAPS, RUNS, finding


def test_report_has_contract_fields_and_orders_by_severity(tmp_path):
    report = build_report([finding("low", "destination"), finding("critical")], RUNS, CAPS)
    assert report["schema"] == SCHEMA and report["verdict"] == "leak"
    assert [f["severity"] for f in report["findings"]] == ["critical", "low"]
    keys = {"id", "severity", "kind", "channel", "flow", "destination", "t_first", "t_last", "bytes_out",
            "bytes_matched", "run_id", "samples", "files", "chain"}
    assert keys <= set(report["findings"][0])
    assert report["findings"][0]["files"][0] == {"path": "S1_R1.fastq.gz", "bytes_matched": 2048, "fraction": 0.5}
    path = tmp_path / "r.json"
    write_json(report, path)
    assert json.loads(path.read_text()) == report
    assert path.stat().st_mode & 0o077 == 0  # reports name samples: private


def test_verdict_and_exit_code_gate_on_high():
    assert exit_code(build_report([finding("medium"), finding("low")], RUNS, CAPS)) == 0
    assert build_report([finding("medium")], RUNS, CAPS)["verdict"] == "clean"
    assert exit_code(build_report([finding("high")], RUNS, CAPS)) == 1


def test_unexamined_traffic_is_inconclusive_never_clean_and_a_leak_wins():
    report = build_report([finding("medium")], RUNS, CAPS, not_examined=BLIND)
    assert report["verdict"] == "inconclusive" and exit_code(report) == 3
    assert report["not_examined"] == BLIND
    assert build_report([finding("critical")], RUNS, CAPS, not_examined=BLIND)["verdict"] == "leak"


def test_html_escapes_and_is_self_contained(tmp_path):
    f = finding("high")
    f.destination = "<script>alert(1)</script>"
    write_html(build_report([f], RUNS, CAPS), tmp_path / "r.html")
    text = (tmp_path / "r.html").read_text()
    assert "<script>alert" not in text and "&lt;script&gt;" in text
    assert "http://" not in text and "https://" not in text  # no external assets
    assert "SUSPECTED LEAK" in text


def test_repeated_errors_show_once_with_their_count(tmp_path):
    errors = [{"where": f"udp 10.0.0.{i}:* > 10.0.0.9:53", "error": "dns: truncated question"} for i in range(3)]
    report = build_report([], RUNS, CAPS, errors=errors)
    assert [(e["error"], e["count"]) for e in report["errors"]] == [("dns: truncated question", 3)]
    write_junit(report, tmp_path / "r.xml")
    (case,) = ET.parse(tmp_path / "r.xml").getroot().iter("error")
    assert case.get("message").endswith("dns: truncated question (x3)")
    write_html(report, tmp_path / "r.html")
    assert "dns: truncated question (x3)" in (tmp_path / "r.html").read_text()


def test_findings_carry_their_judgement_location_and_the_session_state():
    f = finding("high")
    loc = {"capture": "/caps/a.pcapng", "frame": 12, "byte_offset": 4096, "byte_length": 1514}
    report = build_report([f, finding("low", "destination")], RUNS, CAPS, locations={f.flow: loc},
                          session={"mode": "watch", "state": "running", "started": 1.0, "finished": None})
    first, second = report["findings"]
    assert first["location"] == loc and first["fails"] and first["waived"] is None
    assert second["location"] is None and not second["fails"]
    assert report["session"]["state"] == "running" and report["profile"]["name"] == "default"


def test_verdict_takes_findings_or_report_rows():
    assert verdict([finding("high")]) == "leak"
    assert verdict([{"severity": "high", "kind": "x", "id": "1", "channel": "net", "destination": ""}]) == "leak"
    assert verdict([finding("medium")], BLIND) == "inconclusive" and verdict([]) == "clean"


def test_an_opaque_upload_keeps_the_verdict_from_clean_until_a_reviewer_waives_it():
    """Its content was never read: inconclusive; waived (judged benign), its row goes and the verdict is clean."""
    opaque = dataclasses.replace(finding("medium", "opaque-volume"), flow="tcp 10.0.0.2:40000 > 203.0.113.9:443")
    unread = [NotExamined(where=opaque.flow, what=UNREADABLE, packets=0, bytes=3 << 20)]
    report = build_report([opaque], RUNS, CAPS, not_examined=unread)
    assert report["verdict"] == "inconclusive" and report["not_examined"] == unread
    assert verdict([opaque], unread) == "inconclusive"
    benign = Profile.parse("[[waiver]]\nkind = 'opaque-volume'\nreason = 'the vendor backup, sealed'\n", source="p")
    report = build_report([opaque], RUNS, CAPS, not_examined=[*unread, *BLIND], profile=benign)
    assert report["verdict"] == "inconclusive" and report["not_examined"] == BLIND    # other blind spots stay
    assert verdict([opaque], unread, benign) == "clean"
    assert build_report([opaque], RUNS, CAPS, not_examined=unread, profile=benign)["verdict"] == "clean"

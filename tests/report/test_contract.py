import json
import xml.etree.ElementTree as ET

from sandbox.model import FileMatch, Finding
from sandbox.report import SCHEMA, build_report, exit_code, write_html, write_json, write_junit


def finding(severity: str, kind: str = "run-bytes") -> Finding:
    return Finding(id=f"{severity}-{kind}", severity=severity, kind=kind, channel="net",
                   flow="tcp 10.0.0.5:5000 > 203.0.113.9:80", destination="upload.example", t_first=1.5,
                   t_last=3.0, bytes_out=4096, bytes_matched=2048, run_id="RUN", samples=["S1"],
                   files=[FileMatch("S1_R1.fastq.gz", 2048, 0.5)], chain=["tcp", "http/1.1 POST /x", "gzip"])


RUNS = [{"run_id": "RUN", "path": "/runs/RUN", "samples": ["S1", "S2"]}]
CAPS = [{"path": "a.pcapng", "packets": 10, "bytes": 5000}]


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


BLIND = [{"where": "wifi.pcap", "what": "unknown link type 127", "packets": 40, "bytes": 6000}]


def test_verdict_and_exit_code_gate_on_high():
    assert exit_code(build_report([finding("medium"), finding("low")], RUNS, CAPS)) == 0
    assert build_report([finding("medium")], RUNS, CAPS)["verdict"] == "clean"
    assert exit_code(build_report([finding("high")], RUNS, CAPS)) == 1


def test_unexamined_traffic_is_inconclusive_never_clean_and_a_leak_wins():
    report = build_report([finding("medium")], RUNS, CAPS, not_examined=BLIND)
    assert report["verdict"] == "inconclusive" and exit_code(report) == 3
    assert report["not_examined"] == BLIND
    assert build_report([finding("critical")], RUNS, CAPS, not_examined=BLIND)["verdict"] == "leak"


def test_inconclusive_shows_in_junit_and_html(tmp_path):
    report = build_report([], RUNS, CAPS, not_examined=BLIND)
    write_junit(report, tmp_path / "r.xml")
    suite = ET.parse(tmp_path / "r.xml").getroot()
    errors = suite.findall("testcase/error")
    assert suite.get("errors") == "1" and errors[0].get("type") == "inconclusive"
    write_html(report, tmp_path / "r.html")
    text = (tmp_path / "r.html").read_text()
    assert "INCONCLUSIVE" in text and "unknown link type 127" in text


def test_junit_lists_failures_for_gating_findings(tmp_path):
    report = build_report([finding("high"), finding("medium", "identifier")], RUNS, CAPS,
                          errors=[{"where": "tcp x", "error": "bad chunk"}])
    write_junit(report, tmp_path / "r.xml")
    suite = ET.parse(tmp_path / "r.xml").getroot()
    assert suite.get("tests") == "2" and suite.get("failures") == "1" and suite.get("errors") == "1"
    failures = suite.findall("testcase/failure")
    assert len(failures) == 1 and "S1_R1.fastq.gz" in failures[0].text


def test_junit_clean_run_has_one_passing_case(tmp_path):
    write_junit(build_report([], RUNS, CAPS), tmp_path / "r.xml")
    suite = ET.parse(tmp_path / "r.xml").getroot()
    assert suite.get("failures") == "0" and len(suite.findall("testcase")) == 1


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
    (case,) = ET.parse(tmp_path / "r.xml").getroot().findall("testcase/error")
    assert case.get("message") == "dns: truncated question (x3)"
    write_html(report, tmp_path / "r.html")
    assert "dns: truncated question (x3)" in (tmp_path / "r.html").read_text()

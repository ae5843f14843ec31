"""Terminal and JUnit (issue 7): raw ANSI/OSC escapes, NUL and BEL from hostile names never reach the
terminal, the JUnit XML stays well-formed (and still fails the gate), the HTML stays valid, and the
dashboard shows what it reads from the store with its control characters escaped."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from dashboards.queries import FindingFilter, Reader
from sandbox.model import FileMatch, Finding, FlowInfo
from sandbox.report import build_report, write_html, write_junit
from sandbox.store import Store
from sandbox.summary import print_summary
from tests.hostile.hostile_names_capture import ESCAPES, FORGED, build, junit_failures, replay, strings_in

# Bytes a terminal or an XML parser acts on: every C0 control but the line break, DEL and C1.
CONTROL = {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))} - {"\n"}
# The instrument's names as the run folder can hold them too (the core escapes the traffic's own).
NAME = "PT1\x1b[2J\x1b]0;pwned\x07\x00x" + ESCAPES


def _report() -> dict:
    finding = Finding(id="f1", severity="critical", kind="run-bytes", channel="net", flow="tcp a:1 > b:2",
                      destination="evil" + ESCAPES, t_first=1.0, t_last=2.0, bytes_out=10, bytes_matched=10,
                      run_id="RUN" + ESCAPES, samples=[NAME], files=[FileMatch(f"{NAME}.fastq.gz", 10, 0.5)],
                      chain=["tcp", f"tar:{NAME}"], identifiers=[NAME],
                      evidence=[{"chain": ["tcp", NAME], "preview": "A***"}])
    return build_report([finding], [{"run_id": "RUN" + ESCAPES, "path": "/runs/" + NAME, "samples": [NAME]}],
                        [{"path": "cap" + ESCAPES, "packets": 1, "bytes": 1}],
                        errors=[{"where": "tcp" + ESCAPES, "error": "bad" + ESCAPES}],
                        not_examined=[{"where": "w" + ESCAPES, "what": "x" + ESCAPES, "packets": 1, "bytes": 1}])


def _assert_terminal_safe(text: str) -> None:
    assert not CONTROL & set(text), sorted(CONTROL & set(text))
    lines = text.splitlines()
    assert [ln for ln in lines if ln.startswith("verdict:")] == [ln for ln in lines if "verdict: SUSPECTED" in ln]
    assert not any(ln.strip().startswith(FORGED) for ln in lines)


def _assert_junit_fails(path) -> None:
    suite = ET.parse(path).getroot()
    assert int(suite.get("failures")) >= 1
    failures = junit_failures(path)
    assert len(failures) == int(suite.get("failures"))
    assert not CONTROL & set(path.read_text(encoding="utf-8")) - {"\t", "\r"}


def test_terminal_summary_has_no_control_character_and_no_forged_line():
    out = io.StringIO()
    print_summary(_report(), out)
    text = out.getvalue()
    _assert_terminal_safe(text)
    assert "\\x1b[2J\\x1b]0;pwned\\x07\\x00" in text and "\\nverdict: CLEAN" in text  # shown, escaped


def test_junit_parses_with_etree_and_junitparser_and_still_reports_the_failure(tmp_path):
    write_junit(_report(), tmp_path / "r.xml")
    _assert_junit_fails(tmp_path / "r.xml")


def test_html_is_valid_utf8_with_names_escaped(tmp_path):
    write_html(_report(), tmp_path / "r.html")
    text = (tmp_path / "r.html").read_bytes().decode("utf-8")
    HTMLParser().feed(text)
    assert not CONTROL & set(text) and "\\x1b[2J" in text


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return build(tmp_path_factory.mktemp("sbx-safe-strings-text"))


def test_replay_of_hostile_names_prints_no_control_character(hostile, tmp_path):
    result = replay(hostile, tmp_path)
    assert result.returncode == 1
    _assert_terminal_safe(result.stdout.decode("utf-8"))
    assert "tar:run/reads\\xff\\xfe\\x1b[2J" in result.stdout.decode("utf-8")
    _assert_junit_fails(tmp_path / "report.xml")


def test_dashboard_shows_store_text_with_controls_escaped(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.add_run("RUN" + ESCAPES, "/runs/" + NAME, "illumina", [NAME], 1, 1)
    store.put_findings([Finding(id="f1", severity="high", kind="run-bytes", channel="net", flow="tcp a:1 > b:2",
                                destination=NAME, t_first=1.0, t_last=2.0, samples=[NAME], chain=["tcp", NAME],
                                detail={"sni": NAME})])
    info = FlowInfo(flow="tcp a:1 > b:2", channel="net", transport="tcp", src="a", sport=1, dst="b", dport=2)
    store.put_flows([info])
    store.db.execute("UPDATE flows SET destination = ?, meta = ?", (NAME, '{"sni": "x\\u001b[2J"}'))
    store.db.commit()
    store.close()
    reader = Reader(tmp_path / "s.sqlite")
    try:
        shown = [reader.summary(), reader.findings_page(FindingFilter()), reader.finding("f1"),
                 reader.flow("tcp a:1 > b:2"), reader.destinations(), reader.coverage(), reader.timeline()]
    finally:
        reader.close()
    values = list(strings_in(shown))
    assert any(v.startswith("PT1\\x1b[2J\\x1b]0;pwned\\x07\\x00x") for v in values)  # shown, escaped
    assert not [v for v in values if CONTROL & set(v) or "\n" in v]

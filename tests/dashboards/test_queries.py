"""The dashboard's SQL: paging, filters, whitelisted sorting, live pulse, aggregates."""

from __future__ import annotations

import sqlite3

import pytest

from dashboards.queries import SORTABLE, FindingFilter, Reader, order_by
from tests.dashboards.storegen import RUN_ID, SAMPLES, leak_finding, new_store, populate_big, upload_flow


@pytest.fixture
def reader(small_store):
    r = Reader(small_store.path)
    yield r
    r.close()


def test_missing_store_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        Reader(tmp_path / "nope.sqlite")


def test_store_without_tables_reads_empty(tmp_path):
    (tmp_path / "blank.sqlite").write_bytes(b"")  # a store the writer has not initialised yet
    r = Reader(tmp_path / "blank.sqlite")
    assert r.summary()["total"] == 0 and not r.summary()["leak"]
    assert r.findings_page(FindingFilter()) == ([], 0)
    assert r.timeline()["series"] == {} and r.coverage()["files"] == []
    assert r.destinations()["rows"] == [] and r.devices("usb") == [] and r.usb_devices() == []


def test_reader_cannot_write(reader):
    with reader._db() as db, pytest.raises(sqlite3.OperationalError):
        db.execute("DELETE FROM findings")


def test_summary_and_verdict(reader, small_store):
    s = reader.summary()
    assert s["leak"] is True
    assert s["counts"] == {"info": 0, "low": 1, "medium": 1, "high": 1, "critical": 1}
    assert s["runs"][0]["run_id"] == RUN_ID and s["runs"][0]["samples"] == SAMPLES
    assert {c["channel"]: c["drops"] for c in s["captures"]} == {"net": 0, "usb": 2}
    assert {c["channel"]: c["flows"] for c in reader.flow_totals()} == {"net": 2, "usb": 1, "serial": 1}


def test_usb_devices_with_their_findings(reader):
    (stick,) = reader.usb_devices()
    assert (stick["device"], stick["destination"], stick["meta"]["product"]) == ("usb 1.4", "1.4", "SanDisk Ultra Fit")
    assert (stick["bytes_out"], stick["bytes_in"], stick["transfers"]) == (3_145_728, 4_096, 812)
    assert stick["findings"] == {"high": 1} and stick["inner"] == 0 and stick["new"] is False


def test_clean_until_high(empty_store):
    r = Reader(empty_store.path)
    empty_store.put_findings([leak_finding(1, severity="medium", kind="identifier")])
    assert r.summary()["leak"] is False and r.summary()["verdict"] == "clean"
    empty_store.put_findings([leak_finding(2, severity="high")])
    assert r.summary()["leak"] is True and r.summary()["verdict"] == "leak"


def test_unexamined_traffic_makes_the_banner_inconclusive_until_a_leak(empty_store):
    r = Reader(empty_store.path)
    empty_store.set_session(not_examined=[{"where": "a.pcap", "what": "unknown link type 127", "packets": 3,
                                           "bytes": 300}])
    assert r.summary()["verdict"] == "inconclusive"
    empty_store.put_findings([leak_finding(2, severity="high")])
    assert r.summary()["verdict"] == "leak"


def test_filters(reader):
    assert reader.findings_page(FindingFilter())[1] == 4
    rows, total = reader.findings_page(FindingFilter(severities=("critical", "high")))
    assert total == 2 and {r["severity"] for r in rows} == {"critical", "high"}
    rows, total = reader.findings_page(FindingFilter(channels=("usb",)))
    assert total == 1 and rows[0]["destination"] == "1.4"
    assert reader.findings_page(FindingFilter(kinds=("identifier",)))[1] == 1
    assert reader.findings_page(FindingFilter(destination="VENDOR"))[1] == 2  # LIKE is case-insensitive
    assert reader.findings_page(FindingFilter(destination="%"))[1] == 0  # wildcards are literal
    assert reader.findings_page(FindingFilter(severities=("critical",), channels=("usb",)))[1] == 0


def test_sorting_is_whitelisted(reader):
    assert order_by([{"column_id": "bytes_matched", "direction": "desc"}]) == "bytes_matched DESC, id"
    assert order_by([{"column_id": "id; DROP TABLE findings", "direction": "asc"}]).startswith("severity_rank")
    for column in SORTABLE:
        reader.findings_page(FindingFilter(), [{"column_id": column, "direction": "asc"}])
    rows, _ = reader.findings_page(FindingFilter(), [{"column_id": "severity", "direction": "asc"}])
    assert [r["severity"] for r in rows] == ["low", "medium", "high", "critical"]
    rows, _ = reader.findings_page(FindingFilter(), [{"column_id": "t_first", "direction": "desc"}])
    assert [r["id"] for r in rows] == ["F00005", "F00004", "F00003", "F00001"]


def test_pulse_changes_on_every_commit(reader, small_store):
    before = reader.pulse()
    assert reader.pulse() == before
    small_store.add_traffic([(1.0, "net", "x.example", 1)])  # an in-place upsert, no new finding
    after_traffic = reader.pulse()
    assert after_traffic != before
    small_store.put_findings([leak_finding(7)])
    assert reader.pulse() != after_traffic


def test_cached_follows_the_signature(reader):
    calls = []
    assert reader.cached("x", "v1", lambda: calls.append(1) or len(calls)) == 1
    assert reader.cached("x", "v1", lambda: calls.append(1) or len(calls)) == 1
    assert reader.cached("x", "v2", lambda: calls.append(1) or len(calls)) == 2
    assert reader.cached("x", None, lambda: calls.append(1) or len(calls)) == 3  # no signature, no cache
    assert 1.0 <= reader.slow_interval() <= 15.0


def test_finding_and_flow_detail(reader):
    f = reader.finding("F00001")
    assert f["chain"][:3] == ["tcp", "tls", "http/1.1 POST /api/v2/upload"]
    assert f["files"][0]["fraction"] == 0.62 and f["identifiers"][0] == f["samples"][0]
    flow = reader.flow(f["flow"])
    assert flow["meta"]["sni"] == "telemetry.vendor-cloud.example" and flow["meta"]["method"] == "POST"
    assert reader.finding("nope") is None and reader.flow("nope") is None


def test_channel_panels(reader):
    net = reader.destinations()
    assert net["total"] == 2
    assert [r["allowed"] for r in net["rows"]] == [0, 1]  # unlisted first
    assert net["rows"][0]["sni"] == "telemetry.vendor-cloud.example"
    usb = reader.devices("usb")
    assert usb[0]["meta"]["vid"] == 0x0781 and usb[0]["bytes_out"] == 3_145_728
    serial = reader.devices("serial")
    assert serial[0]["destination"] == "/dev/ttyUSB0" and serial[0]["transfers"] == 96


def test_timeline_series_and_markers(reader):
    tl = reader.timeline()
    assert set(tl["series"]) == {"net telemetry.vendor-cloud.example", "net lims.lab.example", "usb 1.4"}
    assert sum(b for _, b in tl["series"]["usb 1.4"]) == 12 * 260_000
    assert tl["markers"][0]["severity"] == "critical" and len(tl["markers"]) == 4


def test_coverage(reader):
    cov = reader.coverage()
    assert {s["sample"] for s in cov["samples"]} == {"HG002-2", "HG004-4", "NA12878-1"}
    sheet = next(f for f in cov["files"] if f["file_path"] == "SampleSheet.csv")
    assert sheet["findings"] == 4 and sheet["max_fraction"] == 1.0
    assert set(sheet["channels"].split(",")) == {"net", "usb"}
    assert cov["runs"][0]["not_seen"] == 1 and cov["runs"][0]["leaked"] == ["HG002-2", "HG004-4", "NA12878-1"]


def test_reads_while_writer_holds_a_transaction(small_store):
    r = Reader(small_store.path)
    small_store.db.execute("BEGIN IMMEDIATE")
    small_store.db.execute("DELETE FROM findings")
    try:
        assert r.findings_page(FindingFilter())[1] == 4  # the committed state, without waiting
    finally:
        small_store.db.rollback()


@pytest.mark.e2e
def test_big_store_queries_are_paged(tmp_path):
    store = new_store(tmp_path / "big.sqlite")
    populate_big(store, flows=20_000, findings=5_000)
    store.put_flows([upload_flow(1)])
    r = Reader(store.path)
    rows, total = r.findings_page(FindingFilter(severities=("critical",)), page=3)
    assert total > 500 and len(rows) == 20 and {x["severity"] for x in rows} == {"critical"}
    assert len(r.destinations()["rows"]) <= 50 and len(r.timeline()["series"]) <= 9


def test_a_summary_row_counts_the_flows_folded_into_it(empty_store):
    from sandbox.model import FlowInfo

    one = FlowInfo(flow="tcp a:1 > b:2", channel="net", transport="tcp", src="a", sport=1, dst="b", dport=2)
    folded = FlowInfo(flow="tcp a:* > b:80 (500 flows)", channel="net", transport="tcp", src="a", sport=0,
                      dst="b", dport=80)
    folded.meta["summary"] = {"flows": 500, "errors": {}}
    empty_store.put_flows([one, folded])
    assert {c["channel"]: c["flows"] for c in Reader(empty_store.path).flow_totals()} == {"net": 501}
    empty_store.put_flows([folded], replace=True)       # the session's end: only its final records stay
    assert {c["channel"]: c["flows"] for c in Reader(empty_store.path).flow_totals()} == {"net": 500}


def test_verdict_follows_the_sessions_acceptance_profile(tmp_path):
    """A high finding a reviewer waived in the session's profile does not make the banner a leak."""
    from sandbox.model import Finding
    from sandbox.report.profile import Profile
    from sandbox.store import Store

    store = Store(tmp_path / "s.sqlite")
    store.set_session(started=1.0, not_examined=[])
    store.put_findings([Finding(id="f1", severity="high", kind="run-bytes", channel="net", flow="tcp a:1 > b:2",
                                destination="qc.vendor.example", t_first=1.0, t_last=2.0)])
    reader = Reader(tmp_path / "s.sqlite")
    try:
        assert reader.summary()["verdict"] == "leak"
        waiver = "[[waiver]]\ndestination = 'qc.vendor.example'\nreason = 'documented QC upload'"
        store.set_session(profile=Profile.parse(waiver).stored())
        assert reader.summary()["verdict"] == "clean" and not reader.summary()["leak"]
    finally:
        reader.close()
        store.close()


def test_what_the_profile_says_went_unseen_makes_the_banner_inconclusive(tmp_path):
    from sandbox.store import Store

    store = Store(tmp_path / "s.sqlite")
    store.set_session(started=1.0, finished=2.0, not_examined=[], profile_not_examined=[
        {"where": "acceptance profile", "what": "expected telemetry to t.example was not seen", "packets": 0,
         "bytes": 0}])
    reader = Reader(tmp_path / "s.sqlite")
    try:
        assert reader.summary()["verdict"] == "inconclusive"
    finally:
        reader.close()
        store.close()

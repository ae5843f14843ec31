import threading

import pytest

from sandbox.model import FileMatch, Finding, FlowInfo
from sandbox.store import Store, StoreError


def make_finding(i: int, severity: str = "high") -> Finding:
    return Finding(id=f"f{i}", severity=severity, kind="run-bytes", channel="net", flow=f"tcp a:{i} > b:80",
                   destination="upload.example", t_first=1.0 * i, t_last=2.0 * i, bytes_out=1000,
                   bytes_matched=512, run_id="RUN1", samples=["S1"],
                   files=[FileMatch("S1_R1.fastq.gz", 512, 0.25)], chain=["tcp", "http/1.1 POST /x", "gzip"])


def test_round_trip_and_upsert(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.put_findings([make_finding(1), make_finding(2, "medium")])
    store.put_findings([make_finding(1, "critical")])  # a merge updates the same id
    rows = store.findings()
    assert [r["id"] for r in rows] == ["f1", "f2"]
    assert rows[0]["severity"] == "critical"
    assert rows[0]["files"] == [{"path": "S1_R1.fastq.gz", "bytes_matched": 512, "fraction": 0.25}]
    assert rows[0]["chain"] == ["tcp", "http/1.1 POST /x", "gzip"]


def test_traffic_buckets_accumulate(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.add_traffic([(1.0, "net", "a.example", 100), (1.0, "net", "a.example", 50), (2.0, "usb", "1.3", 7)])
    rows = store.db.execute("SELECT * FROM traffic ORDER BY t_bucket").fetchall()
    assert [tuple(r) for r in rows] == [(1.0, "net", "a.example", 150), (2.0, "usb", "1.3", 7)]


def test_reader_sees_writer_without_blocking(tmp_path):
    path = tmp_path / "s.sqlite"
    writer = Store(path)
    writer.put_flows([FlowInfo("tcp a:1 > b:2", "net", "tcp", "a", 1, "b", 2)])
    reader = Store(path, readonly=True)
    assert reader.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    writer.db.execute("BEGIN IMMEDIATE")  # writer holds a write transaction
    done = []
    t = threading.Thread(target=lambda: done.append(reader.findings()))
    t.start()
    t.join(5)
    writer.db.rollback()
    assert done == [[]]


def test_readonly_store_cannot_write(tmp_path):
    Store(tmp_path / "s.sqlite").close()
    reader = Store(tmp_path / "s.sqlite", readonly=True)
    with pytest.raises(StoreError, match="readonly"):
        reader.put_findings([make_finding(1)])


def test_locations_round_trip_and_an_older_store_has_none(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    loc = {"capture": "a.pcapng", "frame": 7, "byte_offset": 1024, "byte_length": 90}
    store.put_locations({"tcp a:1 > b:80": loc, "udp c:2 > d:53": {"capture": "b.pcapng", "frame": 3}})
    assert store.locations() == {"tcp a:1 > b:80": loc, "udp c:2 > d:53": {"capture": "b.pcapng", "frame": 3,
                                                                         "byte_offset": None, "byte_length": None}}
    store.db.execute("DROP TABLE locations")
    assert store.locations() == {}
    store.close()

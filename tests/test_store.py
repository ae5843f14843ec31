"""The Store contract, on both engines: a SQLite file and a database on a real PostgreSQL server."""

import dataclasses
import subprocess
import sys
import threading
import time

import pytest

from sandbox.model import FileMatch, Finding, FlowInfo
from sandbox.store import Store, StoreBusy, StoreError
from sandbox.stores import open_source
from tests.pgserver import free_port, wait_released


@pytest.fixture
def target(store_target):
    return store_target


def make_finding(i: int, severity: str = "high") -> Finding:
    return Finding(id=f"f{i}", severity=severity, kind="run-bytes", channel="net", flow=f"tcp a:{i} > b:80",
                   destination="upload.example", t_first=1.0 * i, t_last=2.0 * i, bytes_out=1000,
                   bytes_matched=512, run_id="RUN1", samples=["S1"],
                   files=[FileMatch("S1_R1.fastq.gz", 512, 0.25)], chain=["tcp", "http/1.1 POST /x", "gzip"])


def test_round_trip_and_upsert(target):
    store = Store(target, fresh=True)
    store.put_findings([make_finding(1), make_finding(2, "medium")])
    store.put_findings([make_finding(1, "critical")])  # a merge updates the same id
    rows = store.findings()
    assert [r["id"] for r in rows] == ["f1", "f2"]
    assert rows[0]["severity"] == "critical"
    assert rows[0]["files"] == [{"path": "S1_R1.fastq.gz", "bytes_matched": 512, "fraction": 0.25}]
    assert rows[0]["chain"] == ["tcp", "http/1.1 POST /x", "gzip"]
    store.set_session(mode="replay", started=1.5)
    store.set_session(finished=3.0)
    assert store.session() == {"mode": "replay", "started": 1.5, "finished": 3.0}
    store.close()


def test_a_withdrawn_finding_leaves_the_store(target):
    store = Store(target, fresh=True)
    store.put_findings([make_finding(1), make_finding(2)])
    store.drop_findings(["f1", "not-there"])
    assert [r["id"] for r in store.findings()] == ["f2"]
    store.close()


def test_traffic_buckets_accumulate(target):
    store = Store(target, fresh=True)
    store.add_traffic([(1.0, "net", "a.example", 100), (1.0, "net", "a.example", 50), (2.0, "usb", "1.3", 7)])
    rows = store.backend.run("SELECT t_bucket, channel, destination, bytes_out FROM traffic ORDER BY t_bucket")
    assert [tuple(r) for r in rows] == [(1.0, "net", "a.example", 150), (2.0, "usb", "1.3", 7)]
    store.close()


def test_capture_times_keep_their_precision(target):
    store = Store(target, fresh=True)
    t = 1_705_312_800.123456
    store.put_flows([FlowInfo("tcp a:1 > b:2", "net", "tcp", "a", 1, "b", 2, t_first=t, t_last=t + 1e-6)])
    (t_first, t_last), = store.backend.run("SELECT t_first, t_last FROM flows")
    assert (t_first, t_last) == (t, t + 1e-6)
    store.close()


def test_every_write_bumps_the_change_counter_readers_poll(target):
    store = Store(target, fresh=True, rig="bench-2", instrument="M07011")

    def changes() -> int:
        return store.backend.run("SELECT changes FROM sessions WHERE session_id = ?", (store.session_id,))[0][0]

    before = changes()
    store.put_findings([make_finding(1)])
    store.add_traffic([(1.0, "net", "a", 1)])
    assert changes() == before + 2
    assert store.tags() == {"rig": "bench-2", "instrument": "M07011"}
    store.close()


def test_a_failed_write_is_one_store_error_and_leaves_nothing_half_done(target):
    store = Store(target, fresh=True)
    with pytest.raises(StoreError, match="cannot write store"):
        store.put_findings([make_finding(1), dataclasses.replace(make_finding(2), id=None)])
    assert store.findings() == []
    store.put_findings([make_finding(3)])      # the store still works after the failed transaction
    assert [r["id"] for r in store.findings()] == ["f3"]
    store.close()


def test_sqlite_holds_one_session_per_file_and_refuses_a_second_writer(tmp_path):
    path = tmp_path / "s.sqlite"
    first = Store(path, fresh=True, rig="a")
    first.put_findings([make_finding(1)])
    with pytest.raises(StoreBusy, match="in use by another session"):
        Store(path, fresh=True)
    first.close()
    second = Store(path, fresh=True, rig="b")     # a new session replaces the file's old one
    assert second.findings() == [] and second.tags()["rig"] == "b"
    second.close()
    reopened = Store(path)                          # not fresh: the file's own session again
    assert reopened.session_id == second.session_id
    reopened.close()


def test_postgres_holds_many_sessions_one_writer_each(postgres_url):
    a = Store(postgres_url, fresh=True, rig="bench-1", instrument="M07011")
    b = Store(postgres_url, fresh=True, rig="bench-2", instrument="FS10000")
    assert a.session_id != b.session_id
    a.put_findings([make_finding(1)])
    b.put_findings([make_finding(1, "low"), make_finding(2)])   # same finding id, another session
    assert [(r["id"], r["severity"]) for r in a.findings()] == [("f1", "high")]
    assert [(r["id"], r["severity"]) for r in b.findings()] == [("f2", "high"), ("f1", "low")]
    with pytest.raises(StoreBusy, match="in use by another writer"):
        b.backend.claim(a.session_id)            # a second writer for a's session is refused
    source = open_source(postgres_url)
    assert source.alive([a.session_id, b.session_id]) == {a.session_id, b.session_id}
    a.close()
    wait_released(source, a.session_id)
    assert source.alive([a.session_id, b.session_id]) == {b.session_id}
    b.close()
    source.close()


WRITER = """
import sys, time
from sandbox.store import Store
store = Store(sys.argv[1], fresh=True, rig="killed")
store.set_session(mode="watch", started=time.time(), finished=None)
print(store.session_id, flush=True)
time.sleep(600)
"""


def test_a_killed_writer_leaves_its_session_interrupted_not_live(target):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, target], stdout=subprocess.PIPE, text=True)
    try:
        session_id = proc.stdout.readline().strip()
        source = open_source(target)
        assert source.alive([session_id]) == {session_id}
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 10      # the server notices the closed connection at once
        while source.alive([session_id]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert source.alive([session_id]) == set()
        source.close()
    finally:
        proc.kill()


def test_sqlite_reader_sees_writer_without_blocking(tmp_path):
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


def test_unreachable_server_is_one_line_store_error():
    with pytest.raises(StoreError) as err:
        Store(f"postgresql://nobody:secret@127.0.0.1:{free_port()}/none", fresh=True)
    message = str(err.value)
    assert message.startswith("cannot open store postgresql://nobody@127.0.0.1:")
    assert "secret" not in message and "\n" not in message


def test_a_reader_opens_the_session_it_names_or_the_newest(postgres_url):
    old = Store(postgres_url, fresh=True, rig="bench-1")
    old.put_findings([make_finding(1)])
    new = Store(postgres_url, fresh=True, rig="bench-2")
    new.put_findings([make_finding(2), make_finding(3)])
    assert [f["id"] for f in Store(postgres_url, readonly=True).findings()] == ["f2", "f3"]
    named = Store(postgres_url, readonly=True, session_id=old.session_id)
    assert [f["id"] for f in named.findings()] == ["f1"] and named.tags()["rig"] == "bench-1"
    for store in (old, new, named):
        store.close()


def test_locations_rows_and_replaced_flows_are_per_session(target):
    store = Store(target, fresh=True)
    loc = {"capture": "a.pcapng", "frame": 7, "byte_offset": 1024, "byte_length": 90}
    store.put_locations({"tcp a:1 > b:80": loc, "udp c:2 > d:53": {"capture": "b.pcapng", "frame": 3}})
    assert store.locations() == {"tcp a:1 > b:80": loc, "udp c:2 > d:53": {"capture": "b.pcapng", "frame": 3,
                                                                         "byte_offset": None, "byte_length": None}}
    flows = [FlowInfo(f"tcp a:{i} > b:2", "net", "tcp", "a", i, "b", 2) for i in range(3)]
    store.put_flows(flows)
    store.put_flows(flows[:1], replace=True)          # the end: the session's flows are these
    assert [r["flow"] for r in store.rows("flows")] == ["tcp a:0 > b:2"]
    store.put_capture("a.pcapng", "net", 10, 1000, 1, ["cut short"])
    assert store.rows("captures") == [{"path": "a.pcapng", "channel": "net", "packets": 10, "bytes": 1000,
                                       "drops": 1, "errors": '["cut short"]'}]
    assert store.alive()
    store.close()

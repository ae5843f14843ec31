"""Migrations on both engines: an older store is brought up to date on open, a newer one refused,
a store from before migrations keeps its session, rigs opening an empty database together agree."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from sandbox.store import Store, StoreError
from sandbox.stores import open_source
from sandbox.stores.schema import LATEST, MIGRATIONS, TABLES

ALL = [m.version for m in MIGRATIONS]


def _versions(store: Store) -> list[int]:
    return [r[0] for r in store.backend.run("SELECT version FROM schema_version ORDER BY version")]


def _indexes(store: Store) -> set[str]:
    if store.backend.dialect.name == "sqlite":
        rows = store.backend.run("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'")
    else:
        rows = store.backend.run("SELECT indexname FROM pg_indexes WHERE schemaname = 'sandbox' "
                                 "AND indexname NOT LIKE '%pkey'")
    return {r[0] for r in rows}


def test_a_new_store_has_every_table_and_migration(target):
    store = Store(target, fresh=True)
    assert _versions(store) == [m.version for m in MIGRATIONS] and LATEST == MIGRATIONS[-1].version
    for table in TABLES:
        assert store.backend.run(f"SELECT count(*) FROM {table.name}")[0][0] >= 0
    assert {"sessions_rig", "findings_rank", "findings_updated", "flows_dest"} <= _indexes(store)
    store.close()


def test_a_store_at_version_1_is_migrated_on_open_keeping_its_rows(target):
    store = Store(target, fresh=True, rig="bench-1")
    store.set_session(mode="replay")
    session_id = store.session_id
    with store.backend.transaction():                  # make it what version 1 left
        for name in ("sessions_rig", "flows_dest", "findings_rank", "findings_updated"):
            store.backend.run(f"DROP INDEX {name}")
        store.backend.run("DELETE FROM schema_version WHERE version = 2")
    store.close()
    again = Store(target)                               # a writer opening it migrates
    assert _versions(again) == ALL
    assert {"sessions_rig", "findings_rank"} <= _indexes(again)
    rows = again.backend.run("SELECT rig FROM sessions WHERE session_id = ?", (session_id,))
    assert rows == [("bench-1",)]
    again.close()


def test_a_store_from_a_newer_sandbox_is_refused(target):
    store = Store(target, fresh=True)
    with store.backend.transaction():
        store.backend.run("INSERT INTO schema_version (version, applied, description) VALUES (99, 0, 'future')")
    store.close()
    with pytest.raises(StoreError, match="newer than this sandbox"):
        Store(target)
    with pytest.raises(StoreError, match="newer than this sandbox"):
        open_source(target)


LEGACY = """
CREATE TABLE session (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE runs (run_id TEXT, path TEXT PRIMARY KEY, platform TEXT, samples TEXT, files INTEGER, bytes INTEGER);
CREATE TABLE captures (path TEXT PRIMARY KEY, channel TEXT, packets INTEGER, bytes INTEGER, drops INTEGER, errors TEXT);
CREATE TABLE findings (
    id TEXT PRIMARY KEY, severity TEXT, severity_rank INTEGER, kind TEXT, channel TEXT, flow TEXT,
    destination TEXT, t_first REAL, t_last REAL, bytes_out INTEGER, bytes_matched INTEGER, run_id TEXT,
    samples TEXT, files TEXT, chain TEXT, identifiers TEXT, evidence TEXT, detail TEXT, updated REAL);
CREATE TABLE traffic (t_bucket REAL, channel TEXT, destination TEXT, bytes_out INTEGER,
    PRIMARY KEY (t_bucket, channel, destination));
"""


def test_a_store_from_before_migrations_keeps_its_session_when_the_dashboard_opens_it(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(LEGACY)
    db.execute("INSERT INTO session VALUES ('started', '1700000000.5'), ('mode', '\"replay\"')")
    db.execute("INSERT INTO findings VALUES ('f1','high',3,'run-bytes','net','tcp a > b','x.example',1,2,10,5,"
               "'RUN','[]','[]','[]','[]','[]','{}',3)")
    db.execute("INSERT INTO traffic VALUES (1.0, 'net', 'x.example', 10)")
    db.commit()
    db.close()
    open_source(path)                      # the dashboard: nobody holds the file, so it migrates
    store = Store(path, readonly=True)
    assert [f["id"] for f in store.findings()] == ["f1"]
    assert store.session() == {"started": 1700000000.5, "mode": "replay"}
    (created,), = store.backend.run("SELECT created FROM sessions")
    assert created == 1700000000.5
    assert store.backend.run("SELECT bytes_out FROM traffic") == [(10,)]
    tables = {r[0] for r in store.backend.run("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not any(t.startswith("legacy_") for t in tables)


RIG = """
import sys
from sandbox.store import Store
store = Store(sys.argv[1], fresh=True, rig=sys.argv[2])
store.set_session(mode="replay")
print(store.session_id)
store.close()
"""


def test_rigs_opening_an_empty_database_together_migrate_it_once(postgres_url):
    procs = [subprocess.Popen([sys.executable, "-c", RIG, postgres_url, f"bench-{i}"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outs]
    store = Store(postgres_url, fresh=True)
    assert _versions(store) == ALL
    rigs = sorted(r[0] for r in store.backend.run("SELECT rig FROM sessions WHERE rig <> ''"))
    assert rigs == ["bench-0", "bench-1", "bench-2", "bench-3"]
    values = store.backend.run("SELECT value FROM session WHERE key = 'mode'")
    assert [json.loads(v) for v, in values] == ["replay"] * 4
    store.close()

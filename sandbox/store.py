"""SQLite store shared by the correlator (writer) and the dashboard (readers).

WAL mode so readers never block the writer.  The store keeps hashes, offsets and
short redacted previews, never run data.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sandbox.model import Finding, FlowInfo, severity_rank

SCHEMA = """
CREATE TABLE IF NOT EXISTS session (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT, path TEXT PRIMARY KEY, platform TEXT, samples TEXT, files INTEGER, bytes INTEGER);
CREATE TABLE IF NOT EXISTS captures (
    path TEXT PRIMARY KEY, channel TEXT, packets INTEGER, bytes INTEGER, drops INTEGER, errors TEXT);
CREATE TABLE IF NOT EXISTS flows (
    flow TEXT PRIMARY KEY, channel TEXT, transport TEXT, src TEXT, sport INTEGER, dst TEXT, dport INTEGER,
    app TEXT, destination TEXT, t_first REAL, t_last REAL, packets INTEGER, bytes_out INTEGER,
    bytes_in INTEGER, encrypted INTEGER, decrypted INTEGER, allowed INTEGER, meta TEXT, errors TEXT);
CREATE INDEX IF NOT EXISTS flows_dest ON flows(destination);
CREATE TABLE IF NOT EXISTS findings (
    id TEXT PRIMARY KEY, severity TEXT, severity_rank INTEGER, kind TEXT, channel TEXT, flow TEXT,
    destination TEXT, t_first REAL, t_last REAL, bytes_out INTEGER, bytes_matched INTEGER, run_id TEXT,
    samples TEXT, files TEXT, chain TEXT, identifiers TEXT, evidence TEXT, detail TEXT, updated REAL);
CREATE INDEX IF NOT EXISTS findings_updated ON findings(updated);
CREATE INDEX IF NOT EXISTS findings_rank ON findings(severity_rank);
CREATE TABLE IF NOT EXISTS traffic (
    t_bucket REAL, channel TEXT, destination TEXT, bytes_out INTEGER,
    PRIMARY KEY (t_bucket, channel, destination));
"""

JSON_FINDING_FIELDS = ("samples", "files", "chain", "identifiers", "evidence", "detail")


class Store:
    """One SQLite file; one writer (replay or a live tap), any number of readers."""

    def __init__(self, path: str | Path, readonly: bool = False):
        self.path = str(path)
        if readonly:
            uri = f"file:{Path(self.path).resolve()}?mode=ro"
            self.db = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=10)
        else:
            self.db = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        self.db.row_factory = sqlite3.Row

    def close(self) -> None:
        self.db.close()

    # -- writer side ---------------------------------------------------------
    def set_session(self, **values: Any) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO session(key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in values.items()],
            )

    def add_run(self, run_id: str, path: str, platform: str, samples: list[str], files: int, nbytes: int) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, path, platform, json.dumps(samples), files, nbytes),
            )

    def put_capture(self, path: str, channel: str, packets: int, nbytes: int, drops: int = 0,
                    errors: list[str] | None = None) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO captures VALUES (?, ?, ?, ?, ?, ?)",
                (path, channel, packets, nbytes, drops, json.dumps(errors or [])),
            )

    def put_flows(self, flows: Iterable[FlowInfo], allowed: dict[str, bool] | None = None) -> None:
        allowed = allowed or {}
        rows = [
            (f.flow, f.channel, f.transport, f.src, f.sport, f.dst, f.dport, f.app, f.destination,
             f.t_first, f.t_last, f.packets, f.bytes_out, f.bytes_in, int(f.encrypted), int(f.decrypted),
             int(allowed.get(f.flow, False)), json.dumps(f.meta, default=str), json.dumps(f.errors))
            for f in flows
        ]
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO flows VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
            )

    def put_findings(self, findings: Iterable[Finding]) -> None:
        now = time.time()
        rows = []
        for f in findings:
            d = asdict(f)
            rows.append(
                (f.id, f.severity, severity_rank(f.severity), f.kind, f.channel, f.flow, f.destination,
                 f.t_first, f.t_last, f.bytes_out, f.bytes_matched, f.run_id,
                 *(json.dumps(d[k], default=str) for k in JSON_FINDING_FIELDS), now)
            )
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO findings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
            )

    def add_traffic(self, buckets: Iterable[tuple[float, str, str, int]]) -> None:
        """Add outbound byte counts per (1 s bucket, channel, destination) for the timeline."""
        with self.db:
            self.db.executemany(
                "INSERT INTO traffic VALUES (?, ?, ?, ?) ON CONFLICT(t_bucket, channel, destination) "
                "DO UPDATE SET bytes_out = bytes_out + excluded.bytes_out",
                list(buckets),
            )

    # -- reader side ---------------------------------------------------------
    def session(self) -> dict[str, Any]:
        return {r["key"]: json.loads(r["value"]) for r in self.db.execute("SELECT key, value FROM session")}

    def findings(self, where: str = "", params: tuple = (), order: str = "severity_rank DESC, t_first",
                 limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        sql = "SELECT * FROM findings" + (f" WHERE {where}" if where else "") + f" ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        out = []
        for row in self.db.execute(sql, params):
            d = dict(row)
            for k in JSON_FINDING_FIELDS:
                d[k] = json.loads(d[k])
            out.append(d)
        return out

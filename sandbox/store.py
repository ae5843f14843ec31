"""SQLite store shared by the correlator (writer) and the dashboard (readers).

WAL mode so readers never block the writer.  The store keeps hashes, offsets and
short redacted previews, never run data.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
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
    samples TEXT, files TEXT, chain TEXT, identifiers TEXT, evidence TEXT, detail TEXT, updated REAL,
    evidence_kinds TEXT);
CREATE INDEX IF NOT EXISTS findings_updated ON findings(updated);
CREATE INDEX IF NOT EXISTS findings_rank ON findings(severity_rank);
CREATE TABLE IF NOT EXISTS traffic (
    t_bucket REAL, channel TEXT, destination TEXT, bytes_out INTEGER,
    PRIMARY KEY (t_bucket, channel, destination));
CREATE TABLE IF NOT EXISTS locations (
    flow TEXT PRIMARY KEY, capture TEXT, frame INTEGER, byte_offset INTEGER, byte_length INTEGER);
"""

JSON_FINDING_FIELDS = ("samples", "files", "chain", "identifiers", "evidence", "detail", "evidence_kinds")


class StoreBusy(Exception):
    """Another session holds the store: its findings must not vanish under it."""


class StoreError(Exception):
    """The store cannot be written (disk full, I/O error): the session stops writing it, says so once."""


def _writes(method: Callable[..., None]) -> Callable[..., None]:
    """A writer method whose SQLite or OS failure becomes one ``StoreError`` naming the store."""

    @functools.wraps(method)
    def write(self: Store, *args: Any, **kwargs: Any) -> None:
        try:
            method(self, *args, **kwargs)
        except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as exc:
            raise StoreError(f"cannot write store {self.path}: {exc}") from None

    return write


def lock_path(path: str | Path) -> Path:
    return Path(f"{path}.lock")


def session_alive(path: str | Path) -> bool:
    """True while some session holds the store's writer lock (a live or running session)."""
    try:
        fd = os.open(lock_path(path), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)     # closing drops the probe's shared lock too
    return False


class Store:
    """One SQLite file; one writer (replay or a live session), any number of readers.

    The writer holds an exclusive lock on ``PATH.lock`` for its whole life (the OS drops it if the
    process dies, so a killed session reads as interrupted, not live).  Everything is private
    (0600): the store names samples and destinations.
    """

    def __init__(self, path: str | Path, readonly: bool = False, fresh: bool = False):
        self.path = str(path)
        self._lock_fd: int | None = None
        if readonly:
            uri = f"file:{Path(self.path).resolve()}?mode=ro"
            self.db = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=10)
        else:
            self._lock()
            try:
                if fresh:   # a store holds one session: a new one starts from nothing
                    for stale in (self.path, f"{self.path}-wal", f"{self.path}-shm"):
                        Path(stale).unlink(missing_ok=True)
                # created private before SQLite opens it; SQLite gives -wal/-shm the same mode
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
                os.chmod(self.path, 0o600)
                self.db = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(SCHEMA)
            except (sqlite3.Error, OSError) as exc:
                self._unlock()
                raise StoreError(f"cannot write store {self.path}: {exc}") from None
            except BaseException:
                self._unlock()
                raise
        self.db.row_factory = sqlite3.Row

    def _lock(self) -> None:
        fd = os.open(lock_path(self.path), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StoreBusy(f"store {self.path} is in use by another session (pid {owner}); "
                            "use another --db or wait for it to end") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd
        # a forked worker must not inherit the lock: if this process is killed, the store reads as
        # interrupted at once, whatever its workers do
        os.register_at_fork(after_in_child=self._drop_inherited_lock)

    def _drop_inherited_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)    # the child's copy only; flock is released by the last one
            self._lock_fd = None

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def close(self) -> None:
        self.db.close()
        self._unlock()

    # -- writer side ---------------------------------------------------------
    @_writes
    def set_session(self, **values: Any) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO session(key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in values.items()],
            )

    @_writes
    def add_run(self, run_id: str, path: str, platform: str, samples: list[str], files: int, nbytes: int) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, path, platform, json.dumps(samples), files, nbytes),
            )

    @_writes
    def put_capture(self, path: str, channel: str, packets: int, nbytes: int, drops: int = 0,
                    errors: list[str] | None = None) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO captures VALUES (?, ?, ?, ?, ?, ?)",
                (path, channel, packets, nbytes, drops, json.dumps(errors or [])),
            )

    @_writes
    def put_flows(self, flows: Iterable[FlowInfo], allowed: dict[str, bool] | None = None,
                  replace: bool = False) -> None:
        """Write flow rows; ``replace``: these are all the session's flows (its end), so rows of flows
        folded into summaries since they were written live go."""
        allowed = allowed or {}
        rows = [
            (f.flow, f.channel, f.transport, f.src, f.sport, f.dst, f.dport, f.app, f.destination,
             f.t_first, f.t_last, f.packets, f.bytes_out, f.bytes_in, int(f.encrypted), int(f.decrypted),
             int(allowed.get(f.flow, False)), json.dumps(f.meta, default=str), json.dumps(f.errors))
            for f in flows
        ]
        with self.db:
            if replace:
                self.db.execute("DELETE FROM flows")
            self.db.executemany(
                "INSERT OR REPLACE INTO flows VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
            )

    @_writes
    def put_findings(self, findings: Iterable[Finding]) -> None:
        now = time.time()
        rows = []
        for f in findings:
            d = asdict(f)
            rows.append(
                (f.id, f.severity, severity_rank(f.severity), f.kind, f.channel, f.flow, f.destination,
                 f.t_first, f.t_last, f.bytes_out, f.bytes_matched, f.run_id,
                 *(json.dumps(d[k], default=str) for k in JSON_FINDING_FIELDS[:-1]), now,
                 json.dumps(d["evidence_kinds"]))
            )
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO findings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
            )

    @_writes
    def add_traffic(self, buckets: Iterable[tuple[float, str, str, int]]) -> None:
        """Add outbound byte counts per (1 s bucket, channel, destination) for the timeline."""
        with self.db:
            self.db.executemany(
                "INSERT INTO traffic VALUES (?, ?, ?, ?) ON CONFLICT(t_bucket, channel, destination) "
                "DO UPDATE SET bytes_out = bytes_out + excluded.bytes_out",
                list(buckets),
            )

    @_writes
    def put_locations(self, locations: dict[str, dict[str, Any]]) -> None:
        """Where each flow's first outbound frame is in the recordings (capture, frame, byte offset)."""
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO locations VALUES (?, ?, ?, ?, ?)",
                [(flow, loc["capture"], loc["frame"], loc.get("byte_offset"), loc.get("byte_length"))
                 for flow, loc in locations.items()])

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
                if d.get(k) is not None:     # a store written before a field was kept has none
                    d[k] = json.loads(d[k])
            out.append(d)
        return out

    def locations(self) -> dict[str, dict[str, Any]]:
        try:
            rows = self.db.execute("SELECT * FROM locations").fetchall()
        except sqlite3.OperationalError:     # a store written before locations were kept
            return {}
        return {r["flow"]: {"capture": r["capture"], "frame": r["frame"], "byte_offset": r["byte_offset"],
                            "byte_length": r["byte_length"]} for r in rows}

"""The store shared by a session (one writer) and the dashboard and reports (readers).

One interface over two engines (``sandbox.stores``): a SQLite file in WAL mode (the embedded
default, one session per file) or a PostgreSQL database (``postgresql://...``: every rig of a lab
writes its sessions there, tagged with rig and instrument names).  Every row carries its session
id; each write transaction bumps the session's change counter, which readers poll for live updates.
The store keeps hashes, offsets and short redacted previews, never run data.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sandbox.model import Finding, FlowInfo, severity_rank
from sandbox.stores import open_backend
from sandbox.stores.errors import StoreBusy, StoreError
from sandbox.stores.schema import CAPTURES, FINDINGS, FLOWS, LOCATIONS, RUNS, SESSION, TABLES, TRAFFIC
from sandbox.stores.sqlite import lock_path, session_alive

__all__ = ["JSON_FINDING_FIELDS", "Store", "StoreBusy", "StoreError", "lock_path", "session_alive"]

JSON_FINDING_FIELDS = ("samples", "files", "chain", "identifiers", "evidence", "detail", "evidence_kinds")


def _writes(method: Callable[..., None]) -> Callable[..., None]:
    """A writer method: one transaction that also bumps the session's change counter; a database
    or OS failure becomes one ``StoreError`` naming the store."""

    @functools.wraps(method)
    def write(self: Store, *args: Any, **kwargs: Any) -> None:
        try:
            with self.backend.transaction():
                method(self, *args, **kwargs)
                self.backend.run("UPDATE sessions SET changes = changes + 1 WHERE session_id = ?",
                                 (self.session_id,))
        except self.backend.errors as exc:
            raise StoreError(f"cannot write store {self.path}: {exc}") from None

    return write


class Store:
    """A session's writer (or, ``readonly``, a reader of a SQLite file's session).

    ``target`` is a SQLite path or a ``postgresql://`` URL.  ``fresh`` starts a new session: a
    SQLite file is replaced (refused with ``StoreBusy`` while another session holds it), a
    PostgreSQL database gets one more session beside the others.  Without ``fresh`` a SQLite
    file's own session is reused.  ``rig`` and ``instrument`` tag the session for the fleet view.
    ``readonly`` opens ``session_id`` (else the newest session) for reading, e.g. to report on it.
    """

    def __init__(self, target: str | Path, readonly: bool = False, fresh: bool = False, *,
                 rig: str = "", instrument: str = "", session_id: str | None = None):
        self.backend = open_backend(target, readonly=readonly, fresh=fresh)
        self.path = self.backend.path       # what messages name: a path, or a URL without password
        self.target = self.backend.target   # what another process opens: the path or the URL
        self.db = self.backend.conn
        try:
            if readonly:    # a reader (a report from a store): the session named, else the newest
                self.session_id = session_id or self._existing()
                return
            self.session_id = None if fresh or self.backend.dialect.name == "postgres" else self._existing()
            if self.session_id is None:
                self.session_id = self._create(rig, instrument)
            self.backend.claim(self.session_id)
        except self.backend.errors as exc:
            self.backend.close()
            raise StoreError(f"cannot {'read' if readonly else 'write'} store {self.path}: {exc}") from None
        except BaseException:
            self.backend.close()
            raise

    def _existing(self) -> str | None:
        rows = self.backend.run("SELECT session_id FROM sessions ORDER BY created DESC LIMIT 1")
        return rows[0][0] if rows else None

    def _create(self, rig: str, instrument: str) -> str:
        session_id = uuid.uuid4().hex
        with self.backend.transaction():
            self.backend.run("INSERT INTO sessions (session_id, rig, instrument, created, changes) "
                             "VALUES (?, ?, ?, ?, 0)", (session_id, rig, instrument, time.time()))
        return session_id

    def close(self) -> None:
        self.backend.close()

    # -- writer side ---------------------------------------------------------
    def _upsert(self, table, rows: list, add: tuple[str, ...] = ()) -> None:
        if rows:
            self.backend.run_many(table.upsert(add), [(self.session_id, *row) for row in rows])

    @_writes
    def set_session(self, **values: Any) -> None:
        self._upsert(SESSION, [(k, json.dumps(v)) for k, v in values.items()])

    @_writes
    def tag(self, rig: str | None = None, instrument: str | None = None) -> None:
        """Name the rig and instrument of this session (the fleet view filters by them)."""
        for column, value in (("rig", rig), ("instrument", instrument)):
            if value is not None:
                self.backend.run(f"UPDATE sessions SET {column} = ? WHERE session_id = ?", (value, self.session_id))

    @_writes
    def add_run(self, run_id: str, path: str, platform: str, samples: list[str], files: int, nbytes: int) -> None:
        self._upsert(RUNS, [(run_id, path, platform, json.dumps(samples), files, nbytes)])

    @_writes
    def put_capture(self, path: str, channel: str, packets: int, nbytes: int, drops: int = 0,
                    errors: list[str] | None = None) -> None:
        self._upsert(CAPTURES, [(path, channel, packets, nbytes, drops, json.dumps(errors or []))])

    @_writes
    def put_flows(self, flows: Iterable[FlowInfo], allowed: dict[str, bool] | None = None,
                  replace: bool = False) -> None:
        """Write flow rows; ``replace``: these are all the session's flows (its end), so rows of flows
        folded into summaries since they were written live go."""
        allowed = allowed or {}
        if replace:
            self.backend.run("DELETE FROM flows WHERE session_id = ?", (self.session_id,))
        self._upsert(FLOWS, [
            (f.flow, f.channel, f.transport, f.src, f.sport, f.dst, f.dport, f.app, f.destination,
             f.t_first, f.t_last, f.packets, f.bytes_out, f.bytes_in, int(f.encrypted), int(f.decrypted),
             int(allowed.get(f.flow, False)), json.dumps(f.meta, default=str), json.dumps(f.errors))
            for f in flows
        ])

    @_writes
    def put_findings(self, findings: Iterable[Finding]) -> None:
        now = time.time()
        columns = [c for c in FINDINGS.names if c != "session_id"]
        rows = []
        for f in findings:
            d = asdict(f)
            d.update({k: json.dumps(d[k], default=str) for k in JSON_FINDING_FIELDS},
                     severity_rank=severity_rank(f.severity), updated=now)
            rows.append(tuple(d[c] for c in columns))
        self._upsert(FINDINGS, rows)

    @_writes
    def drop_findings(self, ids: Iterable[str]) -> None:
        """Remove findings the session withdrew (a spread of opaque volume now told by its destinations)."""
        for finding_id in ids:
            self.backend.run("DELETE FROM findings WHERE session_id = ? AND id = ?", (self.session_id, finding_id))

    @_writes
    def add_traffic(self, buckets: Iterable[tuple[float, str, str, int]]) -> None:
        """Add outbound byte counts per (1 s bucket, channel, destination) for the timeline."""
        self._upsert(TRAFFIC, list(buckets), add=("bytes_out",))

    @_writes
    def put_locations(self, locations: dict[str, dict[str, Any]]) -> None:
        """Where each flow's first outbound frame is in the recordings (capture, frame, byte offset)."""
        self._upsert(LOCATIONS, [(flow, loc["capture"], loc["frame"], loc.get("byte_offset"), loc.get("byte_length"))
                                 for flow, loc in locations.items()])

    # -- reader side ---------------------------------------------------------
    def alive(self) -> bool:
        """Whether a writer holds this session now (running, not interrupted)."""
        return self.backend.alive(self.session_id)

    def rows(self, table: str, order: str = "") -> list[dict[str, Any]]:
        """This session's rows of a store table (``runs``, ``captures``, ``flows``...) as dicts,
        on either engine; ``order`` is an ORDER BY of our own, never input."""
        known = {t.name: t for t in (*TABLES, LOCATIONS)}
        names = [c for c in known[table].names if c != "session_id"]
        sql = f"SELECT {', '.join(names)} FROM {table} WHERE session_id = ?" + (f" ORDER BY {order}" if order else "")
        return [dict(zip(names, row, strict=True)) for row in self.backend.run(sql, (self.session_id,))]

    def locations(self) -> dict[str, dict[str, Any]]:
        return {r.pop("flow"): r for r in self.rows("locations")}

    def session(self) -> dict[str, Any]:
        rows = self.backend.run("SELECT key, value FROM session WHERE session_id = ?", (self.session_id,))
        return {k: json.loads(v) for k, v in rows}

    def tags(self) -> dict[str, str]:
        rows = self.backend.run("SELECT rig, instrument FROM sessions WHERE session_id = ?", (self.session_id,))
        return {"rig": rows[0][0], "instrument": rows[0][1]} if rows else {}

    def findings(self, where: str = "", params: tuple = (), order: str = "severity_rank DESC, t_first",
                 limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        names = [c for c in FINDINGS.names if c != "session_id"]
        sql = (f"SELECT {', '.join(names)} FROM findings WHERE session_id = ?" + (f" AND ({where})" if where else "")
               + f" ORDER BY {order}")
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        out = []
        for row in self.backend.run(sql, (self.session_id, *params)):
            d = dict(zip(names, row, strict=True))
            for k in JSON_FINDING_FIELDS:
                d[k] = json.loads(d[k]) if d[k] is not None else []   # a field a store before it lacks
            out.append(d)
        return out

"""Read-only SQL over the store: every page, sort, filter and sum is done by the database.

The dashboard never loads a whole table: the findings table asks for one page, the panels ask for
aggregates with a LIMIT.  The same queries run on a SQLite file (read-only connections; WAL lets
them read while the session writes) and on a PostgreSQL store (read-only transactions); what
differs between the two is written with ``sandbox.stores.dialect``.

A ``Scope`` (rigs, instruments, sessions) narrows every query: empty is the whole store, which
for a SQLite file is its one session (today's single-session view); the fleet view is the same
panels over many sessions.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.correlate.opaque import UNREADABLE
from sandbox.model import SEVERITIES, severity_rank
from sandbox.report.contract import DEFAULT_PROFILE, standing
from sandbox.report.contract import verdict as judge
from sandbox.report.profile import Profile, ProfileError
from sandbox.safetext import MAX_SHOWN, safe_text, safe_tree
from sandbox.stores import open_source

PAGE_SIZE = 20  # findings rows per page: one screen, one indexed query of a few ms at 10k findings
TOP_DESTINATIONS = 50  # network panel rows: an operator scans a short list; the rest are counted
TOP_DEVICES = 50  # USB devices / serial ports listed: a bench has a handful
USB_FLOWS = 20_000  # USB flows read for the device panel: a device's own flows and a modem's inner ones
TIMELINE_SERIES = 8  # lines on the timeline: more are unreadable; smaller destinations fold into "other"
TIMELINE_POINTS = 600  # points per line, about one per pixel column; buckets widen to fit
TIMELINE_MARKERS = 500  # finding markers, most severe first; beyond that the chart is noise
COVERAGE_ROWS = 200  # samples / files listed in run coverage, most bytes first
FLEET_ROWS = 200  # sessions listed in the fleet view, newest first: a lab's weeks of acceptance runs
MEMO_ENTRIES = 256  # cached panel results (per panel and scope): a few dozen scopes in use at once
SLOW_SHARE = 10  # heavy panels refresh at most every SLOW_SHARE x their own cost: <= ~10% of a core
SLOW_MIN_S, SLOW_MAX_S = 1.0, 15.0  # ... but at least each second, and never staler than 15 s
LEAK_RANK = severity_rank("high")  # DESIGN.md: any high or critical finding means "suspected leak"
# Columns holding JSON text: made safe once parsed (``_loads``), never as text (a cut would break them).
JSON_COLUMNS = frozenset(("samples", "files", "chain", "identifiers", "evidence", "detail", "meta", "errors",
                          "value", "evidence_kinds"))
# Session keys the fleet view reads (the rest stay in the session's own view).
SESSION_KEYS = ("mode", "started", "finished", "heartbeat", "lag_bytes", "not_examined", "live")

# Table column id -> SQL expression; the only strings that ever reach ORDER BY ("files" is the
# dialect's JSON array length, filled in per store).
SORTABLE = {
    "severity": "severity_rank",
    "kind": "kind",
    "channel": "channel",
    "destination": "destination",
    "samples": "samples",
    "files": "{files_len}",
    "bytes_matched": "bytes_matched",
    "t_first": "t_first",
    "t_last": "t_last",
    "rig": "rig",
}
DEFAULT_ORDER = "severity_rank DESC, t_first DESC, id"


@dataclass(frozen=True)
class FindingFilter:
    """What the operator picked in the filter bar; empty means 'any'."""

    severities: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    destination: str = ""

    def where(self, like: str = "LIKE") -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, values in (("severity", self.severities), ("channel", self.channels), ("kind", self.kinds)):
            if values:
                clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        if self.destination.strip():
            pattern = self.destination.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append(f"destination {like} ? ESCAPE '\\'")
            params.append(f"%{pattern}%")
        return (" AND ".join(clauses), params)


@dataclass(frozen=True)
class Scope:
    """Which sessions the panels show: those of these rigs, instruments and session ids (each empty
    means 'any')."""

    rigs: tuple[str, ...] = ()
    instruments: tuple[str, ...] = ()
    sessions: tuple[str, ...] = ()

    def where(self, column: str = "session_id") -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for name, values in (("rig", self.rigs), ("instrument", self.instruments), ("session_id", self.sessions)):
            if values:
                clauses.append(f"{name} IN ({','.join('?' * len(values))})")
                params.extend(values)
        if not clauses:
            return "", []
        return f"{column} IN (SELECT session_id FROM sessions WHERE {' AND '.join(clauses)})", params

    @property
    def key(self) -> str:
        return json.dumps([self.rigs, self.instruments, self.sessions])


EVERYTHING = Scope()


def _and(*parts: tuple[str, list[Any]]) -> tuple[str, list[Any]]:
    """``WHERE`` of the non-empty clauses (or nothing), and their parameters in order."""
    clauses = [c for c, _ in parts if c]
    params = [p for c, ps in parts if c for p in ps]
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), params


def order_by(sort_by: list[dict[str, str]] | None, files_len: str = "json_array_length(files)") -> str:
    """DataTable ``sort_by`` -> a whitelisted ORDER BY (unknown columns are ignored)."""
    parts = []
    for item in sort_by or []:
        expr = SORTABLE.get(item.get("column_id", ""))
        if expr:
            parts.append(f"{expr.format(files_len=files_len)} {'DESC' if item.get('direction') == 'desc' else 'ASC'}")
    return ", ".join(parts + ["id"]) if parts else DEFAULT_ORDER


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return safe_tree(json.loads(text))
    except ValueError:
        return default


class Row:
    """A result row by column name or position (``dict(row)`` works), on either engine."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: dict[str, int], values: tuple):
        self._names = names
        self._values = values

    def __getitem__(self, key: int | str) -> Any:
        return self._values[key if isinstance(key, int) else self._names[key]]

    def keys(self) -> list[str]:
        return list(self._names)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


_NAMES: dict[tuple[str, ...], dict[str, int]] = {}


def _safe_row(names: list[str], values: tuple) -> Row:
    """Rows with every text made safe (no control characters, valid UTF-8): the store holds names
    the instrument chose, and the dashboard shows them."""
    key = tuple(names)
    index = _NAMES.get(key)
    if index is None:
        index = _NAMES[key] = {n: i for i, n in enumerate(names)}
    return Row(index, tuple(safe_text(v, MAX_SHOWN) if isinstance(v, str) and names[i] not in JSON_COLUMNS else v
                            for i, v in enumerate(values)))


def _state(values: dict[str, Any], alive: bool) -> str:
    """finished; live while its writer holds the session's lock; otherwise it was killed."""
    if values.get("finished"):
        return "finished"
    if alive:
        return "live"
    return "interrupted" if values.get("started") else "empty"


class Reader:
    """Read-only queries over one store (a SQLite path or a PostgreSQL URL); safe to share between
    server threads."""

    def __init__(self, target: str | Path):
        self.source = open_source(target)
        self.dialect = self.source.dialect
        self.label = self.source.label
        self.path = Path(self.label) if self.dialect.name == "sqlite" else None
        self._pool: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pulse_lock = threading.Lock()
        self._pulse_db = self._connect()
        self._memo: dict[str, tuple[str, Any]] = {}
        self._slow_cost = 0.0
        self._profiles: dict[str, Profile] = {}     # stored profile text -> parsed

    def cached(self, name: str, sig: str | None, compute: Any) -> Any:
        """``compute()`` once per store version, shared by every open browser tab."""
        hit = self._memo.get(name)
        if sig is not None and hit is not None and hit[0] == sig:
            return hit[1]
        started = time.perf_counter()
        value = compute()
        self._slow_cost = max(self._slow_cost * 0.5, time.perf_counter() - started)
        if sig is not None:
            if len(self._memo) >= MEMO_ENTRIES:
                self._memo.clear()
            self._memo[name] = (sig, value)
        return value

    def slow_interval(self) -> float:
        """Seconds between refreshes of the heavy panels (timeline, channels, coverage)."""
        return min(SLOW_MAX_S, max(SLOW_MIN_S, SLOW_SHARE * self._slow_cost))

    def _connect(self) -> Any:
        return self.source.connect(_safe_row)

    @contextmanager
    def _db(self) -> Iterator[Any]:
        try:
            db = self._pool.get_nowait()
        except queue.Empty:
            db = self._connect()
        try:
            yield db
        finally:
            self._pool.put(db)

    def _rows(self, sql: str, params: tuple | list = ()) -> list[Row]:
        """Run a query; a table the writer has not created yet reads as empty."""
        with self._db() as db:
            try:
                return db.execute(self.dialect.sql(sql), params).fetchall()
            except self.source.errors as exc:
                if self.source.missing_table(exc):
                    return []
                raise

    def _one(self, sql: str, params: tuple | list = ()) -> Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        self._pulse_db.close()
        self.source.close()
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                return

    # -- live pulse ----------------------------------------------------------
    def pulse(self) -> str:
        """A token that changes whenever any session's writer commits, or comes or goes: the 1 s poll
        compares it.

        Every write transaction bumps its session's change counter; summing them is one scan of
        the sessions table (a row per session), microseconds on either engine.  A rig killed
        commits nothing: its writer's lock going (``writers``) is what turns it interrupted."""
        with self._pulse_lock:
            try:
                row = self._pulse_db.execute("SELECT sum(changes), count(*) FROM sessions").fetchone()
            except self.source.errors as exc:
                if not self.source.missing_table(exc):
                    raise
                row = (None, 0)
        return f"{row[0] or 0}:{row[1]}:{self.source.writers()}"

    # -- fleet -----------------------------------------------------------------
    def fleet_options(self) -> dict[str, list]:
        """Rigs, instruments and sessions there are to filter by (sessions newest first)."""
        rigs = [r[0] for r in self._rows("SELECT DISTINCT rig FROM sessions WHERE rig <> '' ORDER BY rig")]
        instruments = [r[0] for r in self._rows(
            "SELECT DISTINCT instrument FROM sessions WHERE instrument <> '' ORDER BY instrument")]
        sessions = [dict(r) for r in self._rows(
            "SELECT session_id, rig, instrument, created FROM sessions ORDER BY created DESC LIMIT ?", (FLEET_ROWS,))]
        return {"rigs": rigs, "instruments": instruments, "sessions": sessions}

    def sessions(self, scope: Scope = EVERYTHING) -> list[dict[str, Any]]:
        """Every session in scope (newest first, at most FLEET_ROWS): its tags, state, verdict and
        finding counts; what the fleet view lists."""
        where, params = _and(scope.where())
        rows = [dict(r) for r in self._rows(
            f"SELECT session_id, rig, instrument, created FROM sessions{where} ORDER BY created DESC LIMIT ?",
            [*params, FLEET_ROWS])]
        if not rows:
            return []
        ids = [r["session_id"] for r in rows]
        marks = ",".join("?" * len(ids))
        values: dict[str, dict[str, Any]] = {i: {} for i in ids}
        keys = (*SESSION_KEYS, "profile_not_examined")
        for r in self._rows(f"SELECT session_id, key, value FROM session WHERE session_id IN ({marks}) "
                            f"AND key IN ({','.join('?' * len(keys))})", [*ids, *keys]):
            values[r["session_id"]][r["key"]] = _loads(r["value"], None)
        counts: dict[str, dict[str, int]] = {i: dict.fromkeys(SEVERITIES, 0) for i in ids}
        for r in self._rows(f"SELECT session_id, severity, count(*) AS n FROM findings WHERE session_id IN ({marks}) "
                            "GROUP BY session_id, severity", ids):
            counts[r["session_id"]][r["severity"]] = r["n"]
        profiles = {r["session_id"]: self._profile(r["value"]) for r in self._rows(
            f"SELECT session_id, value FROM session WHERE session_id IN ({marks}) AND key = 'profile'", ids)}
        alive = self.source.alive(ids)
        out = []
        for r in rows:
            sid = r["session_id"]
            v = values[sid]
            c = counts[sid]
            profile = profiles.get(sid, DEFAULT_PROFILE)
            leak = any(c[s] for s in SEVERITIES[LEAK_RANK:]) if profile == DEFAULT_PROFILE else self._leaks(sid, profile)
            # what the session could not see, and (once it ended) what its profile expected and nobody saw
            blind = (v.get("not_examined") or []) + (v.get("profile_not_examined") or [])
            if profile != DEFAULT_PROFILE and any(n.get("what") == UNREADABLE for n in blind):
                blind = standing(blind, [dict(f) for f in self._rows(
                    "SELECT id, severity, kind, channel, destination, flow FROM findings WHERE session_id = ? "
                    "AND kind = 'opaque-volume'", (sid,))], profile)
            out.append({**r, **{k: v.get(k) for k in SESSION_KEYS}, "not_examined": blind,
                        "state": _state(v, sid in alive), "counts": c, "total": sum(c.values()), "leak": leak,
                        "verdict": "leak" if leak else "inconclusive" if blind else "clean",
                        "profile": profile.name})
        return out

    # -- banner ----------------------------------------------------------------
    def severity_counts(self, scope: Scope = EVERYTHING) -> dict[str, int]:
        counts = dict.fromkeys(SEVERITIES, 0)
        where, params = _and(scope.where())
        for r in self._rows(f"SELECT severity, count(*) AS n FROM findings{where} GROUP BY severity", params):
            counts[r["severity"]] = r["n"]
        return counts

    def summary(self, scope: Scope = EVERYTHING) -> dict[str, Any]:
        """Everything the verdict banner shows, in a handful of aggregate queries.

        One session in scope: its own session values (today's single-session banner).  Several:
        ``session`` says how many and in which states, ``sessions`` lists them."""
        sessions = self.sessions(scope)
        if len(sessions) == 1:
            sid = sessions[0]["session_id"]
            session = {r["key"]: _loads(r["value"], None)
                       for r in self._rows("SELECT key, value FROM session WHERE session_id = ?", (sid,))}
            session.update(state=sessions[0]["state"], rig=sessions[0]["rig"], instrument=sessions[0]["instrument"])
        else:
            states: dict[str, int] = {}
            for s in sessions:
                states[s["state"]] = states.get(s["state"], 0) + 1
            session = {"mode": "fleet", "state": "fleet", "sessions": len(sessions), "states": states,
                       "started": min((s["started"] for s in sessions if s["started"]), default=None),
                       "not_examined": [n for s in sessions for n in (s["not_examined"] or [])]}
        where, params = _and(scope.where())
        counts = self.severity_counts(scope)
        leak = any(s["leak"] for s in sessions)     # each session judged under its own acceptance profile
        runs: dict[str, dict[str, Any]] = {}
        for r in self._rows(f"SELECT * FROM runs{where} ORDER BY run_id", params):
            runs.setdefault(r["path"], {"run_id": r["run_id"], "path": r["path"], "platform": r["platform"],
                                        "samples": _loads(r["samples"], []), "files": r["files"], "bytes": r["bytes"]})
        captures = [
            {"path": r["path"], "channel": r["channel"], "packets": r["packets"], "bytes": r["bytes"],
             "drops": r["drops"], "errors": _loads(r["errors"], [])}
            for r in self._rows(f"SELECT * FROM captures{where} ORDER BY channel, path", params)
        ]
        # a leak wins; else what the sessions could not examine makes it inconclusive, never clean
        # (what an acceptance profile says went unseen is known once its session has ended)
        blind = any(s["not_examined"] for s in sessions)
        verdict = "leak" if leak else "inconclusive" if blind else "clean"
        return {"session": session, "sessions": sessions, "counts": counts, "total": sum(counts.values()),
                "leak": leak, "verdict": verdict, "runs": list(runs.values()), "captures": captures}

    def _leaks(self, session_id: str, profile: Profile) -> bool:
        """Whether a session's findings fail its acceptance profile (waivers, fail rule, scope)."""
        return judge([dict(r) for r in self._rows(
            "SELECT id, severity, kind, channel, destination FROM findings WHERE session_id = ?", (session_id,))],
            (), profile) == "leak"

    def _profile(self, raw: str | None) -> Profile:
        """A session's acceptance profile from its stored value (parsed once per profile text); one the
        sandbox cannot read is judged by the default rule, as the report does without one."""
        raw = raw or ""
        hit = self._profiles.get(raw)
        if hit is None:
            try:
                hit = Profile.from_stored(json.loads(raw)) if raw else DEFAULT_PROFILE
            except (ValueError, TypeError, AttributeError, ProfileError):
                hit = DEFAULT_PROFILE
            if len(self._profiles) >= MEMO_ENTRIES:
                self._profiles.clear()
            self._profiles[raw] = hit
        return hit

    def flow_totals(self, scope: Scope = EVERYTHING) -> list[dict[str, Any]]:
        """Flows and bytes per channel (a scan of the flows table: refreshed on the slow pace)."""
        where, params = _and(scope.where())
        folded = self.dialect.json_int("meta", "summary.flows")
        return [
            dict(r) for r in self._rows(
                # a summary row stands for the many small flows folded into it (a flow table's records)
                f"SELECT channel, sum(coalesce({folded}, 1)) AS flows, sum(packets) AS packets, "
                "sum(bytes_out) AS bytes_out, sum(bytes_in) AS bytes_in, min(t_first) AS t_first, "
                f"max(t_last) AS t_last FROM flows{where} GROUP BY channel ORDER BY channel", params)
        ]

    # -- findings table --------------------------------------------------------
    def filter_options(self, scope: Scope = EVERYTHING) -> dict[str, list[str]]:
        where, params = _and(scope.where())
        kinds = [r[0] for r in self._rows(f"SELECT DISTINCT kind FROM findings{where} ORDER BY kind", params)]
        channels = [r[0] for r in self._rows(f"SELECT DISTINCT channel FROM findings{where} ORDER BY channel", params)]
        return {"kinds": kinds, "channels": channels}

    def findings_page(self, flt: FindingFilter, sort_by: list[dict[str, str]] | None = None,
                      page: int = 0, page_size: int = PAGE_SIZE,
                      scope: Scope = EVERYTHING) -> tuple[list[dict[str, Any]], int]:
        """One page of findings as table rows (across the sessions in scope, each named by its rig),
        and how many rows the filter matches.  ``key`` is the row's ``session/id``."""
        where, params = _and(flt.where(self.dialect.like), scope.where("f.session_id"))
        total_row = self._one(f"SELECT count(*) FROM findings f{where}", params)
        total = total_row[0] if total_row else 0
        rows = self._rows(
            "SELECT f.session_id, id, severity, kind, channel, destination, samples, files, bytes_matched, t_first, "
            f"t_last, s.rig AS rig, s.instrument AS instrument FROM findings f "
            f"JOIN sessions s ON s.session_id = f.session_id{where} "
            f"ORDER BY {order_by(sort_by, self.dialect.json_len('files'))} LIMIT ? OFFSET ?",
            [*params, int(page_size), max(0, int(page)) * int(page_size)],
        )
        out = []
        for r in rows:
            d = dict(r)
            d["key"] = f"{d['session_id']}/{d['id']}"
            out.append(d)
        return out, total

    def finding(self, key: str, scope: Scope = EVERYTHING) -> dict[str, Any] | None:
        """A finding by its ``session/id`` key (or by its id alone, in the sessions in scope)."""
        session_id, _, finding_id = key.rpartition("/")
        where, params = _and(("id = ?", [finding_id]), ("session_id = ?", [session_id]) if session_id else ("", []),
                             scope.where())
        row = self._one(f"SELECT * FROM findings{where} ORDER BY updated DESC LIMIT 1", params)
        if row is None:
            return None
        out = dict(row)
        for k in ("samples", "files", "chain", "identifiers", "evidence"):
            out[k] = _loads(out[k], [])
        out["detail"] = _loads(out["detail"], {})
        return out

    def flow(self, flow_id: str, session_id: str | None = None) -> dict[str, Any] | None:
        where, params = _and(("flow = ?", [flow_id]), ("session_id = ?", [session_id]) if session_id else ("", []))
        row = self._one(f"SELECT * FROM flows{where} LIMIT 1", params)
        if row is None:
            return None
        out = dict(row)
        out["meta"] = _loads(out["meta"], {})
        out["errors"] = _loads(out["errors"], [])
        return out

    # -- timeline --------------------------------------------------------------
    def timeline(self, scope: Scope = EVERYTHING) -> dict[str, Any]:
        """Outbound bytes per series over time, bucketed to at most TIMELINE_POINTS per series."""
        where, params = _and(scope.where())
        span = self._one(f"SELECT min(t_bucket), max(t_bucket) FROM traffic{where}", params)
        series: dict[str, list[tuple[float, int]]] = {}
        width = 1.0
        if span is not None and span[0] is not None:
            width = max(1.0, float(int((span[1] - span[0]) / TIMELINE_POINTS) + 1))
            top = self._rows(
                f"SELECT channel, destination FROM traffic{where} GROUP BY channel, destination "
                "ORDER BY sum(bytes_out) DESC, channel, destination LIMIT ?", [*params, TIMELINE_SERIES])
            top_keys = [(r["channel"], r["destination"]) for r in top]
            case = " ".join("WHEN channel = ? AND destination = ? THEN ?" for _ in top_keys)
            case_params: list[Any] = []
            for channel, dest in top_keys:
                case_params += [channel, dest, f"{channel} {dest}"]
            label = f"CASE {case} ELSE 'other' END" if top_keys else "'other'"
            rows = self._rows(
                f"SELECT {label} AS series, floor(t_bucket / ?) * ? AS t, sum(bytes_out) AS b "
                f"FROM traffic{where} GROUP BY series, t ORDER BY series, t",
                [*case_params, width, width, *params])
            for r in rows:
                series.setdefault(r["series"], []).append((r["t"], r["b"]))
        markers = [
            dict(r) for r in self._rows(
                "SELECT session_id, id, severity, kind, channel, destination, t_first, bytes_matched FROM findings"
                f"{where} ORDER BY severity_rank DESC, t_first, id LIMIT ?", [*params, TIMELINE_MARKERS])
        ]
        for m in markers:
            m["key"] = f"{m['session_id']}/{m['id']}"
        return {"series": series, "bucket_s": width, "markers": markers}

    # -- channel panels --------------------------------------------------------
    def destinations(self, scope: Scope = EVERYTHING) -> dict[str, Any]:
        """Network destinations by bytes out; SNI and addresses only for the listed ones."""
        where, params = _and(("channel = 'net'", []), scope.where())
        rows = [
            dict(r) for r in self._rows(
                "SELECT destination, count(*) AS flows, sum(bytes_out) AS bytes_out, sum(bytes_in) AS bytes_in, "
                "min(allowed) AS allowed, max(encrypted) AS encrypted, max(decrypted) AS decrypted "
                f"FROM flows{where} GROUP BY destination "
                "ORDER BY min(allowed), sum(bytes_out) DESC, destination LIMIT ?", [*params, TOP_DESTINATIONS])
        ]
        total = self._one(f"SELECT count(DISTINCT destination) FROM flows{where}", params)
        d = self.dialect
        for row in rows:
            inner, inner_params = _and(("destination = ?", [row["destination"]]), ("channel = 'net'", []),
                                       scope.where())
            extra = self._one(
                f"SELECT {d.concat_distinct('dst')} AS addrs, {d.concat_distinct(d.json_text('meta', 'sni'))} AS sni, "
                f"{d.concat_distinct('app')} AS apps FROM (SELECT dst, meta, app FROM flows{inner} LIMIT 200) x",
                inner_params)
            row.update(addrs=extra["addrs"] or "", sni=extra["sni"] or "", apps=extra["apps"] or "")
        return {"rows": rows, "total": total[0] if total else 0}

    def devices(self, channel: str, scope: Scope = EVERYTHING) -> list[dict[str, Any]]:
        """USB devices or serial ports: one row per device, with the metadata of its latest flow."""
        where, params = _and(("channel = ?", [channel]), scope.where())
        rows = self._rows(
            "SELECT destination, count(*) AS flows, sum(packets) AS transfers, sum(bytes_out) AS bytes_out, "
            "sum(bytes_in) AS bytes_in, max(meta) AS meta, min(t_first) AS t_first, max(t_last) AS t_last "
            f"FROM flows{where} GROUP BY destination ORDER BY sum(bytes_out) DESC, destination LIMIT ?", [*params, TOP_DEVICES])
        out = []
        for r in rows:
            d = dict(r)
            d["meta"] = _loads(d["meta"], {})
            out.append(d)
        return out

    def usb_devices(self, scope: Scope = EVERYTHING) -> list[dict[str, Any]]:
        """USB devices: who each is (its device flow's metadata), what it carried out and in, the flows
        found inside it (a network adapter's), its findings by severity, and whether it appeared."""
        devices: dict[str, dict[str, Any]] = {}
        of_flow: dict[str, str] = {}
        where, params = _and(("channel = 'usb'", []), scope.where())
        for r in self._rows("SELECT flow, dst, destination, packets, bytes_out, bytes_in, meta "
                            f"FROM flows{where} ORDER BY t_first LIMIT ?", [*params, USB_FLOWS]):
            meta = _loads(r["meta"], {})
            via = str(meta.get("via") or "")
            key = via.split(" > ")[0] if via else f"usb {r['dst']}"
            d = devices.get(key)
            if d is None:
                if len(devices) >= TOP_DEVICES:
                    continue
                d = devices[key] = {"device": key, "destination": key, "meta": {}, "transfers": 0, "bytes_out": 0,
                                    "bytes_in": 0, "inner": 0, "findings": {}, "new": False}
            of_flow[r["flow"]] = key
            if via:
                d["inner"] += 1
                continue
            d["destination"] = r["destination"] or key
            d["meta"] = meta
            d["transfers"] += r["packets"] or 0
            d["bytes_out"] += r["bytes_out"] or 0
            d["bytes_in"] += r["bytes_in"] or 0
        first = self.dialect.json_first("chain")
        for r in self._rows(f"SELECT {first} AS device, flow, severity, kind, count(*) AS n "
                            f"FROM findings{where} GROUP BY {first}, flow, severity, kind", params):
            d = devices.get(r["device"]) or devices.get(of_flow.get(r["flow"], ""))
            if d is None:
                continue
            if r["kind"] == "usb-device":
                d["new"] = True
            d["findings"][r["severity"]] = d["findings"].get(r["severity"], 0) + r["n"]
        return sorted(devices.values(), key=lambda d: (-sum(d["findings"].values()), -d["bytes_out"], d["device"]))

    # -- run coverage ----------------------------------------------------------
    def coverage(self, scope: Scope = EVERYTHING) -> dict[str, Any]:
        """Which samples and files left, how much, over which channels (JSON arrays unnested in SQL)."""
        d = self.dialect
        where, params = _and(scope.where("f.session_id"))
        j = d.element("j")
        samples = [
            dict(r) for r in self._rows(
                "SELECT s.value AS sample, count(*) AS findings, sum(f.bytes_matched) AS bytes_matched, "
                f"max(f.severity_rank) AS rank, {d.concat_distinct('f.channel')} AS channels, "
                "count(DISTINCT f.destination) AS destinations "
                f"FROM findings f, {d.each('f.samples', 's')}{where} GROUP BY s.value "
                "ORDER BY sum(f.bytes_matched) DESC, s.value LIMIT ?", [*params, COVERAGE_ROWS])
        ]
        files = [
            dict(r) for r in self._rows(
                f"SELECT f.run_id AS run_id, {d.json_text(j, 'path')} AS file_path, count(*) AS findings, "
                f"sum({d.json_int(j, 'bytes_matched')}) AS bytes_matched, "
                f"max({d.json_num(j, 'fraction')}) AS max_fraction, "
                f"{d.least('1.0', 'sum(' + d.json_num(j, 'fraction') + ')')} AS sum_fraction, "
                f"{d.concat_distinct('f.channel')} AS channels, count(DISTINCT f.destination) AS destinations "
                f"FROM findings f, {d.each('f.files', 'j', objects=True)}{where} GROUP BY f.run_id, file_path "
                f"ORDER BY sum({d.json_int(j, 'bytes_matched')}) DESC, f.run_id, file_path LIMIT ?", [*params, COVERAGE_ROWS])
        ]
        for row in samples:
            row["severity"] = SEVERITIES[row.pop("rank")]
        seen = {r[0] for r in self._rows(f"SELECT DISTINCT s.value FROM findings f, {d.each('f.samples', 's')}{where}",
                                         params)}
        runs: dict[str, dict[str, Any]] = {}
        run_where, run_params = _and(scope.where())
        for r in self._rows(f"SELECT run_id, samples FROM runs{run_where} ORDER BY run_id", run_params):
            names = _loads(r["samples"], [])
            runs.setdefault(r["run_id"], {"run_id": r["run_id"], "samples": len(names),
                                          "leaked": sorted(s for s in names if s in seen),
                                          "not_seen": len([s for s in names if s not in seen])})
        return {"samples": samples, "files": files, "runs": list(runs.values())}

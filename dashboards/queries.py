"""Read-only SQL over the store: every page, sort, filter and sum is done in SQLite.

The dashboard never loads a whole table: the findings table asks for one page, the
panels ask for aggregates with a LIMIT.  Connections are read-only (``mode=ro``) and
WAL lets them read while the correlator writes.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.model import SEVERITIES, severity_rank
from sandbox.report.contract import DEFAULT_PROFILE
from sandbox.report.contract import verdict as judge
from sandbox.report.profile import Profile, ProfileError
from sandbox.safetext import MAX_SHOWN, safe_text, safe_tree
from sandbox.store import session_alive

PAGE_SIZE = 20  # findings rows per page: one screen, one indexed query of a few ms at 10k findings
TOP_DESTINATIONS = 50  # network panel rows: an operator scans a short list; the rest are counted
TOP_DEVICES = 50  # USB devices / serial ports listed: a bench has a handful
USB_FLOWS = 20_000  # USB flows read for the device panel: a device's own flows and a modem's inner ones
TIMELINE_SERIES = 8  # lines on the timeline: more are unreadable; smaller destinations fold into "other"
TIMELINE_POINTS = 600  # points per line, about one per pixel column; buckets widen to fit
TIMELINE_MARKERS = 500  # finding markers, most severe first; beyond that the chart is noise
COVERAGE_ROWS = 200  # samples / files listed in run coverage, most bytes first
CACHE_KIB = 32 * 1024  # page cache per connection: holds the hot part of a 100k-flow store
MMAP_BYTES = 256 << 20  # map the file: aggregate scans read shared OS pages instead of copying
SLOW_SHARE = 10  # heavy panels refresh at most every SLOW_SHARE x their own cost: <= ~10% of a core
SLOW_MIN_S, SLOW_MAX_S = 1.0, 15.0  # ... but at least each second, and never staler than 15 s
LEAK_RANK = severity_rank("high")  # DESIGN.md: any high or critical finding means "suspected leak"
# Columns holding JSON text: made safe once parsed (``_loads``), never as text (a cut would break them).
JSON_COLUMNS = frozenset(("samples", "files", "chain", "identifiers", "evidence", "detail", "meta", "errors",
                          "value"))

# Table column id -> SQL expression; the only strings that ever reach ORDER BY.
SORTABLE = {
    "severity": "severity_rank",
    "kind": "kind",
    "channel": "channel",
    "destination": "destination",
    "samples": "samples",
    "files": "json_array_length(files)",
    "bytes_matched": "bytes_matched",
    "t_first": "t_first",
    "t_last": "t_last",
}
DEFAULT_ORDER = "severity_rank DESC, t_first DESC, id"


@dataclass(frozen=True)
class FindingFilter:
    """What the operator picked in the filter bar; empty means 'any'."""

    severities: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    destination: str = ""

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, values in (("severity", self.severities), ("channel", self.channels), ("kind", self.kinds)):
            if values:
                clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        if self.destination.strip():
            pattern = self.destination.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append("destination LIKE ? ESCAPE '\\'")
            params.append(f"%{pattern}%")
        return (" AND ".join(clauses), params)


def order_by(sort_by: list[dict[str, str]] | None) -> str:
    """DataTable ``sort_by`` -> a whitelisted ORDER BY (unknown columns are ignored)."""
    parts = []
    for item in sort_by or []:
        expr = SORTABLE.get(item.get("column_id", ""))
        if expr:
            parts.append(f"{expr} {'DESC' if item.get('direction') == 'desc' else 'ASC'}")
    return ", ".join(parts + ["id"]) if parts else DEFAULT_ORDER


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return safe_tree(json.loads(text))
    except ValueError:
        return default


def _safe_row(cursor: sqlite3.Cursor, row: tuple) -> sqlite3.Row:
    """Rows with every text made safe (no control characters, valid UTF-8): the store holds names
    the instrument chose, and the dashboard shows them."""
    names = cursor.description
    return sqlite3.Row(cursor, tuple(
        safe_text(v, MAX_SHOWN) if isinstance(v, str) and names[i][0] not in JSON_COLUMNS else v
        for i, v in enumerate(row)))


class Reader:
    """Read-only queries over one store file; safe to share between server threads."""

    def __init__(self, path: str | Path):
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise FileNotFoundError(f"store {self.path} does not exist")
        self._uri = f"file:{self.path}?mode=ro"
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._pulse_lock = threading.Lock()
        self._pulse_db = self._connect()
        self._memo: dict[str, tuple[str, Any]] = {}
        self._slow_cost = 0.0
        self._profile_memo: tuple[str, Profile] = ("", DEFAULT_PROFILE)

    def cached(self, name: str, sig: str | None, compute: Any) -> Any:
        """``compute()`` once per store version, shared by every open browser tab."""
        hit = self._memo.get(name)
        if sig is not None and hit is not None and hit[0] == sig:
            return hit[1]
        started = time.perf_counter()
        value = compute()
        self._slow_cost = max(self._slow_cost * 0.5, time.perf_counter() - started)
        if sig is not None:
            self._memo[name] = (sig, value)
        return value

    def slow_interval(self) -> float:
        """Seconds between refreshes of the heavy panels (timeline, channels, coverage)."""
        return min(SLOW_MAX_S, max(SLOW_MIN_S, SLOW_SHARE * self._slow_cost))

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._uri, uri=True, check_same_thread=False, timeout=10)
        db.row_factory = _safe_row
        db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        db.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        return db

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            db = self._pool.get_nowait()
        except queue.Empty:
            db = self._connect()
        try:
            yield db
        finally:
            self._pool.put(db)

    def _rows(self, sql: str, params: tuple | list = ()) -> list[sqlite3.Row]:
        """Run a query; a table the writer has not created yet reads as empty."""
        with self._db() as db:
            try:
                return db.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []
                raise

    def _one(self, sql: str, params: tuple | list = ()) -> sqlite3.Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        self._pulse_db.close()
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                return

    # -- live pulse ----------------------------------------------------------
    def pulse(self) -> str:
        """A token that changes whenever the writer commits: the 1 s poll compares it.

        ``PRAGMA data_version`` on one dedicated connection costs microseconds and
        sees every commit (findings, flows, traffic, captures, session).
        """
        with self._pulse_lock:
            version = self._pulse_db.execute("PRAGMA data_version").fetchone()[0]
            try:
                row = self._pulse_db.execute("SELECT max(updated), count(*) FROM findings").fetchone()
            except sqlite3.OperationalError:
                row = (None, 0)
        return f"{version}:{row[0]}:{row[1]}"

    # -- banner ----------------------------------------------------------------
    def severity_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(SEVERITIES, 0)
        for r in self._rows("SELECT severity, count(*) AS n FROM findings GROUP BY severity"):
            counts[r["severity"]] = r["n"]
        return counts

    def summary(self) -> dict[str, Any]:
        """Everything the verdict banner shows, in a handful of aggregate queries."""
        session = {r["key"]: _loads(r["value"], None) for r in self._rows("SELECT key, value FROM session")}
        # finished, or live while its session holds the store's lock; otherwise it was killed
        session["state"] = ("finished" if session.get("finished") else "live" if session_alive(self.path)
                            else "interrupted" if session.get("started") else "empty")
        counts = self.severity_counts()
        profile = self._profile()
        if profile == DEFAULT_PROFILE:
            leak = self._one("SELECT 1 FROM findings WHERE severity_rank >= ? LIMIT 1", (LEAK_RANK,)) is not None
        else:   # the session's acceptance profile judges: waivers, its fail rule, its scope
            leak = judge([dict(r) for r in self._rows(
                "SELECT id, severity, kind, channel, destination FROM findings")], (), profile) == "leak"
        runs = [
            {"run_id": r["run_id"], "path": r["path"], "platform": r["platform"],
             "samples": _loads(r["samples"], []), "files": r["files"], "bytes": r["bytes"]}
            for r in self._rows("SELECT * FROM runs ORDER BY run_id")
        ]
        captures = [
            {"path": r["path"], "channel": r["channel"], "packets": r["packets"], "bytes": r["bytes"],
             "drops": r["drops"], "errors": _loads(r["errors"], [])}
            for r in self._rows("SELECT * FROM captures ORDER BY channel, path")
        ]
        # a leak wins; else what the session could not examine makes it inconclusive, never clean
        # (what the acceptance profile says went unseen is known once the session has ended)
        blind = session.get("not_examined") or session.get("profile_not_examined")
        verdict = "leak" if leak else "inconclusive" if blind else "clean"
        return {"session": session, "counts": counts, "total": sum(counts.values()), "leak": leak, "verdict": verdict,
                "runs": runs, "captures": captures}

    def _profile(self) -> Profile:
        """The acceptance profile the session runs with (parsed once per profile text)."""
        row = self._one("SELECT value FROM session WHERE key = 'profile'")
        raw = row["value"] if row is not None else ""
        if self._profile_memo[0] != raw:
            try:
                profile = Profile.from_stored(json.loads(raw)) if raw else DEFAULT_PROFILE
            except (ValueError, ProfileError):
                profile = DEFAULT_PROFILE
            self._profile_memo = (raw, profile)
        return self._profile_memo[1]

    def flow_totals(self) -> list[dict[str, Any]]:
        """Flows and bytes per channel (a scan of the flows table: refreshed on the slow pace)."""
        return [
            dict(r) for r in self._rows(
                # a summary row stands for the many small flows folded into it (sandbox/protocols/records.py)
                "SELECT channel, sum(coalesce(json_extract(meta, '$.summary.flows'), 1)) AS flows, "
                "sum(packets) AS packets, sum(bytes_out) AS bytes_out, "
                "sum(bytes_in) AS bytes_in, min(t_first) AS t_first, max(t_last) AS t_last "
                "FROM flows GROUP BY channel ORDER BY channel")
        ]

    # -- findings table --------------------------------------------------------
    def filter_options(self) -> dict[str, list[str]]:
        kinds = [r[0] for r in self._rows("SELECT DISTINCT kind FROM findings ORDER BY kind")]
        channels = [r[0] for r in self._rows("SELECT DISTINCT channel FROM findings ORDER BY channel")]
        return {"kinds": kinds, "channels": channels}

    def findings_page(self, flt: FindingFilter, sort_by: list[dict[str, str]] | None = None,
                      page: int = 0, page_size: int = PAGE_SIZE) -> tuple[list[dict[str, Any]], int]:
        """One page of findings as table rows, and how many rows the filter matches."""
        where, params = flt.where()
        clause = f" WHERE {where}" if where else ""
        total_row = self._one(f"SELECT count(*) FROM findings{clause}", params)
        total = total_row[0] if total_row else 0
        rows = self._rows(
            "SELECT id, severity, kind, channel, destination, samples, files, bytes_matched, t_first, t_last "
            f"FROM findings{clause} ORDER BY {order_by(sort_by)} LIMIT ? OFFSET ?",
            [*params, int(page_size), max(0, int(page)) * int(page_size)],
        )
        return [dict(r) for r in rows], total

    def finding(self, finding_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM findings WHERE id = ?", (finding_id,))
        if row is None:
            return None
        out = dict(row)
        for key in ("samples", "files", "chain", "identifiers", "evidence"):
            out[key] = _loads(out[key], [])
        out["detail"] = _loads(out["detail"], {})
        return out

    def flow(self, flow_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM flows WHERE flow = ?", (flow_id,))
        if row is None:
            return None
        out = dict(row)
        out["meta"] = _loads(out["meta"], {})
        out["errors"] = _loads(out["errors"], [])
        return out

    # -- timeline --------------------------------------------------------------
    def timeline(self) -> dict[str, Any]:
        """Outbound bytes per series over time, bucketed to at most TIMELINE_POINTS per series."""
        span = self._one("SELECT min(t_bucket), max(t_bucket) FROM traffic")
        series: dict[str, list[tuple[float, int]]] = {}
        width = 1.0
        if span is not None and span[0] is not None:
            width = max(1.0, float(int((span[1] - span[0]) / TIMELINE_POINTS) + 1))
            top = self._rows(
                "SELECT channel, destination FROM traffic GROUP BY channel, destination "
                "ORDER BY sum(bytes_out) DESC LIMIT ?", (TIMELINE_SERIES,))
            top_keys = [(r["channel"], r["destination"]) for r in top]
            case = " ".join("WHEN channel = ? AND destination = ? THEN ?" for _ in top_keys)
            case_params: list[Any] = []
            for channel, dest in top_keys:
                case_params += [channel, dest, f"{channel} {dest}"]
            label = f"CASE {case} ELSE 'other' END" if top_keys else "'other'"
            rows = self._rows(
                f"SELECT {label} AS series, CAST(t_bucket / ? AS INTEGER) * ? AS t, sum(bytes_out) AS b "
                "FROM traffic GROUP BY series, t ORDER BY series, t",
                [*case_params, width, width])
            for r in rows:
                series.setdefault(r["series"], []).append((r["t"], r["b"]))
        markers = [
            dict(r) for r in self._rows(
                "SELECT id, severity, kind, channel, destination, t_first, bytes_matched FROM findings "
                "ORDER BY severity_rank DESC, t_first LIMIT ?", (TIMELINE_MARKERS,))
        ]
        return {"series": series, "bucket_s": width, "markers": markers}

    # -- channel panels --------------------------------------------------------
    def destinations(self) -> dict[str, Any]:
        """Network destinations by bytes out; SNI and addresses only for the listed ones."""
        rows = [
            dict(r) for r in self._rows(
                "SELECT destination, count(*) AS flows, sum(bytes_out) AS bytes_out, sum(bytes_in) AS bytes_in, "
                "min(allowed) AS allowed, max(encrypted) AS encrypted, max(decrypted) AS decrypted "
                "FROM flows WHERE channel = 'net' GROUP BY destination "
                "ORDER BY min(allowed), sum(bytes_out) DESC LIMIT ?", (TOP_DESTINATIONS,))
        ]
        total = self._one("SELECT count(DISTINCT destination) FROM flows WHERE channel = 'net'")
        for row in rows:
            extra = self._one(
                "SELECT group_concat(DISTINCT dst) AS addrs, "
                "group_concat(DISTINCT json_extract(meta, '$.sni')) AS sni, "
                "group_concat(DISTINCT app) AS apps FROM "
                "(SELECT dst, meta, app FROM flows WHERE destination = ? AND channel = 'net' LIMIT 200)",
                (row["destination"],))
            row.update(addrs=extra["addrs"] or "", sni=extra["sni"] or "", apps=extra["apps"] or "")
        return {"rows": rows, "total": total[0] if total else 0}

    def devices(self, channel: str) -> list[dict[str, Any]]:
        """USB devices or serial ports: one row per device, with the metadata of its latest flow."""
        rows = self._rows(
            "SELECT destination, count(*) AS flows, sum(packets) AS transfers, sum(bytes_out) AS bytes_out, "
            "sum(bytes_in) AS bytes_in, max(meta) AS meta, min(t_first) AS t_first, max(t_last) AS t_last "
            "FROM flows WHERE channel = ? GROUP BY destination ORDER BY sum(bytes_out) DESC LIMIT ?",
            (channel, TOP_DEVICES))
        out = []
        for r in rows:
            d = dict(r)
            d["meta"] = _loads(d["meta"], {})
            out.append(d)
        return out

    def usb_devices(self) -> list[dict[str, Any]]:
        """USB devices: who each is (its device flow's metadata), what it carried out and in, the flows
        found inside it (a network adapter's), its findings by severity, and whether it appeared."""
        devices: dict[str, dict[str, Any]] = {}
        of_flow: dict[str, str] = {}
        for r in self._rows("SELECT flow, dst, destination, packets, bytes_out, bytes_in, meta FROM flows "
                            "WHERE channel = 'usb' ORDER BY t_first LIMIT ?", (USB_FLOWS,)):
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
        for r in self._rows("SELECT json_extract(chain, '$[0]') AS device, flow, severity, kind, count(*) AS n "
                            "FROM findings WHERE channel = 'usb' GROUP BY device, flow, severity, kind"):
            d = devices.get(r["device"]) or devices.get(of_flow.get(r["flow"], ""))
            if d is None:
                continue
            if r["kind"] == "usb-device":
                d["new"] = True
            d["findings"][r["severity"]] = d["findings"].get(r["severity"], 0) + r["n"]
        return sorted(devices.values(), key=lambda d: (-sum(d["findings"].values()), -d["bytes_out"], d["device"]))

    # -- run coverage ----------------------------------------------------------
    def coverage(self) -> dict[str, Any]:
        """Which samples and files left, how much, over which channels (json_each in SQL)."""
        samples = [
            dict(r) for r in self._rows(
                "SELECT s.value AS sample, count(*) AS findings, sum(f.bytes_matched) AS bytes_matched, "
                "max(f.severity_rank) AS rank, group_concat(DISTINCT f.channel) AS channels, "
                "count(DISTINCT f.destination) AS destinations "
                "FROM findings f, json_each(f.samples) s GROUP BY s.value "
                "ORDER BY sum(f.bytes_matched) DESC LIMIT ?", (COVERAGE_ROWS,))
        ]
        files = [
            dict(r) for r in self._rows(
                "SELECT f.run_id AS run_id, json_extract(j.value, '$.path') AS file_path, count(*) AS findings, "
                "sum(json_extract(j.value, '$.bytes_matched')) AS bytes_matched, "
                "max(json_extract(j.value, '$.fraction')) AS max_fraction, "
                "min(1.0, sum(json_extract(j.value, '$.fraction'))) AS sum_fraction, "
                "group_concat(DISTINCT f.channel) AS channels, count(DISTINCT f.destination) AS destinations "
                "FROM findings f, json_each(f.files) j GROUP BY f.run_id, file_path "
                "ORDER BY sum(json_extract(j.value, '$.bytes_matched')) DESC LIMIT ?", (COVERAGE_ROWS,))
        ]
        for row in samples:
            row["severity"] = SEVERITIES[row.pop("rank")]
        seen = {r[0] for r in self._rows("SELECT DISTINCT s.value FROM findings f, json_each(f.samples) s")}
        runs = []
        for r in self._rows("SELECT run_id, samples FROM runs ORDER BY run_id"):
            names = _loads(r["samples"], [])
            runs.append({"run_id": r["run_id"], "samples": len(names),
                         "leaked": sorted(s for s in names if s in seen),
                         "not_seen": len([s for s in names if s not in seen])})
        return {"samples": samples, "files": files, "runs": runs}

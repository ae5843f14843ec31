"""A session's report rebuilt from its store: ``sandbox report --db``, for a finished, running or
interrupted session, live or replay.

A finished session's store holds every input of its report (findings, runs, captures, errors, notes,
what was not examined, where findings sit in the recordings, the profile), so the report rebuilt here
is the one the session wrote.  A running session's report is marked running and, since traffic is
still coming, cannot be clean; an interrupted one (its writer was killed) says so the same way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sandbox.model import FileMatch, Finding, NotExamined
from sandbox.report.contract import build_report
from sandbox.report.profile import Profile
from sandbox.store import Store, StoreError
from sandbox.stores import display, is_url

# Store columns of a finding that are not fields of ``Finding``.
_STORE_ONLY = ("severity_rank", "updated")
SESSION_WHERE = "session"  # ``where`` of what an unfinished session has not examined yet


class StoreUnreadable(Exception):
    """Not a session's store: one line for the user, exit status 2."""


def session_state(session: dict[str, Any], store: Store) -> str:
    """finished, running (its writer holds the session) or interrupted (started, writer gone)."""
    if session.get("finished"):
        return "finished"
    return "running" if store.alive() else "interrupted"


@contextmanager
def stored_session(target: str | Path, session_id: str | None = None) -> Iterator[tuple[Store, dict[str, Any]]]:
    """A reader of one session of the store at ``target`` (a SQLite file or a ``postgresql://`` URL;
    ``session_id``, else the newest session) and its session values."""
    if not is_url(target) and not Path(target).is_file():
        raise StoreUnreadable(f"store {target} does not exist")
    try:
        store = Store(target, readonly=True, session_id=session_id)
    except StoreError as exc:
        raise StoreUnreadable(_first_line(exc)) from None
    except sqlite3.Error as exc:
        raise StoreUnreadable(f"cannot read store {display(target)}: {_first_line(exc)}") from None
    try:
        try:
            session = store.session() if store.session_id else {}
        except store.backend.errors as exc:
            raise StoreUnreadable(f"{display(target)} is not a sandbox store: {_first_line(exc)}") from None
        if not session.get("started"):
            raise StoreUnreadable(f"store {display(target)} holds no session"
                                  + (f" {session_id}" if session_id else ""))
        yield store, session
    finally:
        store.close()


def report_from_store(target: str | Path, profile: Profile | None = None,
                      session_id: str | None = None) -> dict[str, Any]:
    """The report of a session in the store at ``target`` (``session_id``, else the newest);
    ``profile`` re-judges it (default: the profile the session ran with)."""
    with stored_session(target, session_id) as (store, session):
        return _build(store, session, profile)


def _build(store: Store, session: dict[str, Any], override: Profile | None) -> dict[str, Any]:
    stored = Profile.from_stored(session.get("profile"))
    profile = override.with_cli_allowed(stored.cli_allowed) if override is not None else stored
    notes: list[str] = list(session.get("notes") or [])
    if override is not None and set(stored.allow_list) - set(profile.allow_list):
        missing = ", ".join(sorted(set(stored.allow_list) - set(profile.allow_list)))
        notes.append(f"the session allowed {missing}, which this profile does not: unlisted-destination "
                     "findings for them were never made; replay with this profile to judge them")
    state = session_state(session, store)
    names = list(session.get("captures") or [])
    caps = {r["path"]: r for r in store.rows("captures")}
    captures = [{"path": n, "packets": caps[n]["packets"], "bytes": caps[n]["bytes"], "drops": caps[n]["drops"]}
                for n in names if n in caps]
    captures += [{"path": r["path"], "packets": r["packets"], "bytes": r["bytes"], "drops": r["drops"]}
                 for n, r in caps.items() if n not in names]
    runs = session.get("run_rows") or [
        {"run_id": r["run_id"], "path": r["path"], "samples": _json(r["samples"])} for r in store.rows("runs", "path")]
    if state == "finished" and "errors" in session:
        errors = list(session["errors"])
    else:   # what a running session knows so far: the captures' own errors
        errors = [{"where": n, "error": e} for n, r in caps.items() for e in _json(r["errors"])]
    not_examined: list[NotExamined] = [NotExamined(**n) for n in session.get("not_examined") or []]
    flows = [(r["destination"] or "", r["dst"] or "", str(_json(r["meta"]).get("sni", "") or ""),
              str(_json(r["meta"]).get("host", "") or "")) for r in store.rows("flows")]
    not_examined += profile.unexamined(flows, [r["channel"] for r in caps.values()])
    if state != "finished":
        lag = int(session.get("lag_bytes") or 0)
        what = ("session still running: this report is not final" if state == "running" else
                "session interrupted before its end (its writer is gone): what it recorded after its last "
                "store update was not examined")
        not_examined.append(NotExamined(where=SESSION_WHERE, what=what, packets=0, bytes=lag))
    facts = {"mode": session.get("mode", "replay"), "live": bool(session.get("live")), "state": state,
             "started": session.get("started"), "finished": session.get("finished")}
    return build_report([_finding(row) for row in store.findings()], runs, captures, errors, notes, not_examined,
                        profile=profile, session=facts, locations=store.locations())


def figures_from_store(target: str | Path, session_id: str | None = None) -> dict[str, Any]:
    """What the HTML report plots for one session (``session_id``; else the whole store, which for a
    SQLite file is its one session), read with the dashboard's own queries (one definition of each
    figure): timeline, destinations, run coverage, and the captures' health."""
    from dashboards.queries import EVERYTHING, Reader, Scope

    scope = Scope(sessions=(session_id,)) if session_id else EVERYTHING
    reader = Reader(target)
    try:
        summary = reader.summary(scope)
        return {"timeline": reader.timeline(scope), "destinations": reader.destinations(scope),
                "coverage": reader.coverage(scope), "captures": summary["captures"],
                "lag_bytes": summary["session"].get("lag_bytes")}
    finally:
        reader.close()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _finding(row: dict[str, Any]) -> Finding:
    fields = {k: v for k, v in row.items() if k not in _STORE_ONLY}
    fields["files"] = [FileMatch(**m) for m in fields["files"]]
    return Finding(**fields)


def _json(text: str | None) -> Any:
    import json

    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {}

"""The ``sandbox.report/1`` document (DESIGN.md "Report contract"); other tools read it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sandbox.correlate.opaque import UNREADABLE
from sandbox.model import Finding, NotExamined, severity_rank
from sandbox.report.errors import aggregate_errors
from sandbox.report.private import write_private
from sandbox.report.profile import Profile
from sandbox.safetext import safe_tree

SCHEMA = "sandbox.report/1"
GATING_RANK = severity_rank("high")  # high or critical fails the acceptance test
VERDICTS = ("clean", "leak", "inconclusive")
DEFAULT_PROFILE = Profile()  # DESIGN.md's rule: high or critical fails, nothing waived
# Exit status per verdict (DESIGN.md); 2 (bad input) and 70 (internal error) are the CLI's.
EXIT_CODES = {"clean": 0, "leak": 1, "inconclusive": 3}
# What a person reads: terminal summary, HTML report, dashboard banner.
VERDICT_WORDS = {"clean": "CLEAN", "leak": "SUSPECTED LEAK", "inconclusive": "INCONCLUSIVE"}


def standing(not_examined: Sequence[NotExamined], findings: Iterable[Mapping[str, Any]],
             profile: Profile) -> list[NotExamined]:
    """What went unexamined, less the content of opaque uploads a reviewer waived: an opaque-volume
    finding stands for its unread content, and judged benign it no longer keeps the verdict from clean."""
    waived = {f.get("flow", "") for f in findings if f["kind"] == "opaque-volume" and profile.waiver_for(f) is not None}
    return [n for n in not_examined if not (n["what"] == UNREADABLE and n["where"] in waived)]


def verdict(findings: Iterable[Finding | Mapping[str, Any]], not_examined: Sequence[NotExamined] = (),
            profile: Profile | None = None) -> str:
    """``leak`` if any finding fails the acceptance test (DESIGN.md: high or critical, unless a profile
    says otherwise; a waived finding never does); else ``inconclusive`` if anything went unexamined;
    else ``clean``.  A leak wins over inconclusive: what was seen is enough to fail."""
    profile = profile or DEFAULT_PROFILE
    judged = [f if isinstance(f, Mapping) else _judged_fields(f) for f in findings]
    for d in judged:
        if profile.waiver_for(d) is None and profile.fails(d):
            return "leak"
    return "inconclusive" if standing(not_examined, judged, profile) else "clean"


def exit_code(report: dict[str, Any]) -> int:
    """0 clean, 1 suspected leak, 3 inconclusive, from a report's verdict."""
    return EXIT_CODES[report["verdict"]]


def build_report(findings: list[Finding], runs: list[dict[str, Any]], captures: list[dict[str, Any]],
                 errors: list[dict[str, str]] | None = None, notes: list[str] | None = None,
                 not_examined: Sequence[NotExamined] = (), *, profile: Profile | None = None,
                 session: dict[str, Any] | None = None,
                 locations: Mapping[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The report of one session.  ``profile`` judges the findings (each says whether it ``fails`` the
    test and, when a reviewer or the profile's scope set it aside, why it is ``waived``); ``session``
    says how the session ran and whether it is over (``state``: finished, running, interrupted);
    ``locations`` (flow -> capture, frame, byte offset) place each finding in the recordings."""
    profile = profile or DEFAULT_PROFILE
    locations = locations or {}
    ordered = sorted(findings, key=lambda f: (-severity_rank(f.severity), f.t_first, f.id))
    rows = []
    for f in ordered:
        d = finding_dict(f)
        d["location"] = locations.get(f.flow)
        d["waived"] = profile.waiver_for(d)
        d["fails"] = d["waived"] is None and profile.fails(d)
        rows.append(d)
    failing = any(d["fails"] for d in rows)
    not_examined = standing(not_examined, rows, profile)
    return {
        "schema": SCHEMA,
        "verdict": "leak" if failing else "inconclusive" if not_examined else "clean",
        "session": dict(session) if session else {"state": "finished"},
        "profile": profile.to_dict(),
        "runs": runs,
        "captures": captures,
        "findings": rows,
        "not_examined": [dict(n) for n in not_examined],
        "errors": aggregate_errors(errors or []),
        "notes": notes or [],
    }


def _judged_fields(f: Finding) -> dict[str, Any]:
    return {"id": f.id, "severity": f.severity, "kind": f.kind, "channel": f.channel, "destination": f.destination,
            "flow": f.flow}


def finding_dict(f: Finding) -> dict[str, Any]:
    d = f.to_dict()
    d["chain"] = list(d["chain"])
    return d


def write_json(report: dict[str, Any], path: str | Path) -> None:
    """Write atomically and private; every string valid UTF-8 without control characters (names
    from the run folder reach the report too), so any JSON reader takes it."""
    write_private(path, json.dumps(safe_tree(report), indent=2, default=str) + "\n")

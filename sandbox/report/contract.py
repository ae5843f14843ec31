"""The ``sandbox.report/1`` document (DESIGN.md "Report contract"); other tools read it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sandbox.model import Finding, NotExamined, severity_rank
from sandbox.report.errors import aggregate_errors
from sandbox.report.private import write_private
from sandbox.safetext import safe_tree

SCHEMA = "sandbox.report/1"
GATING_RANK = severity_rank("high")  # high or critical fails the acceptance test
VERDICTS = ("clean", "leak", "inconclusive")
# Exit status per verdict (DESIGN.md); 2 (bad input) and 70 (internal error) are the CLI's.
EXIT_CODES = {"clean": 0, "leak": 1, "inconclusive": 3}
# What a person reads: terminal summary, HTML report, dashboard banner.
VERDICT_WORDS = {"clean": "CLEAN", "leak": "SUSPECTED LEAK", "inconclusive": "INCONCLUSIVE"}


def verdict(findings: Iterable[Finding], not_examined: Sequence[NotExamined] = ()) -> str:
    """``leak`` if any finding is high or critical; else ``inconclusive`` if anything went unexamined;
    else ``clean``.  A leak wins over inconclusive: what was seen is enough to fail."""
    if any(severity_rank(f.severity) >= GATING_RANK for f in findings):
        return "leak"
    return "inconclusive" if not_examined else "clean"


def exit_code(report: dict[str, Any]) -> int:
    """0 clean, 1 suspected leak, 3 inconclusive, from a report's verdict."""
    return EXIT_CODES[report["verdict"]]


def build_report(findings: list[Finding], runs: list[dict[str, Any]], captures: list[dict[str, Any]],
                 errors: list[dict[str, str]] | None = None, notes: list[str] | None = None,
                 not_examined: Sequence[NotExamined] = ()) -> dict[str, Any]:
    ordered = sorted(findings, key=lambda f: (-severity_rank(f.severity), f.t_first, f.id))
    return {
        "schema": SCHEMA,
        "verdict": verdict(ordered, not_examined),
        "runs": runs,
        "captures": captures,
        "findings": [finding_dict(f) for f in ordered],
        "not_examined": [dict(n) for n in not_examined],
        "errors": aggregate_errors(errors or []),
        "notes": notes or [],
    }


def finding_dict(f: Finding) -> dict[str, Any]:
    d = f.to_dict()
    d["chain"] = list(d["chain"])
    return d


def write_json(report: dict[str, Any], path: str | Path) -> None:
    """Write atomically and private; every string valid UTF-8 without control characters (names
    from the run folder reach the report too), so any JSON reader takes it."""
    write_private(path, json.dumps(safe_tree(report), indent=2, default=str) + "\n")

"""The ``sandbox.report/1`` document (DESIGN.md "Report contract"); other tools read it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sandbox.model import Finding, severity_rank

SCHEMA = "sandbox.report/1"
GATING_RANK = severity_rank("high")  # high or critical fails the acceptance test


def verdict(findings: Iterable[Finding]) -> str:
    return "leak" if any(severity_rank(f.severity) >= GATING_RANK for f in findings) else "clean"


def exit_code(findings: Iterable[Finding]) -> int:
    """0 clean, 1 suspected leak (2, bad input, is the CLI's to return)."""
    return 1 if verdict(findings) == "leak" else 0


def build_report(findings: list[Finding], runs: list[dict[str, Any]], captures: list[dict[str, Any]],
                 errors: list[dict[str, str]] | None = None, notes: list[str] | None = None) -> dict[str, Any]:
    ordered = sorted(findings, key=lambda f: (-severity_rank(f.severity), f.t_first, f.id))
    return {
        "schema": SCHEMA,
        "verdict": verdict(ordered),
        "runs": runs,
        "captures": captures,
        "findings": [finding_dict(f) for f in ordered],
        "errors": errors or [],
        "notes": notes or [],
    }


def finding_dict(f: Finding) -> dict[str, Any]:
    d = f.to_dict()
    d["chain"] = list(d["chain"])
    return d


def write_json(report: dict[str, Any], path: str | Path) -> None:
    """Write atomically and private: reports name samples and destinations."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(report, fh, indent=2, default=str)
        fh.write("\n")
    os.replace(tmp, path)

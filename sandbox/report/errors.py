"""The report's ``errors``: each kind of error once, with how often it happened and where first.

Hostile input makes errors by the million (a half-open flow each, a malformed datagram each); one
row per occurrence made a 112 MB report.  A kind is the message with its numbers blanked
("corrupt record header at byte 10 (frame 3)" and "... byte 99 (frame 7)" are one kind); each row
keeps the first occurrence as ``where``/``error`` (what readers of ``sandbox.report/1`` use), the
``count`` and the first few ``examples``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from sandbox.model import MAX_FLOW_ERRORS, MORE_ERRORS, FlowInfo

# Occurrences shown per kind: enough to find them in the capture.
MAX_EXAMPLES = 3
# Kinds listed; past them one row counts the rest (a parser echoing hostile bytes makes every
# message its own kind).
MAX_KINDS = 200
_NUMBER = re.compile(r"0x[0-9a-fA-F]+|\d+")


def flow_errors(info: FlowInfo) -> Iterator[dict[str, Any]]:
    """A flow's errors as report rows, with the counts a flow summary or a capped flow kept."""
    summary = info.meta.get("summary")
    if isinstance(summary, dict) and isinstance(summary.get("errors"), dict):
        for message, count in summary["errors"].items():
            yield {"where": info.flow, "error": message, "count": count}
        return
    for message in info.errors[:MAX_FLOW_ERRORS]:
        yield {"where": info.flow, "error": message}
    if info.errors_dropped:
        yield {"where": info.flow, "error": MORE_ERRORS, "count": info.errors_dropped}


def error_kind(message: str) -> str:
    """The message with its numbers blanked: what stays the same when the error repeats."""
    return _NUMBER.sub("#", message)


def aggregate_errors(errors: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``{"where", "error"}`` occurrences (or rows already aggregated) as one row per kind, in order."""
    rows: dict[str, dict[str, Any]] = {}
    other: dict[str, Any] | None = None
    for err in errors:
        where, message = str(err.get("where", "")), str(err.get("error", ""))
        count = int(err.get("count", 1))
        examples = err.get("examples") or [{"where": where, "error": message}]
        kind = error_kind(message)
        row = rows.get(kind)
        if row is None and len(rows) >= MAX_KINDS:
            if other is None:
                other = {"where": where, "error": "other kinds of error", "count": 0, "examples": []}
            row = other
        elif row is None:
            row = rows[kind] = {"where": where, "error": message, "count": 0, "examples": []}
        row["count"] += count
        room = MAX_EXAMPLES - len(row["examples"])
        if room > 0:
            row["examples"].extend(examples[:room])
    out = list(rows.values())
    if other is not None:
        out.append(other)
    return out

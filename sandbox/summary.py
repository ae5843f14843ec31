"""The findings table printed at the end of a replay: what a lab engineer reads first.

Names from the traffic and the run folder are printed with their control characters escaped
(``safe_tree``), so none can clear the screen, retitle the terminal or forge a line of its own.
"""

from __future__ import annotations

from typing import Any, TextIO

from sandbox.report.contract import VERDICT_WORDS
from sandbox.safetext import safe_tree
from sandbox.units import human_bytes


def print_summary(report: dict[str, Any], out: TextIO) -> None:
    report = safe_tree(report)
    findings = report["findings"]
    verdict = VERDICT_WORDS[report["verdict"]]
    packets = sum(c["packets"] for c in report["captures"])
    print(f"\nverdict: {verdict}   findings: {len(findings)}   packets: {packets}", file=out)
    for run in report["runs"]:
        print(f"run {run['run_id']}: {len(run['samples'])} samples ({run['path']})", file=out)
    if findings:
        print(f"\n{'severity':9} {'kind':14} {'chan':6} {'destination':28} {'matched':>9}  what", file=out)
    for f in findings:
        what = ", ".join(f["samples"][:3]) or ", ".join(f["identifiers"][:3])
        if f["files"]:
            what += (" | " if what else "") + ", ".join(m["path"].rsplit("/", 1)[-1] for m in f["files"][:2])
        print(f"{f['severity']:9} {f['kind']:14} {f['channel']:6} {(f['destination'] or '-')[:28]:28} "
              f"{human_bytes(f['bytes_matched']):>9}  {what}", file=out)
        print(f"{'':9} chain: {' > '.join(f['chain'])}", file=out)
    for n in report.get("not_examined", []):
        print(f"not examined: {n['what']} in {n['where']} ({n['packets']} packets, {human_bytes(n['bytes'])})",
              file=out)
    if report.get("errors"):
        total = sum(e.get("count", 1) for e in report["errors"])
        first = report["errors"][0]
        print(f"\n{total} input problem(s) of {len(report['errors'])} kind(s); first: {first['where']}: "
              f"{first['error']}", file=out)

"""JUnit XML: one test case per acceptance check (``sandbox.report.checks``), so a CI system shows the
questions a lab asks; a failing check carries its findings, an unexamined or broken input is an error.

XML 1.0 cannot hold most C0 control characters even as references, and a CI system that cannot
parse the file loses the gate's report: every string is made safe first (``safe_tree``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from sandbox.report.checks import CheckResult, evaluate
from sandbox.report.private import write_private
from sandbox.safetext import safe_tree

SUITE = "sandbox.acceptance"


def write_junit(report: dict[str, Any], path: str | Path) -> None:
    report = safe_tree(report)
    results = evaluate(report)
    suite = ET.Element("testsuite", name=SUITE, tests=str(len(results)),
                       failures=str(sum(r.status == "fail" for r in results)),
                       errors=str(sum(r.status == "error" for r in results)), skipped="0")
    props = ET.SubElement(suite, "properties")
    profile = report.get("profile", {})
    session = report.get("session", {})
    for name, value in (("verdict", report["verdict"]), ("session", session.get("state", "finished")),
                        ("profile", profile.get("name", "default")), ("profile.sha256", profile.get("sha256", ""))):
        ET.SubElement(props, "property", name=name, value=str(value))
    for run in report["runs"]:
        ET.SubElement(props, "property", name="run", value=f"{run['run_id']} ({run['path']})")
    for cap in report["captures"]:
        ET.SubElement(props, "property", name="capture", value=cap["path"])
    for result in results:
        _case(suite, result)
    write_private(path, ET.tostring(suite, encoding="utf-8", xml_declaration=True))


def _case(suite: ET.Element, r: CheckResult) -> None:
    case = ET.SubElement(suite, "testcase", classname=f"{SUITE}.{r.id}", name=r.name)
    failing = r.failing
    if failing:
        ET.SubElement(case, "failure", type=r.id,
                      message=f"{len(failing)} finding(s) fail: {describe(failing[0]).splitlines()[0]}").text = (
            "\n\n".join(describe(f) for f in failing))
    elif r.not_examined:
        ET.SubElement(case, "error", type="inconclusive",
                      message=f"not examined: {r.not_examined[0]['what']}").text = "\n".join(
            f"{n['what']} in {n['where']}: {n['packets']} packets, {n['bytes']} bytes could not be examined"
            for n in r.not_examined)
    elif r.errors:
        ET.SubElement(case, "error", type="input", message=f"{len(r.errors)} input error(s): "
                      f"{r.errors[0].get('where', '')}: {r.errors[0].get('error', '')}{_times(r.errors[0])}").text = (
            "\n".join(f"{e.get('where', '')}: {e.get('error', '')}{_times(e)}" for e in r.errors))
    rest = [f for f in r.findings if not f.get("fails")]
    out = [r.description] + [describe(f) for f in rest]
    ET.SubElement(case, "system-out").text = "\n\n".join(out)


def describe(f: dict[str, Any]) -> str:
    """A finding as the lines a CI log shows: what, where, how it was wrapped, what matched."""
    head = f"{f['severity']} {f['kind']} on {f['channel']} to {f['destination'] or '-'}"
    if f.get("waived"):
        head = f"WAIVED ({f['waived']['reason']}; {f['waived'].get('by') or 'reviewer'}): " + head
    lines = [head, f"flow: {f['flow']}", f"{f['bytes_matched']} bytes of run data matched, {f['bytes_out']} bytes out"]
    loc = f.get("location")
    if loc:
        at = f", byte {loc['byte_offset']}" if loc.get("byte_offset") is not None else ""
        lines.append(f"capture: {loc['capture']} frame {loc['frame']}{at}")
    lines.append("chain: " + " > ".join(f["chain"]))
    if f["samples"]:
        lines.append("samples: " + ", ".join(f["samples"]))
    for fm in f["files"]:
        lines.append(f"file: {fm['path']} ({fm['bytes_matched']} bytes, {fm['fraction']:.1%})")
    if f["identifiers"]:
        lines.append("identifiers: " + ", ".join(f["identifiers"]))
    lines.append(f"finding id: {f['id']}")
    return "\n".join(lines)


def _times(error: dict[str, Any]) -> str:
    """" (xN)" for an error that happened N > 1 times (see sandbox.report.errors)."""
    count = error.get("count", 1)
    return f" (x{count})" if count > 1 else ""

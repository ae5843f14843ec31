"""JUnit XML: one test case per finding, so CI systems list each suspected leak.

XML 1.0 cannot hold most C0 control characters even as references, and a CI system that cannot
parse the file loses the gate's report: every string is made safe first (``safe_tree``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from sandbox.model import severity_rank
from sandbox.report.contract import GATING_RANK
from sandbox.report.private import write_private
from sandbox.safetext import safe_tree


def write_junit(report: dict[str, Any], path: str | Path) -> None:
    report = safe_tree(report)
    findings = report["findings"]
    failing = [f for f in findings if severity_rank(f["severity"]) >= GATING_RANK]
    blind = report.get("not_examined", [])
    suite = ET.Element("testsuite", name="sandbox.replay", tests=str(max(1, len(findings)) + len(blind)),
                       failures=str(len(failing)), errors=str(len(report.get("errors", [])) + len(blind)))
    props = ET.SubElement(suite, "properties")
    for run in report["runs"]:
        ET.SubElement(props, "property", name="run", value=f"{run['run_id']} ({run['path']})")
    for cap in report["captures"]:
        ET.SubElement(props, "property", name="capture", value=cap["path"])
    if not findings:
        ET.SubElement(suite, "testcase", classname="sandbox.verdict", name="no suspected leaks")
    for f in findings:
        case = ET.SubElement(suite, "testcase", classname=f"sandbox.{f['channel']}.{f['kind']}",
                             name=f"{f['severity']}: {f['kind']} to {f['destination'] or f['flow']}")
        text = describe(f)
        if severity_rank(f["severity"]) >= GATING_RANK:
            ET.SubElement(case, "failure", message=text.splitlines()[0], type=f["kind"]).text = text
        else:
            ET.SubElement(case, "system-out").text = text
    for n in blind:  # unexamined traffic fails the gate as an error: the verdict is inconclusive
        case = ET.SubElement(suite, "testcase", classname="sandbox.not_examined", name=f"{n['what']} in {n['where']}")
        ET.SubElement(case, "error", message=f"not examined: {n['what']}", type="inconclusive").text = (
            f"{n['packets']} packets, {n['bytes']} bytes in {n['where']} could not be examined")
    for err in report.get("errors", []):
        case = ET.SubElement(suite, "testcase", classname="sandbox.input", name=err.get("where", "input"))
        times = f" (x{err['count']})" if err.get("count", 1) > 1 else ""
        ET.SubElement(case, "error", message=err.get("error", "") + times).text = err.get("error", "") + times
    write_private(path, ET.tostring(suite, encoding="utf-8", xml_declaration=True))


def describe(f: dict[str, Any]) -> str:
    lines = [f"{f['bytes_matched']} bytes of run data matched on {f['flow']}"]
    lines.append("chain: " + " > ".join(f["chain"]))
    if f["samples"]:
        lines.append("samples: " + ", ".join(f["samples"]))
    for fm in f["files"]:
        lines.append(f"file: {fm['path']} ({fm['bytes_matched']} bytes, {fm['fraction']:.1%})")
    if f["identifiers"]:
        lines.append("identifiers: " + ", ".join(f["identifiers"]))
    return "\n".join(lines)

"""SARIF 2.1.0: one result per finding, located in the capture file, for code-scanning dashboards.

Each finding kind is a rule (id, help text, a security severity GitHub code scanning understands);
each finding a result at the capture file: ``region.startLine`` is the frame number (one frame per
line, as ``tshark -r CAPTURE`` lists them: the only line a capture has), ``byteOffset``/``byteLength``
where that frame's record lies in the file.  A waived finding is a result with an accepted
suppression carrying the reviewer's reason: shown as waived, never dropped.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote

from sandbox.report.private import write_private
from sandbox.safetext import safe_tree

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL = "instrument-traffic-sandbox"
FINGERPRINT = "sandboxFinding/v1"  # partialFingerprints key: the finding id is stable across replays
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub code scanning's scale (properties.security-severity): >= 9 critical, >= 7 high, >= 4 medium.
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}

# kind -> (name, short description, help, worst severity the kind reaches)
RULES: dict[str, tuple[str, str, str, str]] = {
    "run-bytes": ("RunFileBytesLeft", "Bytes of a run file left the instrument",
                  "Outbound traffic carried a fragment of a file of the run folder (raw or decompressed), "
                  "possibly compressed, encoded, chunked or archived on the way: the decode chain says how. "
                  "Critical when a large share of a file left.", "critical"),
    "sequence": ("RunReadsLeft", "Reads of the run left the instrument",
                 "Outbound traffic carried DNA sequence of the run's reads (re-formatted, reverse-complemented "
                 "or re-compressed still matches): which samples, and what share of each, is in the finding.",
                 "critical"),
    "variants": ("RunVariantsLeft", "Variant calls of the run left the instrument",
                 "Outbound traffic carried variant records of the run's VCF (positions with their alleles), "
                 "re-written in any text: JSON, CSV, HGVS names, genotype lists. They are human genetic "
                 "data: how many of the run's variants, and whose, is in the finding.", "critical"),
    "identifier": ("RunIdentifierLeft", "An identifier of the run left the instrument",
                   "A sample, run, flowcell, instrument or project identifier of the run was sent out: "
                   "a metadata leak says who was sequenced.", "medium"),
    "opaque-volume": ("OpaqueUpload", "A large upload the rig cannot read, to an unlisted destination",
                      "The rig could not see into what these flows sent (ciphertext no key opened, or content "
                      "sealed or packed in a form no decoder opens), and its volume is large enough to carry "
                      "run data: give the TLS keys (--tls-keylog), find out what the instrument sends, or allow "
                      "the destination.", "medium"),
    "destination": ("UnlistedDestination", "The instrument talked to a destination outside the allow-list",
                    "Add the destination to the bench allow-list (--allow or the profile's "
                    "destinations.allowed) if it is expected, or find out why the instrument contacts it.", "low"),
    "dns-tunnel": ("DnsTunnel", "Data carried in DNS query names",
                   "Query names with long, high-entropy labels under one zone: data leaving through the "
                   "resolver. High when run data was found in them.", "high"),
    "usb-device": ("NewUsbDevice", "A storage, network or serial USB device appeared on the instrument",
                   "A USB device that can carry data off the instrument (a stick, a modem or network adapter, a "
                   "USB-serial adapter) was plugged in during the session: what it carried is in the other "
                   "findings on its device.", "medium"),
    "encrypted": ("EncryptedFlow", "An encrypted flow",
                  "Informational: the flow's TLS names and volume. Its detail says whether the rig decrypted "
                  "it (its content was then correlated like any other); without keys the rig judges it by "
                  "destination and volume only.", "info"),
}
GENERIC_RULE = ("SuspiciousTraffic", "Suspicious traffic", "A finding of the instrument traffic sandbox.", "medium")


def sarif(report: dict[str, Any], version: str = "") -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log (one run)."""
    report = safe_tree(report)
    kinds = list(dict.fromkeys([*RULES, *(f["kind"] for f in report["findings"])]))
    rule_index = {k: i for i, k in enumerate(kinds)}
    captures = [c["path"] for c in report["captures"]]
    artifacts = [{"location": {"uri": _uri(p)}, "description": {"text": "capture"}} for p in captures]
    results = [_result(f, rule_index, captures) for f in report["findings"]]
    run: dict[str, Any] = {
        "tool": {"driver": {"name": TOOL, "semanticVersion": version or "0.1.0", "rules": [_rule(k) for k in kinds]}},
        "automationDetails": {"id": f"sandbox/{report.get('profile', {}).get('name', 'default')}/"},
        "artifacts": artifacts,
        "results": results,
        "invocations": [{"executionSuccessful": report.get("session", {}).get("state", "finished") == "finished",
                         "toolExecutionNotifications": _notifications(report)}],
        "properties": {"verdict": report["verdict"], "session": report.get("session", {}),
                       "profile": {k: report.get("profile", {}).get(k) for k in ("name", "source", "sha256")}},
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def write_sarif(report: dict[str, Any], path: str | Path) -> None:
    write_private(path, json.dumps(sarif(report), indent=2) + "\n")


def _rule(kind: str) -> dict[str, Any]:
    name, short, text, worst = RULES.get(kind, GENERIC_RULE)
    return {
        "id": kind, "name": name,
        "shortDescription": {"text": short},
        "fullDescription": {"text": text},
        "help": {"text": text, "markdown": f"**{short}.** {text}"},
        "defaultConfiguration": {"level": LEVELS.get(worst, "warning")},
        "properties": {"tags": ["security", "data-exfiltration"], "security-severity": SECURITY_SEVERITY[worst]},
    }


def _result(f: dict[str, Any], rule_index: dict[str, int], captures: list[str]) -> dict[str, Any]:
    loc = f.get("location") or {}
    capture = loc.get("capture") or (captures[0] if captures else "capture")
    region: dict[str, Any] = {"startLine": max(1, int(loc.get("frame") or 1))}
    if loc.get("byte_offset") is not None:
        region.update(byteOffset=int(loc["byte_offset"]), byteLength=int(loc.get("byte_length") or 0))
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(capture)}, "region": region}
    if capture in captures:
        physical["artifactLocation"]["index"] = captures.index(capture)
    where = f"frame {loc['frame']} of {capture}" if loc.get("frame") else capture
    text = (f"{f['severity']} {f['kind']}: {f['bytes_matched']} bytes of run data to {f['destination'] or '-'} "
            f"on {f['channel']} ({where}); chain: {' > '.join(f['chain'])}")
    if f["samples"]:
        text += f"; samples: {', '.join(f['samples'][:10])}"
    result: dict[str, Any] = {
        "ruleId": f["kind"], "ruleIndex": rule_index[f["kind"]], "level": LEVELS.get(f["severity"], "warning"),
        "message": {"text": text},
        "locations": [{"physicalLocation": physical,
                       "logicalLocations": [{"name": f["flow"] or f["destination"] or "-", "kind": "flow"}]}],
        "partialFingerprints": {FINGERPRINT: f["id"]},
        "properties": {k: f[k] for k in ("id", "severity", "channel", "flow", "destination", "t_first", "t_last",
                                         "bytes_out", "bytes_matched", "run_id", "samples", "files", "chain",
                                         "identifiers") if k in f},
    }
    related = [{"id": i + 1, "physicalLocation": {"artifactLocation": {"uri": _uri(m["path"]), "uriBaseId": "RUNDIR"}},
                "message": {"text": f"{m['bytes_matched']} bytes ({m['fraction']:.1%}) of this run file"}}
               for i, m in enumerate(f["files"])]
    if related:
        result["relatedLocations"] = related
    if f.get("waived"):
        w = f["waived"]
        result["suppressions"] = [{"kind": "external", "status": "accepted",
                                   "justification": f"{w['reason']} ({w.get('by') or 'reviewer'}: {w.get('waiver', '')})"}]
    return result


def _notifications(report: dict[str, Any]) -> list[dict[str, Any]]:
    """What the rig could not examine and the input errors: a SARIF consumer sees the blind spots."""
    out = [{"level": "error", "message": {"text": f"not examined: {n['what']} in {n['where']} "
                                                  f"({n['packets']} packets, {n['bytes']} bytes)"}}
           for n in report.get("not_examined", [])]
    out += [{"level": "warning", "message": {"text": f"{e.get('where', '')}: {e.get('error', '')}"}}
            for e in report.get("errors", [])]
    return out


def _uri(path: str) -> str:
    """A file path as a URI reference: absolute ones as file: URIs, relative ones percent-encoded."""
    p = PurePath(path)
    if p.is_absolute():
        return "file://" + quote(p.as_posix(), safe="/")
    return quote(p.as_posix(), safe="/")

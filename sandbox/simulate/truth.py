"""A scenario's truth once played, and the check of a report against it.

Playing a scenario (offline into captures, or live through the rig) fixes where each leg went: the
host a network leg named, the serial port or USB device the rig saw.  ``LegTruth`` is that leg's
expectation there; ``check`` says, in one line per problem, where a report differs from it:

- every kind a leg expects is evidence of a finding at its destination (its ``kind`` or among its
  ``evidence_kinds``), at least ``least``, naming its sample and file;
- no finding at a destination is worse than the ``worst`` of the legs that went there;
- no finding lands where no leg went.

``essence`` is what a live session and the replay of its recording must agree on exactly.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from sandbox.model import SEVERITIES, severity_rank

TRUTH_FILE = "truth.json"
TRUTH_SCHEMA = "sandbox.truth/1"


@dataclass(frozen=True)
class LegTruth:
    name: str
    channel: str
    destination: str
    expect: tuple[str, ...] = ()
    least: str = "info"
    worst: str = "low"
    sample: str = ""
    file: str = ""


def write_truth(path: Path, scenario: str, run_dir: Path, allow: list[str], legs: list[LegTruth]) -> None:
    doc = {"schema": TRUTH_SCHEMA, "scenario": scenario, "run": str(run_dir), "allow": allow,
           "legs": [asdict(leg) for leg in legs]}
    Path(path).write_text(json.dumps(doc, indent=2) + "\n")


def read_truth(path: Path) -> tuple[dict, list[LegTruth]]:
    doc = json.loads(Path(path).read_text())
    return doc, [LegTruth(**{**leg, "expect": tuple(leg["expect"])}) for leg in doc["legs"]]


def check(legs: list[LegTruth], report: dict) -> list[str]:
    """Where ``report`` differs from the truth: one line each; ``[]`` when it matches."""
    problems: list[str] = []
    findings = report.get("findings", [])
    at: dict[tuple[str, str], list[dict]] = {}
    for f in findings:
        at.setdefault((f["channel"], f["destination"]), []).append(f)
    for leg in legs:
        here = at.get((leg.channel, leg.destination), [])
        for kind in leg.expect:
            hits = [f for f in here if kind in kinds_of(f)]
            if not hits:
                problems.append(f"{leg.name}: no {kind} evidence at {leg.destination} "
                                f"(found there: {sorted({k for f in here for k in kinds_of(f)}) or 'nothing'})")
            elif max(severity_rank(f["severity"]) for f in hits) < severity_rank(leg.least):
                problems.append(f"{leg.name}: {kind} at {leg.destination} is {_worst(hits)}, expected at least "
                                f"{leg.least}")
        if leg.expect and leg.sample and not any(leg.sample in f.get("samples", []) for f in here):
            problems.append(f"{leg.name}: sample {leg.sample} not named at {leg.destination}")
        if leg.expect and leg.file and not any(m["path"] == leg.file for f in here for m in f.get("files", [])):
            problems.append(f"{leg.name}: file {leg.file} not named at {leg.destination}")
    bound: dict[tuple[str, str], int] = {}
    for leg in legs:
        key = (leg.channel, leg.destination)
        bound[key] = max(bound.get(key, 0), severity_rank(leg.worst))
    for (channel, destination), here in sorted(at.items()):
        if (channel, destination) not in bound:
            problems.append(f"no leg went to {channel} {destination}, yet: "
                            + ", ".join(sorted(f"{f['kind']} ({f['severity']})" for f in here)))
            continue
        worse = [f for f in here if severity_rank(f["severity"]) > bound[(channel, destination)]]
        if worse:
            problems.append(f"{destination}: {', '.join(sorted(f['kind'] + ' ' + f['severity'] for f in worse))} "
                            f"is worse than the scenario's {SEVERITIES[bound[(channel, destination)]]}")
    return problems


def kinds_of(finding: dict) -> list[str]:
    """The kinds of evidence of one finding (one leak, one finding: ``kind`` is the strongest of them)."""
    return [finding["kind"], *finding.get("evidence_kinds", [])]


def _worst(findings: list[dict]) -> str:
    return SEVERITIES[max(severity_rank(f["severity"]) for f in findings)]


def essence(report: dict) -> list[tuple]:
    """What live and replay must agree on: kinds of evidence, severities, channels, destinations, samples, files."""
    return sorted((f["kind"], tuple(f.get("evidence_kinds", [])), f["severity"], f["channel"], f["destination"],
                   tuple(f.get("samples", [])), tuple(m["path"] for m in f.get("files", [])))
                  for f in report.get("findings", []))

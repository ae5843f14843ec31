"""The acceptance checks a report answers, one per question a lab asks; JUnit and HTML list them.

Every finding lands in exactly one check (the first whose question it answers, ``other`` last), so
no finding is lost between checks; every ``not_examined`` entry in one of the two blind-spot checks.
A check fails when one of its findings fails the acceptance test (``finding["fails"]``: the profile's
rule, waivers applied); it is in error when the traffic it needs could not be examined.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.correlate.allow import AllowList
from sandbox.report.profile import PROFILE_WHERE

CONTENT_KINDS = frozenset(("run-bytes", "sequence", "variants"))
SENT_KINDS = CONTENT_KINDS | {"identifier"}  # what the instrument wrote out of the run itself


@dataclass(frozen=True)
class Check:
    """One acceptance question; ``selects(finding, allow)`` says whether a finding answers it."""

    id: str
    name: str
    description: str
    selects: Callable[[dict[str, Any], AllowList], bool]


def _listed(f: dict[str, Any], allow: AllowList) -> bool:
    return bool(allow) and allow.allows(str(f.get("destination", "")))


CHECKS = (
    Check("usb-writes", "no USB mass-storage writes",
          "no run data or identifiers written to a USB device (mass storage or any other OUT transfer)",
          lambda f, _: f["channel"] == "usb" and f["kind"] in SENT_KINDS),
    Check("serial-out", "no run data over serial lines",
          "no run data or identifiers sent over a serial line",
          lambda f, _: f["channel"] == "serial" and f["kind"] in SENT_KINDS),
    Check("run-data-unlisted", "no run data to unlisted destinations",
          "no run file bytes or reads of the run sent to a destination outside the allow-list",
          lambda f, allow: f["kind"] in CONTENT_KINDS and not _listed(f, allow)),
    Check("run-data-listed", "no run data to allow-listed destinations",
          "no run file bytes or reads sent even to an allowed destination (DESIGN.md: run content is a leak "
          "wherever it goes)",
          lambda f, allow: f["kind"] in CONTENT_KINDS),
    Check("identifiers", "no identifiers out",
          "no sample, run, flowcell, instrument or project identifier of the run sent out",
          lambda f, _: f["kind"] == "identifier"),
    Check("dns-tunnels", "no DNS tunnels", "no data carried in DNS query names",
          lambda f, _: f["kind"] == "dns-tunnel"),
    Check("opaque-uploads", "no opaque uploads to unlisted destinations",
          "no upload the rig cannot read (encrypted, sealed) large enough to carry run data to a destination "
          "outside the allow-list",
          lambda f, _: f["kind"] == "opaque-volume"),
    Check("unlisted-destinations", "no unlisted destinations",
          "the instrument talked only to destinations on the allow-list",
          lambda f, _: f["kind"] == "destination"),
    Check("other", "no other suspicious traffic", "every other observation of the traffic (e.g. encrypted flows)",
          lambda f, _: True),
)
TELEMETRY = ("expected-telemetry", "expected telemetry seen and channels in scope captured",
             "what the acceptance profile says the rig must see was seen: otherwise it may not be inline")
EXAMINED = ("examined", "nothing left unexamined",
            "all captured traffic could be read and decoded (an unknown link type or a decoding limit on "
            "outbound data makes the verdict inconclusive)")
INPUT = ("input", "captures and run folders read without errors",
         "corrupt flows, capture damage and unreadable run files (listed; the rest was examined)")


@dataclass
class CheckResult:
    id: str
    name: str
    description: str
    findings: list[dict[str, Any]] = field(default_factory=list)
    not_examined: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def failing(self) -> list[dict[str, Any]]:
        return [f for f in self.findings if f.get("fails")]

    @property
    def waived(self) -> list[dict[str, Any]]:
        return [f for f in self.findings if f.get("waived")]

    @property
    def status(self) -> str:
        """``fail`` (a finding fails the test), ``error`` (blind or broken input), else ``pass``."""
        if self.failing:
            return "fail"
        return "error" if self.not_examined or self.errors else "pass"


def evaluate(report: dict[str, Any]) -> list[CheckResult]:
    """Every check of the report, in order, with the findings, blind spots and errors it holds."""
    allow = AllowList(report.get("profile", {}).get("allowed", []) + report.get("profile", {}).get("cli_allowed", [])
                      + report.get("profile", {}).get("expected_telemetry", []))
    results = [CheckResult(c.id, c.name, c.description) for c in CHECKS]
    for f in report["findings"]:
        for check, result in zip(CHECKS, results, strict=True):
            if check.selects(f, allow):
                result.findings.append(f)
                break
    telemetry, examined, inputs = (CheckResult(*TELEMETRY), CheckResult(*EXAMINED), CheckResult(*INPUT))
    for n in report.get("not_examined", []):
        (telemetry if n.get("where") == PROFILE_WHERE else examined).not_examined.append(n)
    inputs.errors.extend(report.get("errors", []))
    return [*results, telemetry, examined, inputs]

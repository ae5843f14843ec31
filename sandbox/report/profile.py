"""Acceptance profiles: what one lab's acceptance test allows, expects and fails on (TOML).

One profile is shared by the session (its allow-list feeds the correlator like ``--allow``), the
reports and ``sandbox report`` (which findings fail the test, which are waived).  Without a profile
the rule is DESIGN.md's: any high or critical finding fails; nothing is waived.

A profile changes the verdict only in these documented ways:

- ``[fail]``: a finding fails the test when its severity is in ``severities`` or its kind in ``kinds``;
- ``[[waiver]]``: a finding a reviewer judged benign (matched by id, destination and/or kind, with a
  reason) never fails the test, and every report lists it as waived, never drops it;
- ``[scope] channels``: findings on other channels are shown as waived ("out of scope"); a channel in
  scope with no capture on it is traffic the rig did not examine (the verdict cannot be clean);
- ``[destinations] expected_telemetry``: allowed destinations the instrument always talks to; when
  none of their traffic is seen the rig was probably not inline: not examined, never clean.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.correlate.allow import AllowList
from sandbox.correlate.allow import _host as host_of  # the allow-list's own reading of a host
from sandbox.model import CHANNELS, SEVERITIES, NotExamined

DEFAULT_FAIL_SEVERITIES = ("high", "critical")  # DESIGN.md: any high or critical finding means a leak
# Kinds whose findings a destination on the allow-list makes moot (content findings never are).
ALLOWABLE_KINDS = frozenset(("destination", "opaque-volume"))
MAX_PROFILE_BYTES = 1 << 20  # a profile is a page of settings; anything bigger is not one
PROFILE_WHERE = "acceptance profile"  # ``where`` of what a profile makes unexamined

_TABLES = {"name": str, "description": str, "destinations": dict, "fail": dict, "scope": dict, "waiver": list}
_KEYS = {"destinations": ("allowed", "expected_telemetry"), "fail": ("severities", "kinds"), "scope": ("channels",)}
_WAIVER_KEYS = ("id", "destination", "kind", "reason", "by")


def _unverified(finding: Mapping[str, Any]) -> bool:
    detail = finding.get("detail")
    return isinstance(detail, Mapping) and bool(detail.get("unverified"))


class ProfileError(ValueError):
    """A profile that cannot be used as written: the run must not go on under a rule nobody meant."""


@dataclass(frozen=True)
class Waiver:
    """A reviewer's judgement that findings matching every field given are benign."""

    reason: str
    id: str = ""
    destination: str = ""
    kind: str = ""
    by: str = ""

    def matches(self, finding: Mapping[str, Any]) -> bool:
        """Every field given matches; a destination never matches a finding named only by the instrument's
        word (``detail.unverified``: a server name or Host nobody the rig trusts vouched for)."""
        if self.id and finding.get("id") != self.id:
            return False
        if self.kind and finding.get("kind") != self.kind:
            return False
        if self.destination and _unverified(finding):
            return False
        return not self.destination or host_of(str(finding.get("destination", ""))) == host_of(self.destination)

    def describe(self) -> str:
        parts = [f"{k} {v}" for k, v in (("id", self.id), ("destination", self.destination), ("kind", self.kind)) if v]
        return " and ".join(parts)


@dataclass(frozen=True)
class Profile:
    """An acceptance profile; ``Profile()`` is the default (DESIGN.md's rule, nothing waived)."""

    name: str = "default"
    description: str = ""
    source: str = ""          # the file it was read from
    sha256: str = ""          # of that file, so a report names exactly which rules it applied
    text: str = ""            # the file itself (kept in the store, bundled with the evidence)
    allowed: tuple[str, ...] = ()
    expected_telemetry: tuple[str, ...] = ()
    fail_severities: tuple[str, ...] = DEFAULT_FAIL_SEVERITIES
    fail_kinds: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()    # empty: every channel in scope, none required
    cli_allowed: tuple[str, ...] = ()  # --allow given beside the profile (same allow-list)
    waivers: tuple[Waiver, ...] = field(default_factory=tuple)

    # -- reading ---------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> Profile:
        path = Path(path)
        try:
            raw = path.read_bytes()[: MAX_PROFILE_BYTES + 1]
        except OSError as exc:
            raise ProfileError(f"cannot read profile {path}: {exc.strerror or exc}") from None
        if len(raw) > MAX_PROFILE_BYTES:
            raise ProfileError(f"profile {path} is over {MAX_PROFILE_BYTES} bytes: not a profile")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProfileError(f"profile {path} is not UTF-8 text") from None
        return cls.parse(text, source=str(path))

    @classmethod
    def parse(cls, text: str, source: str = "") -> Profile:
        where = f"profile {source}" if source else "profile"
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ProfileError(f"{where}: not valid TOML: {exc}") from None
        for key, value in data.items():
            kind = _TABLES.get(key)
            if kind is None:
                raise ProfileError(f"{where}: unknown setting {key!r} (known: {', '.join(_TABLES)})")
            if not isinstance(value, kind):
                raise ProfileError(f"{where}: {key!r} must be a {'table' if kind is dict else kind.__name__}")
        for table, keys in _KEYS.items():
            unknown = set(data.get(table, {})) - set(keys)
            if unknown:
                raise ProfileError(f"{where}: unknown setting {table}.{sorted(unknown)[0]} (known: {', '.join(keys)})")
        dest, fail, scope = data.get("destinations", {}), data.get("fail", {}), data.get("scope", {})
        severities = _strings(fail.get("severities", list(DEFAULT_FAIL_SEVERITIES)), f"{where}: fail.severities")
        bad = [s for s in severities if s not in SEVERITIES]
        if bad:
            raise ProfileError(f"{where}: fail.severities: unknown severity {bad[0]!r} (known: {', '.join(SEVERITIES)})")
        channels = _strings(scope.get("channels", []), f"{where}: scope.channels")
        bad = [c for c in channels if c not in CHANNELS]
        if bad:
            raise ProfileError(f"{where}: scope.channels: unknown channel {bad[0]!r} (known: {', '.join(CHANNELS)})")
        allowed = _strings(dest.get("allowed", []), f"{where}: destinations.allowed")
        telemetry = _strings(dest.get("expected_telemetry", []), f"{where}: destinations.expected_telemetry")
        return cls(name=_text(data.get("name", Path(source).stem if source else "profile")),
                   description=_text(data.get("description", "")), source=source,
                   sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(), text=text,
                   allowed=tuple(allowed), expected_telemetry=tuple(telemetry),
                   fail_severities=tuple(s for s in SEVERITIES if s in severities),
                   fail_kinds=tuple(_strings(fail.get("kinds", []), f"{where}: fail.kinds")),
                   channels=tuple(c for c in CHANNELS if c in channels),
                   waivers=tuple(_waiver(w, f"{where}: waiver {i + 1}") for i, w in enumerate(data.get("waiver", []))))

    def with_cli_allowed(self, allowed: Iterable[str]) -> Profile:
        """This profile with the ``--allow`` entries of the command line beside its own."""
        from dataclasses import replace

        return replace(self, cli_allowed=tuple(dict.fromkeys([*self.cli_allowed, *allowed])))

    # -- what the session uses -----------------------------------------------------------------
    @property
    def allow_list(self) -> list[str]:
        """Everything the instrument may talk to: ``--allow``, the profile's allowed destinations and
        its expected telemetry (the same allow-list the correlator judges destinations with)."""
        return list(dict.fromkeys([*self.cli_allowed, *self.allowed, *self.expected_telemetry]))

    # -- judging findings ----------------------------------------------------------------------
    def waiver_for(self, finding: Mapping[str, Any]) -> dict[str, str] | None:
        """Why this finding does not count toward the verdict, or None when it does."""
        for waiver in self.waivers:
            if waiver.matches(finding):
                return {"reason": waiver.reason, "by": waiver.by, "waiver": waiver.describe()}
        if self.channels and finding.get("channel") not in self.channels:
            return {"reason": f"channel {finding.get('channel')} is outside the profile's scope",
                    "by": "profile scope", "waiver": f"scope.channels = {list(self.channels)}"}
        if finding.get("kind") in ALLOWABLE_KINDS and self.allow_list and not _unverified(finding) and AllowList(
                self.allow_list).allows(str(finding.get("destination", ""))):
            return {"reason": "destination allowed by the profile", "by": "profile destinations",
                    "waiver": f"destination {finding.get('destination')}"}
        return None

    def fails(self, finding: Mapping[str, Any]) -> bool:
        """True when this (unwaived) finding fails the acceptance test."""
        return finding.get("severity") in self.fail_severities or finding.get("kind") in self.fail_kinds

    def unexamined(self, flow_names: Iterable[Iterable[str]], captured_channels: Iterable[str]) -> list[NotExamined]:
        """What the profile says the rig should have seen and did not: a channel in scope with no capture,
        expected telemetry with no flow (``flow_names``: each flow's destination, address, SNI, Host)."""
        out = self.uncaptured(captured_channels)
        if self.expected_telemetry:
            seen = {n for names in flow_names for n in names if n}
            for dest in self.expected_telemetry:
                wanted = AllowList([dest])
                if not any(wanted.allows(n) for n in seen):
                    out.append(NotExamined(where=PROFILE_WHERE, what=f"expected telemetry to {dest} was not seen: "
                                           "the rig may not be inline", packets=0, bytes=0))
        return out

    def uncaptured(self, captured_channels: Iterable[str]) -> list[NotExamined]:
        """Channels in scope that no capture of the session carries (known as soon as it starts)."""
        captured = set(captured_channels)
        return [NotExamined(where=PROFILE_WHERE, what=f"channel {channel} is in scope but was not captured",
                            packets=0, bytes=0) for channel in self.channels if channel not in captured]

    # -- what reports and the store keep -------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The profile as a report shows it (the store keeps this, with ``text``)."""
        return {
            "name": self.name, "description": self.description, "source": self.source, "sha256": self.sha256,
            "allowed": list(self.allowed), "cli_allowed": list(self.cli_allowed),
            "expected_telemetry": list(self.expected_telemetry),
            "fail": {"severities": list(self.fail_severities), "kinds": list(self.fail_kinds)},
            "channels": list(self.channels or CHANNELS),
            "waivers": [{"id": w.id, "destination": w.destination, "kind": w.kind, "reason": w.reason, "by": w.by}
                        for w in self.waivers],
        }

    def stored(self) -> dict[str, Any]:
        """What the store keeps to rebuild this profile: the file's text and the command line's allow-list."""
        return {"text": self.text, "source": self.source, "cli_allowed": list(self.cli_allowed)}

    @classmethod
    def from_stored(cls, value: Mapping[str, Any] | None) -> Profile:
        if not value:
            return cls()
        text = value.get("text") or ""
        profile = cls.parse(text, source=value.get("source", "")) if text else cls()
        return profile.with_cli_allowed(value.get("cli_allowed", []))


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProfileError(f"{what} must be a list of strings")
    return [_text(v) for v in value if v.strip()]


def _text(value: Any) -> str:
    from sandbox.safetext import MAX_TEXT, safe_text

    return safe_text(str(value), MAX_TEXT).strip()


def _waiver(value: Any, where: str) -> Waiver:
    if not isinstance(value, dict):
        raise ProfileError(f"{where} must be a table ([[waiver]])")
    unknown = set(value) - set(_WAIVER_KEYS)
    if unknown:
        raise ProfileError(f"{where}: unknown setting {sorted(unknown)[0]!r} (known: {', '.join(_WAIVER_KEYS)})")
    if not all(isinstance(v, str) for v in value.values()):
        raise ProfileError(f"{where}: every setting must be a string")
    fields = {k: _text(v) for k, v in value.items()}
    if not any(fields.get(k) for k in ("id", "destination", "kind")):
        raise ProfileError(f"{where} names no finding: give an id, a destination or a kind")
    if not fields.get("reason"):
        raise ProfileError(f"{where} has no reason: a waiver records why a reviewer judged the finding benign")
    return Waiver(**fields)

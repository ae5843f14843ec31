"""Opaque volume per destination: what the rig could not read, summed over the flows that carried it.

A flow's opaque volume is the larger of the ciphertext no key opened (TLS without keys, QUIC, SSH,
WireGuard: ``FlowInfo.sealed_out`` or its bytes out) and the content its decoders could not open
(``sandbox.decode.unopened``: an encrypted bundle in a decrypted HTTPS upload, random bytes over raw
TCP, an encrypted file written to a USB stick).  A destination's tally is the sum over its flows, so an
upload cut into many connections, each below the threshold, weighs what it weighs whole; and
``spread`` adds up the destinations each below the threshold, so an upload cut over many unlisted
hosts weighs what it weighs whole too.

Bounded: the flows remembered are capped (least recently seen let go; one seen again is counted
again, an over-count, never an under-count), and past ``MAX_DESTINATIONS`` the rest of a channel's
destinations share one tally.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from sandbox.model import FlowInfo, NotExamined

# What an opaque-volume finding leaves unexamined (DESIGN.md: never clean when blind): its row in the
# report's not_examined says so, so the verdict is inconclusive at least; allowing the destination is
# how a lab says that traffic is expected.
UNREADABLE = ("content the rig could not read (no key opened it, no decoder did), enough to carry run data, "
              "sent to a destination off the allow-list: its opaque-volume finding says where")
# Flows remembered: ~200 bytes each, ~55 MB at most.  A flow let go and judged again counts again, so
# a flood of more opaque flows than this over-counts (never under-counts).
MAX_FLOWS = 1 << 18
MAX_DESTINATIONS = 4096
OTHER_DESTINATIONS = "(other destinations)"
# The destination of the opaque volume spread over destinations each below the threshold.
SPREAD = "(destinations each below the threshold)"
SPREAD_LISTED = 10     # destinations a spread names, largest first
ALLOWED = ("", "")      # the key of an allow-listed flow's entry


@dataclass(slots=True)
class Tally:
    """One (channel, destination): opaque bytes over its flows, and what names them."""

    channel: str
    destination: str
    total: int = 0
    unopened: int = 0            # of which content no decoder opened
    flows: int = 0
    first_flow: str = ""
    t_first: float = float("inf")
    t_last: float = float("-inf")
    chain: list[str] = field(default_factory=list)
    app: str = ""
    sni: str = ""
    listed: dict[str, int] = field(default_factory=dict)   # a spread's largest destinations, their bytes
    destinations: int = 1
    unverified: bool = False     # a flow of it named this destination and nobody vouched for its address


@dataclass(slots=True)
class _Flow:
    unopened: int = 0            # content bytes no decoder opened, as scanned
    counted: int = 0             # volume in its tally
    counted_unopened: int = 0
    key: tuple[str, str] | None = None     # its tally, once judged
    fallback: tuple[str, str] = ("", "")   # where its content goes if let go before it is judged


def sealed_volume(info: FlowInfo) -> int:
    """Outbound ciphertext of ``info`` that no key opened (its handshakes are read, not weighed)."""
    if info.sealed:
        return info.sealed_out
    return info.tls_out if info.encrypted and not info.decrypted else 0


class OpaqueBook:
    def __init__(self) -> None:
        self._flows: OrderedDict[str, _Flow] = OrderedDict()
        self.tallies: dict[tuple[str, str], Tally] = {}
        self.overflowed = False    # a flow was let go or a destination shared a tally: order mattered

    def absorb(self, other: OpaqueBook, names: dict[str, str]) -> None:
        """Take in the book of a later stretch of traffic replayed apart (no flow in both; flows
        renamed by ``names`` as one replay would name them): the book one replay would hold."""
        for flow, entry in other._flows.items():
            self._flows[names.get(flow, flow)] = entry
        for key, theirs in other.tallies.items():
            theirs.first_flow = names.get(theirs.first_flow, theirs.first_flow)
            mine = self.tallies.setdefault(key, theirs)
            if mine is not theirs:
                mine.total += theirs.total
                mine.unopened += theirs.unopened
                mine.flows += theirs.flows
                mine.t_first, mine.t_last = min(mine.t_first, theirs.t_first), max(mine.t_last, theirs.t_last)
                mine.first_flow, mine.chain = mine.first_flow or theirs.first_flow, mine.chain or theirs.chain
                mine.app, mine.sni = mine.app or theirs.app, mine.sni or theirs.sni
                mine.unverified |= theirs.unverified
        self.overflowed |= other.overflowed

    def unopened(self, flow: str, channel: str, destination: str, size: int) -> None:
        """``size`` bytes of ``flow``'s outbound content look like ciphertext no decoder opened."""
        entry = self._entry(flow)
        entry.unopened += size
        if entry.key is None:
            entry.fallback = (channel, destination)

    def judge(self, info: FlowInfo, destination: str, unverified: bool = False) -> Tally | None:
        """Count ``info`` (a flow not allow-listed) in its destination's tally; that tally if it has
        any opaque bytes.  ``unverified``: the flow named ``destination`` and nobody vouched for it."""
        if "summary" in info.meta:
            return None    # flows folded into it were judged one by one before (they linger 10 s at least)
        entry = self._flows.get(info.flow)
        unopened = entry.unopened if entry is not None else 0
        volume = max(sealed_volume(info), unopened)
        if volume <= 0:
            return None
        if entry is None:
            entry = self._entry(info.flow)
        else:
            self._flows.move_to_end(info.flow)
        if entry.key is None or entry.key == ALLOWED:
            entry.key = self._key(info.channel, destination)
        tally = self.tallies[entry.key]
        if not tally.chain:
            tally.chain = [info.transport] + ([info.app] if info.app else [])
        self._add(info.flow, entry, tally, volume, min(unopened, volume))
        tally.t_first = min(tally.t_first, info.t_first)
        tally.t_last = max(tally.t_last, info.t_last)
        tally.app = tally.app or info.sealed or info.app
        tally.sni = tally.sni or str(info.meta.get("sni", ""))
        tally.unverified |= unverified
        return tally

    def unreadable(self, threshold: int) -> list[NotExamined]:
        """A not_examined row for each destination whose opaque volume reached ``threshold``, and one
        for the volume spread over the others when that reached it."""
        tallies = [t for t in self.tallies.values() if t.total >= threshold]
        spread = self.spread(threshold)
        return [NotExamined(where=t.first_flow, what=UNREADABLE, packets=0, bytes=t.total)
                for t in tallies + ([spread] if spread else [])]

    def spread(self, threshold: int) -> Tally | None:
        """The destinations each below ``threshold`` taken together, when they reach it (an upload cut
        over many hosts): one tally named ``SPREAD``, located by its largest destination's first flow,
        whose ``listed`` names the largest destinations.  It is withdrawn (None) when a destination
        grows past the threshold and what the others hold together no longer reaches it: that
        destination's own tally says it then."""
        below = [t for t in self.tallies.values() if 0 < t.total < threshold]
        if len(below) < 2 or sum(t.total for t in below) < threshold:
            return None
        below.sort(key=lambda t: (-t.total, t.channel, t.destination))
        largest = below[0]
        return Tally(largest.channel, SPREAD, total=sum(t.total for t in below),
                     unopened=sum(t.unopened for t in below), flows=sum(t.flows for t in below),
                     first_flow=largest.first_flow, t_first=min(t.t_first for t in below),
                     t_last=max(t.t_last for t in below), chain=list(largest.chain), app=largest.app,
                     sni=largest.sni, listed={t.destination: t.total for t in below[:SPREAD_LISTED]},
                     destinations=len(below), unverified=any(t.unverified for t in below))

    def allowed(self, flow: str) -> None:
        """``flow`` is allow-listed: its content never weighs."""
        self._entry(flow).key = ALLOWED

    def close(self) -> None:
        """The session ended: content of flows never judged (folded into a summary of the flow table
        before their last payload was weighed) counts where its payloads went."""
        for flow, entry in self._flows.items():
            if entry.key is None:
                self._let_go(flow, entry)
                entry.key = entry.fallback

    def _key(self, channel: str, destination: str) -> tuple[str, str]:
        key = (channel, destination)
        if key not in self.tallies:
            if len(self.tallies) >= MAX_DESTINATIONS:
                key = (channel, OTHER_DESTINATIONS)
                self.overflowed = True
            self.tallies.setdefault(key, Tally(channel, key[1]))
        return key

    def _entry(self, flow: str) -> _Flow:
        entry = self._flows.get(flow)
        if entry is None:
            entry = self._flows[flow] = _Flow()
            if len(self._flows) > MAX_FLOWS:
                self._let_go(*self._flows.popitem(last=False))
                self.overflowed = True
        return entry

    def _let_go(self, flow: str, old: _Flow) -> None:
        """A flow let go: content scanned since it was last judged still counts."""
        if old.key == ALLOWED or old.unopened <= old.counted:
            return
        self._add(flow, old, self.tallies[old.key or self._key(*old.fallback)], old.unopened, old.unopened)

    @staticmethod
    def _add(flow: str, entry: _Flow, tally: Tally, volume: int, unopened: int) -> None:
        """``flow``'s opaque volume (of which ``unopened`` no decoder opened) is now this: what its
        tally did not count yet is added."""
        if entry.counted == 0:
            tally.flows += 1
            tally.first_flow = tally.first_flow or flow
        tally.total += max(0, volume - entry.counted)
        tally.unopened += max(0, unopened - entry.counted_unopened)
        entry.counted = max(volume, entry.counted)
        entry.counted_unopened = max(unopened, entry.counted_unopened)

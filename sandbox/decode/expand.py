"""The recursive expander: a payload in, every decodable reading of it out, within limits.

Breadth-first over views: each view is sniffed by every registered decoder; what a decoder
yields becomes a new view whose chain gains the decoder's label.  Identical outputs are kept
once (the first, shallowest chain wins; compared by length, then bytes), so a structure that decodes to the same bytes by two
paths cannot multiply.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from sandbox.decode.base import Budget, Decoder
from sandbox.decode.limits import Limits, size_text
from sandbox.model import View
from sandbox.safetext import safe_text


@dataclass(slots=True)
class Expansion:
    views: list[View]
    notes: list[str] = field(default_factory=list)


class _Seen:
    """Outputs kept so far, by length: equal bytes are found by comparing the few candidates of
    the same length (memcmp), with no hashing pass over every view."""

    __slots__ = ("by_len",)

    def __init__(self) -> None:
        self.by_len: dict[int, list[bytes]] = {}

    def add(self, data: bytes) -> bool:
        """True if new."""
        same = self.by_len.setdefault(len(data), [])
        if any(data == other for other in same):
            return False
        same.append(data)
        return True


def _where(chain: tuple[str, ...]) -> str:
    return chain[-1] if chain else "input"


def run(decoders: Sequence[type[Decoder]], data: bytes, chain: tuple[str, ...], limits: Limits) -> Expansion:
    """Expand ``data`` with ``decoders`` (see ``sandbox.decode.expand``)."""
    views = [View(data, tuple(chain))]
    notes: list[str] = []
    seen = _Seen()
    seen.add(data)
    total = 0
    queue: deque[tuple[View, int, type[Decoder] | None]] = deque([(views[0], 0, None)])

    def note(text: str) -> None:
        if text not in notes:
            notes.append(text)

    while queue:
        view, depth, producer = queue.popleft()
        size = len(view.data)
        structural_hit = False
        for dec in decoders:
            if dec is producer and not dec.reapply:
                continue
            if dec.text and size < limits.min_text:
                continue
            if dec.embedded and structural_hit:
                continue
            try:
                if not dec.sniff(view.data):
                    continue
            except Exception as exc:  # as below: reported, never raised
                note(f"error: {dec.name} sniff raised {type(exc).__name__}: {exc} at {_where(view.chain)}")
                continue
            if depth >= limits.max_depth:
                note(f"limit: depth {limits.max_depth} reached in {dec.name} at {_where(view.chain)}")
                continue
            left = limits.max_total_bytes - total
            by_ratio = max(size * limits.max_ratio, limits.ratio_floor)
            if by_ratio <= left:
                budget = Budget(by_ratio, f"expansion ratio {limits.max_ratio}x")
            else:
                budget = Budget(left, f"total output {size_text(limits.max_total_bytes)}")
            members = 0
            outputs = dec.decode(view.data, budget)
            try:
                for label, out in outputs:
                    if not out:
                        continue
                    if members >= limits.max_members:
                        note(
                            f"limit: {limits.max_members} members reached in {dec.name} at {_where(view.chain)}"
                        )
                        break
                    if len(views) >= limits.max_views:
                        note(f"limit: {limits.max_views} views reached in {dec.name} at {_where(view.chain)}")
                        return Expansion(views, notes)
                    if len(out) > budget.remaining:
                        budget.exhausted()
                        break
                    members += 1
                    budget.remaining -= len(out)
                    total += len(out)
                    if dec.structural and len(out) >= limits.min_text:
                        structural_hit = True
                    if not seen.add(out):
                        continue
                    # labels carry the payload's own names (tar members, file names): made safe here
                    child = View(out, view.chain + (safe_text(label),))
                    views.append(child)
                    queue.append((child, depth + 1, dec))
            except Exception as exc:  # a decoder bug must not lose the payload; it is reported
                note(f"error: {dec.name} raised {type(exc).__name__}: {exc} at {_where(view.chain)}")
            finally:
                close = getattr(outputs, "close", None)
                if close is not None:
                    close()
            if budget.hit:
                note(f"limit: {budget.hit} reached in {dec.name} at {_where(view.chain)}")
    return Expansion(views, notes)

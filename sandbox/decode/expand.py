"""The recursive expander: a payload in, every decodable reading of it out, within a budget.

Breadth-first over views: each view is sniffed by every registered decoder; what a decoder
yields becomes a new view whose chain gains the decoder's label.  Identical outputs are kept
once (the first, shallowest chain wins), so a structure that decodes to the same bytes by two
paths cannot multiply.  The work is bounded by the bytes produced and the views made (see
``limits.py``); a limit that stops decoding is returned as a ``LimitHit``, never dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from sandbox.decode import magic, text
from sandbox.decode.base import Budget, Decoder
from sandbox.decode.limits import LimitHit, Limits, size_text
from sandbox.model import View
from sandbox.safetext import safe_text


@dataclass(frozen=True, slots=True)
class Unread:
    """A part a decoder found in a view and could not read (a compression method it does not know):
    ``what`` it is, in which ``decoder``, the ``chain`` of the view, and its ``size`` in bytes."""

    what: str
    decoder: str
    chain: tuple[str, ...]
    size: int


@dataclass(slots=True)
class Expansion:
    """``views`` (the input first); ``explained``, per view, the bytes decoded out of it (a view
    with random bytes its decoders do not account for is content the rig cannot read); ``limits``
    that stopped decoding, where, and how much they left undecoded; ``unread``, parts decoders found
    and could not read; ``notes`` on decoder bugs (a decoder that raised is reported, not fatal)."""

    views: list[View]
    explained: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    limits: list[LimitHit] = field(default_factory=list)
    unread: list[Unread] = field(default_factory=list)


class _Seen:
    """Outputs kept so far, by length: the first of a length is compared with one memcmp; more of
    the same length go into a set, so equal bytes are found by hash (each output hashed once), and
    a flood of same-length outputs costs linear, not quadratic, time."""

    __slots__ = ("by_len",)

    def __init__(self) -> None:
        self.by_len: dict[int, bytes | set[bytes]] = {}

    def add(self, data: bytes) -> bool:
        """True if new."""
        other = self.by_len.get(len(data))
        if other is None:
            self.by_len[len(data)] = data
            return True
        if isinstance(other, bytes):
            if other == data:
                return False
            self.by_len[len(data)] = {other, data}
            return True
        if data in other:
            return False
        other.add(data)
        return True


def _where(chain: tuple[str, ...]) -> str:
    return chain[-1] if chain else "input"


def outside(data: bytes, spans: list[tuple[int, int]]) -> bytes:
    """The bytes of ``data`` no span covers, in their order, joined (a stream cut across the gaps
    between an archive's members reads as one)."""
    pieces = []
    at = 0
    for start, end in sorted(spans):
        if start > at:
            pieces.append(data[at:start])
        at = max(at, end)
    pieces.append(data[at:])
    return b"".join(pieces)


def run(decoders: Sequence[type[Decoder]], data: bytes, chain: tuple[str, ...], limits: Limits) -> Expansion:
    """Expand ``data`` with ``decoders`` (see ``sandbox.decode.expand``)."""
    views = [View(data, tuple(chain))]
    exp = Expansion(views, [0])
    hits: set[tuple[str, str, tuple[str, ...]]] = set()
    seen = _Seen()
    seen.add(data)
    total = 0
    queue: deque[tuple[int, int, type[Decoder] | None]] = deque([(0, 0, None)])

    def hit(limit: str, dec: type[Decoder], view: View, left: int) -> None:
        if (limit, dec.name, view.chain) not in hits:
            hits.add((limit, dec.name, view.chain))
            exp.limits.append(LimitHit(limit, dec.name, view.chain, left))

    def note(text: str) -> None:
        if text not in exp.notes:
            exp.notes.append(text)

    total_limit = f"total output {size_text(limits.max_total_bytes)}"

    def add(at: int, depth: int, dec: type[Decoder], label: str, out: bytes) -> None:
        exp.explained[at] += len(out)
        if not seen.add(out):
            return
        # labels carry the payload's own names (tar members, file names): made safe here
        views.append(View(out, views[at].chain + (safe_text(label),)))
        exp.explained.append(0)
        queue.append((len(views) - 1, depth + 1, dec))

    while queue:
        at, depth, producer = queue.popleft()
        view = views[at]
        size = len(view.data)
        structural_hit = False
        for dec in decoders:
            if dec is producer and not dec.reapply:
                continue
            if dec.text and size < limits.min_text:
                continue
            if (dec.embedded or dec.unstructured) and structural_hit:
                continue
            try:
                if not dec.sniff(view.data):
                    continue
            except Exception as exc:  # as below: reported, never raised
                note(f"error: {dec.name} sniff raised {type(exc).__name__}: {exc} at {_where(view.chain)}")
                continue
            if depth >= limits.max_depth:
                hit(f"depth {limits.max_depth}", dec, view, size)
                continue
            left = limits.max_total_bytes - total
            by_ratio = limits.ratio_allowance(size)
            if by_ratio <= left:
                budget = Budget(by_ratio, f"expansion ratio {limits.max_ratio}x")
            else:
                budget = Budget(left, total_limit)
            members = 0
            took_apart = False
            outputs = dec.decode(view.data, budget)
            try:
                for label, out in outputs:
                    if not out:
                        continue
                    if members >= limits.max_members:
                        hit(f"{limits.max_members} members", dec, view, size)
                        break
                    if len(views) >= limits.max_views:
                        unexpanded = size + sum(len(views[i].data) for i, _, _ in queue)
                        hit(f"{limits.max_views} views", dec, view, unexpanded)
                        magic.forget()
                        text.forget()
                        return exp
                    if len(out) > budget.remaining:
                        budget.exhausted(left=size)
                        break
                    members += 1
                    budget.remaining -= len(out)
                    total += len(out)
                    if dec.structural and len(out) >= limits.min_text:
                        took_apart = True
                    add(at, depth, dec, label, out)
            except Exception as exc:  # a decoder bug must not lose the payload; it is reported
                note(f"error: {dec.name} raised {type(exc).__name__}: {exc} at {_where(view.chain)}")
            finally:
                close = getattr(outputs, "close", None)
                if close is not None:
                    close()
            exp.explained[at] -= min(budget.inflated, exp.explained[at])
            structural_hit = structural_hit or took_apart
            if budget.hit:
                hit(budget.hit, dec, view, budget.left or size)
            elif took_apart and budget.spans is not None:
                # bytes the structure does not hold (appended, between members, in a comment) are no
                # part of it: searched on their own, as the view would have been without it
                rest = outside(view.data, budget.spans)
                if len(rest.strip(b"\0")) >= limits.min_text:   # (an archive's zero padding alone is none)
                    if len(views) >= limits.max_views:
                        hit(f"{limits.max_views} views", dec, view, len(rest))
                    elif total + len(rest) > limits.max_total_bytes:
                        hit(total_limit, dec, view, len(rest))
                    else:
                        total += len(rest)
                        add(at, depth, dec, f"outside {dec.name}", rest)
            exp.unread += (Unread(what, dec.name, view.chain, part) for what, part in budget.unread)
        magic.forget()
        text.forget()
    return exp

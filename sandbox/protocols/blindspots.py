"""Flows whose outbound traffic the rig could not examine as it read it, by kind, in bounded memory.

A hostile instrument can give every flow it opens a blind spot (one forged packet, one byte sent
twice, a SYN from each end): the first ``MAX_NAMED`` flows of each kind are report rows of their own,
the rest one row per kind.  That row is exact all the same: a flow counts there from its kind's first
sight, what it adds while active is read from it when the report asks, and it is folded in when the
flow retires.  Memory: ``MAX_NAMED`` flows a kind, and the active flows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.model import FlowInfo, NotExamined

MAX_NAMED = 256       # flows of one kind named in the report; the rest share one row


@dataclass
class BlindSpot:
    """One kind: what its rows say, the FlowInfo field that measures it, and in which unit."""

    what: str
    field: str
    unit: str = "bytes"           # or "packets"
    named: dict[int, FlowInfo] = field(default_factory=dict)      # id(info) -> info, first come
    active: dict[int, FlowInfo] = field(default_factory=dict)     # the rest, while their flow is active
    rest_flows: int = 0
    rest_retired: int = 0         # what the rest measured when their flows retired

    def add(self, info: FlowInfo) -> None:
        key = id(info)
        if key in self.named or key in self.active:
            return
        if len(self.named) < MAX_NAMED:
            self.named[key] = info
        else:
            self.active[key] = info
            self.rest_flows += 1

    def retire(self, info: FlowInfo) -> None:
        gone = self.active.pop(id(info), None)
        if gone is not None:
            self.rest_retired += getattr(gone, self.field)

    def rows(self) -> list[NotExamined]:
        rows = [self._row(info.flow, getattr(info, self.field)) for info in self.named.values()
                if getattr(info, self.field)]
        rest = self.rest_retired + sum(getattr(info, self.field) for info in self.active.values())
        if self.rest_flows and rest:
            rows.append(self._row(f"{self.rest_flows} other flows", rest))
        return rows

    def _row(self, where: str, n: int) -> NotExamined:
        packets, size = (n, 0) if self.unit == "packets" else (0, n)
        return NotExamined(where=where, what=self.what, packets=packets, bytes=size)


class BlindSpots:
    """Every kind a Dissector reports (``not_examined``), in the order of its rows."""

    def __init__(self, kinds: list[BlindSpot]) -> None:
        self.kinds = {kind.what: kind for kind in kinds}

    def add(self, what: str, info: FlowInfo) -> None:
        self.kinds[what].add(info)

    def named(self, info: FlowInfo) -> bool:
        """Whether ``info`` is named in a row (its record keeps its name when the flow ends)."""
        key = id(info)
        return any(key in kind.named for kind in self.kinds.values())

    def retire(self, info: FlowInfo) -> None:
        for kind in self.kinds.values():
            kind.retire(info)

    def rows(self) -> list[NotExamined]:
        return [row for kind in self.kinds.values() for row in kind.rows()]

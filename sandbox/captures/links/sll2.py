"""LINKTYPE_LINUX_SLL2 (276): Linux "cooked" capture v2, 20-byte header, protocol at offset 0.

Its header says on which interface (index) the packet was seen and whether the capturing host sent
it (packet type 4, outgoing) or received it: the rig records its instrument-facing link this way, so
that what arrived from the instrument's side is known whatever address it claims (``side``).
"""

from __future__ import annotations

OUTGOING = 4        # PACKET_OUTGOING: the capturing host sent it


def network(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[0:2], "big"), 20


def side(data: bytes) -> dict[str, int]:
    """{"arrived": interface index} for a packet the capturing host received there, {"left": ...} for
    one it sent."""
    return {"left" if data[10] == OUTGOING else "arrived": int.from_bytes(data[4:8], "big")}

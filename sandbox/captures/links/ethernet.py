"""LINKTYPE_ETHERNET (1): Ethernet II, with any stack of 802.1Q / 802.1ad (QinQ) VLAN tags.

Also the inner frame of every tunnel that carries Ethernet (``encaps/ethernet.py``).
"""

from __future__ import annotations

VLAN_TPIDS = frozenset((0x8100, 0x88A8, 0x9100, 0x9200))
# Tags we peel before giving up: QinQ is 2; a deeper stack is a malformed or hostile frame.
MAX_VLAN_TAGS = 4


def network(data: bytes, off: int = 0) -> tuple[int, int]:
    """(ethertype, offset of what follows); an ethertype up to 0x05FF is an 802.3 length (LLC follows)."""
    ethertype = int.from_bytes(data[off + 12:off + 14], "big")
    off += 14
    for _ in range(MAX_VLAN_TAGS):
        if ethertype not in VLAN_TPIDS:
            break
        ethertype = int.from_bytes(data[off + 2:off + 4], "big")
        off += 4
    return ethertype, off

"""The rule for what may go unread: only listed protocols are harmless, and every stop is named."""

from __future__ import annotations

from sandbox.captures import numbers
from sandbox.captures.encaps import DECAPS
from sandbox.captures.examined import NAMES, NOT_DATA, describe


def test_nothing_we_peel_is_called_harmless_and_every_reason_says_why():
    assert not set(NOT_DATA) & set(DECAPS)
    assert all(len(reason) > 20 and ":" in reason for reason in NOT_DATA.values())


def test_every_frame_kind_a_decapsulator_can_stop_at_is_named_or_harmless():
    kinds = [value for name, value in vars(numbers).items()
             if name.isupper() and isinstance(value, int) and value > numbers.FRAME]
    assert kinds and all(kind in NAMES or kind in NOT_DATA or kind in DECAPS for kind in kinds)


def test_descriptions():
    assert describe(0x8137) == "ethertype 0x8137 (IPX)"
    assert describe(numbers.IP_PROTO | 132) == "IP protocol 132 (SCTP)"
    assert describe(numbers.PPP_PROTO | 0x00FD) == "PPP protocol 0x00fd (CCP-compressed datagram)"
    assert describe(numbers.UDP_PORT | 4789) == "UDP port 4789 (VXLAN)"
    assert describe(numbers.FAMILY | 7) == "address family 7"
    assert describe(0x0042) == "802.3 frames without LLC"
    assert describe(numbers.WLAN_PROTECTED) == "802.11 protected (encrypted) data frames"
    assert describe(0x88B7) == "ethertype 0x88b7"

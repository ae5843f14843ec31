"""PPPoE sessions (ethertype 0x8864, RFC 2516), over plain Ethernet, VLAN or QinQ: a PPP frame.

The 6-byte header: version and type (0x11), code (0 for session data), session id, length.
Discovery (0x8863) sets the session up and carries no user data (``examined.py``).
"""

from __future__ import annotations

from sandbox.captures.encaps.header import Header
from sandbox.captures.numbers import PPP

SESSION = Header("pppoe", ("version_type", "B"), ("code", "B"), ("session", "H"), ("length", "H"))
PPPOE_SESSION = 0x8864


def decap(data: bytes, off: int) -> tuple[int, int]:
    header = SESSION.unpack(data, off)
    if header.version_type != 0x11:
        raise ValueError(f"PPPoE version/type 0x{header.version_type:02x}, not 0x11")
    return PPP, off + SESSION.size


REGISTER = {PPPOE_SESSION: decap}

"""Protocol numbers: one integer space for "what comes next", so every layer names the next by an int.

Ethertypes are themselves (0x0600-0xFFFF; a value below 0x0600 is an 802.3 length: LLC follows).
Every other numbering plan sits in its own block above 0xFFFF: ``IP_PROTO | 47`` is GRE,
``PPP_PROTO | 0x0021`` is IPv4 in PPP, ``UDP_PORT | 4789`` is VXLAN.  ``FRAME | n`` names frame
kinds that have no number of their own (802.11 management frames, an ERSPAN frame type, ...): a
decapsulator returns one of those when it stops, and ``sandbox.captures.examined`` says whether
what it stopped at could carry data.  One dict lookup per layer, no tuples on the per-packet path.
"""

from __future__ import annotations

IPV4 = 0x0800
IPV6 = 0x86DD
TEB = 0x6558                 # transparent Ethernet bridging: an Ethernet frame follows
MAX_LENGTH = 0x05FF          # an Ethernet type field up to here is an 802.3 length (LLC follows)

IP_PROTO = 1 << 16           # | IP protocol number (IANA protocol-numbers)
PPP_PROTO = 2 << 16          # | PPP protocol field (RFC 1661, IANA ppp-numbers)
UDP_PORT = 3 << 16           # | a UDP port a tunnel is registered on
FAMILY = 4 << 16             # | an address family of a loopback link header we do not know
LLC_SAP = 5 << 16            # | DSAP of an 802.2 LLC header that is not SNAP
CISCO_SNAP = 6 << 16         # | protocol id under Cisco's SNAP OUI 00-00-0C
ARCNET_PROTO = 7 << 16       # | an ARCNET protocol id we do not read
FRAME = 8 << 16              # | a frame kind with no number of its own (below)

LLC = FRAME | 1              # an 802.2 LLC header (an 802.3 length field, or 802.11 / ARCNET bodies)
WLAN = FRAME | 2             # an 802.11 MAC frame
WLAN_MANAGEMENT = FRAME | 3
WLAN_CONTROL = FRAME | 4
WLAN_NO_DATA = FRAME | 5     # data frames without a body: null function, QoS null
WLAN_PROTECTED = FRAME | 6   # WEP/TKIP/CCMP-encrypted data frames
WLAN_AMSDU = FRAME | 7       # aggregated MSDUs: several frames in one
WLAN_FRAGMENT = FRAME | 8    # one fragment of a fragmented MSDU
SNAP_OTHER = FRAME | 9       # SNAP under an organisation's OUI we do not know
ERSPAN_FRAME = FRAME | 10    # an ERSPAN type III frame type other than Ethernet or IP
GTP_SIGNALLING = FRAME | 11  # GTP-U messages other than user data (echo, error indication, end marker)
SLIP_COMPRESSED = FRAME | 12  # Van Jacobson compressed TCP over SLIP
EMPTY = FRAME | 13           # a layer with no bytes after its header
NOT_IP = FRAME | 14          # a payload that should be IP and is not (bad version nibble)
OSI_ROUTING = FRAME | 15     # IS-IS and ES-IS under the OSI SAP (routing, no user data)
PPP = FRAME | 16             # a PPP frame: [FF 03] protocol field, then what it names
MPLS_TOO_DEEP = FRAME | 17   # an MPLS label stack deeper than we follow
CMD_IN_GRE = FRAME | 18      # Cisco MetaData as GRE carries it (its ethertype first)
PPP_CONTROL_LONG = FRAME | 19  # a PPP control packet longer than negotiation needs (echo or discard data...)
DECLINED = -1                # a UDP tunnel's answer for a payload that is not its own: it stays UDP

# BSD address families for IPv6 differ by OS (Linux 10, FreeBSD 28, macOS 30, NetBSD/OpenBSD 24).
AF_INET = 2
AF_INET6 = frozenset((10, 24, 28, 30))


def from_family(family: int) -> int:
    """The protocol a loopback link's address family announces."""
    return IPV4 if family == AF_INET else IPV6 if family in AF_INET6 else FAMILY | (family & 0xFFFF)


def by_version(data: bytes, off: int) -> int:
    """IPv4 or IPv6 by the version nibble (links and tunnels that carry "IP" without saying which)."""
    version = data[off] >> 4 if off < len(data) else 0
    return IPV4 if version == 4 else IPV6 if version == 6 else NOT_IP

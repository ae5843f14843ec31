"""What the rig may leave unread: the protocols that carry no data, each with the reason.

The rule: a frame is examined when its layers are peeled down to TCP, UDP, an ICMP message with a
body of its sender's choice (echo, errors), or control that can leave the link (``sandbox.captures.ip``
says which; the app parsers take it from there).  A frame that stops at a protocol listed in
``NOT_DATA`` is harmless: the protocol is link or network control with fixed-size fields, or kept on
the link, never a channel for a file.  Any other frame we could not read (an unknown ethertype, IP protocol, link type, an
encrypted or aggregated 802.11 body, a truncated or malformed header) is *not examined*: it is
counted with its bytes, and makes the verdict inconclusive, never clean.  So a protocol is
trusted only by being listed here, with its reason; IPX, AppleTalk, SCTP or an ethertype nobody
registered could carry a run folder, and are reported.
"""

from __future__ import annotations

from collections.abc import Callable

from sandbox.captures import numbers as n

ICMP_CONTROL = "ICMP control: discovery, timestamps, masks, MLD, or no body: fixed fields, no application data"
WLAN_CONTROL = "802.11 control frames (ACK, RTS/CTS, block ack): no body"
PPP_CONTROL = ("PPP link, network and authentication control: negotiates options, carries no datagrams "
               "(a packet longer than negotiation needs is not examined)")
CISCO_CONTROL = "Cisco link control (CDP, VTP, DTP, PVST+, UDLD): device and VLAN announcements"

NOT_DATA: dict[int, str] = {
    # ethertypes
    0x0806: "ARP: resolves addresses, fixed-size fields",
    0x8035: "RARP: resolves addresses, fixed-size fields",
    0x0842: "Wake-on-LAN: a magic packet of one MAC address, repeated",
    0x8808: "Ethernet flow control (PAUSE): MAC control, fixed fields",
    0x8809: "slow protocols (LACP, marker, OAM): link aggregation control",
    0x888E: "802.1X EAPOL: port authentication handshake",
    0x88CC: "LLDP: neighbour announcements, does not leave the link",
    0x88F7: "PTP: clock synchronisation timestamps",
    0x8902: "802.1ag CFM: connectivity fault management probes",
    0x8863: "PPPoE discovery: sets a session up, no user data",
    0x9000: "Ethernet loopback (configuration testing): keep-alives, no payload",
    # 802.2 LLC and SNAP
    n.LLC_SAP | 0x42: "spanning tree BPDUs: bridge topology control",
    n.OSI_ROUTING: "IS-IS and ES-IS: OSI routing control",
    n.CISCO_SNAP | 0x2000: CISCO_CONTROL,
    n.CISCO_SNAP | 0x2003: CISCO_CONTROL,
    n.CISCO_SNAP | 0x2004: CISCO_CONTROL,
    n.CISCO_SNAP | 0x010B: CISCO_CONTROL,
    n.CISCO_SNAP | 0x0111: CISCO_CONTROL,
    0x2000: CISCO_CONTROL,          # CDP in GRE (gre.proto 0x2000)
    # IP protocols, when ``sandbox.captures.ip`` does not examine them (control within the link)
    n.IP_PROTO | 1: ICMP_CONTROL,
    n.IP_PROTO | 58: ICMP_CONTROL,
    n.IP_PROTO | 2: "IGMP: multicast group membership",
    n.IP_PROTO | 59: "IPv6 no next header: nothing follows",      # anything that does is examined
    n.IP_PROTO | 88: "EIGRP: routing control",
    n.IP_PROTO | 89: "OSPF: routing control",
    n.IP_PROTO | 103: "PIM: multicast routing control",
    n.IP_PROTO | 112: "VRRP: router redundancy announcements",
    # PPP control protocols (RFC 1661 and IANA ppp-numbers)
    n.PPP_PROTO | 0xC021: PPP_CONTROL,      # LCP
    n.PPP_PROTO | 0xC023: PPP_CONTROL,      # PAP
    n.PPP_PROTO | 0xC025: PPP_CONTROL,      # link quality report
    n.PPP_PROTO | 0xC223: PPP_CONTROL,      # CHAP
    n.PPP_PROTO | 0xC227: PPP_CONTROL,      # EAP
    n.PPP_PROTO | 0x8021: PPP_CONTROL,      # IPCP
    n.PPP_PROTO | 0x8057: PPP_CONTROL,      # IPV6CP
    n.PPP_PROTO | 0x80FD: PPP_CONTROL,      # CCP
    n.PPP_PROTO | 0x8281: PPP_CONTROL,      # MPLSCP
    # frames without a number of their own
    n.WLAN_MANAGEMENT: "802.11 management frames (beacons, probes, association): no user data",
    n.WLAN_CONTROL: WLAN_CONTROL,
    n.WLAN_NO_DATA: "802.11 null-function data frames: power-save signalling, no body",
    n.GTP_SIGNALLING: "GTP-U signalling (echo, error indication, end marker): no user data",
    n.EMPTY: "empty layers: nothing after the header",
}

# Ethernet pads a frame's body to 46 bytes: a control frame this short hides nothing after its fields.
PADDED_BODY = 46


def _arp(data: bytes, off: int) -> int:
    return 8 + 2 * (data[off + 4] + data[off + 5]) if len(data) >= off + 6 else 0


def _declared(at: int, header: int, cap: int | None = None) -> Callable[[bytes, int], int]:
    """A body whose header declares its length (a 16-bit field ``at``, counting after ``header``),
    and at most ``cap`` for a protocol whose packets are short."""
    def size(data: bytes, off: int) -> int:
        if len(data) < off + at + 2:
            return 0
        n = header + int.from_bytes(data[off + at:off + at + 2], "big")
        return n if cap is None else min(n, cap)
    return size


def _lldp(data: bytes, off: int) -> int:
    """TLVs up to the End TLV; an LLDPDU longer than 1024 bytes is not one a device sends."""
    at = off
    while at + 2 <= len(data) and at - off <= 1024:
        header = int.from_bytes(data[at:at + 2], "big")
        at += 2 + (header & 0x1FF)
        if header >> 9 == 0:
            break
    return min(at - off, 1024)


# How many body bytes a control protocol's own fields account for (Ethernet padding aside): what
# follows is of its sender's choice (a broadcast reaches every host on the segment), so a longer
# frame is not examined rather than trusted as control.
CONTROL_SIZE: dict[int, Callable[[bytes, int], int]] = {
    0x0806: _arp, 0x8035: _arp,
    0x0842: lambda data, off: 108,                  # sixteen MACs after six FF, a SecureOn password
    0x8808: lambda data, off: PADDED_BODY,
    0x8809: lambda data, off: 128,                  # LACPDU and marker: 110 bytes
    0x888E: _declared(2, 4),                        # EAPOL: version, type, length
    0x88CC: _lldp,
    0x88F7: _declared(2, 0, cap=256),               # PTP messageLength
    0x8902: lambda data, off: 128,                  # CFM continuity checks, loopback, link trace
    0x8863: _declared(4, 6, cap=256),               # PPPoE discovery: tags of a session's set-up
    0x9000: lambda data, off: 128,                  # a keep-alive and its reply (Cisco's: 70 bytes)
}

# Names for report lines: the protocols we peel (a header of theirs may be cut short) and the ones
# we do not read, so the report says what it saw.
NAMES: dict[int, str] = {
    n.IPV4: "IPv4", n.IPV6: "IPv6", n.TEB: "Ethernet", 0x6400: "Ethernet", 0x8864: "PPPoE session",
    0x8847: "MPLS", 0x8848: "MPLS", 0x88BE: "ERSPAN II", 0x22EB: "ERSPAN III", 0x8909: "Cisco MetaData",
    n.IP_PROTO | 4: "IP in IP", n.IP_PROTO | 41: "IPv6 in IP", n.IP_PROTO | 47: "GRE",
    n.IP_PROTO | 137: "MPLS in IP", n.UDP_PORT | 4789: "VXLAN", n.UDP_PORT | 8472: "VXLAN",
    n.UDP_PORT | 6081: "Geneve", n.UDP_PORT | 2152: "GTP-U", n.UDP_PORT | 3544: "Teredo",
    n.LLC: "802.2 LLC", n.WLAN: "802.11", n.PPP: "PPP", n.CMD_IN_GRE: "Cisco MetaData in GRE",
    0x8137: "IPX", 0x809B: "AppleTalk", 0x80F3: "AppleTalk ARP", 0x6003: "DECnet", 0x8191: "NetBEUI",
    0x88CA: "TIPC", 0x88E5: "MACsec (encrypted)", 0x8906: "FCoE (storage)", 0x88A2: "ATA over Ethernet",
    0x88B5: "local experimental", 0x88B6: "local experimental", 0x894F: "NSH", 0x88E7: "802.1ah PBB",
    n.LLC_SAP | 0xE0: "Novell IPX over LLC", n.LLC_SAP | 0xFF: "raw 802.3 Novell IPX",
    n.LLC_SAP | 0xF0: "NetBIOS frames (NetBEUI)", n.LLC_SAP | 0xFE: "OSI CLNP",
    n.LLC_SAP | 0x04: "IBM SNA", n.LLC_SAP | 0x06: "IP over LLC",
    n.IP_PROTO | 50: "IPsec ESP (encrypted)", n.IP_PROTO | 132: "SCTP", n.IP_PROTO | 136: "UDP-Lite",
    n.IP_PROTO | 33: "DCCP", n.IP_PROTO | 115: "L2TPv3", n.IP_PROTO | 97: "EtherIP",
    n.PPP_PROTO | 0x00FD: "CCP-compressed datagram", n.PPP_PROTO | 0x0053: "ECP-encrypted datagram",
    n.PPP_PROTO | 0x002B: "IPX", n.PPP_PROTO | 0x002D: "Van Jacobson compressed TCP",
    n.PPP_PROTO | 0x002F: "Van Jacobson uncompressed TCP", n.PPP_PROTO | 0x0031: "bridged Ethernet (BCP)",
    n.SNAP_OTHER: "SNAP under an unknown OUI",
    n.WLAN_PROTECTED: "802.11 protected (encrypted) data frames",
    n.WLAN_AMSDU: "802.11 A-MSDU aggregates", n.WLAN_FRAGMENT: "802.11 fragmented frames",
    n.ERSPAN_FRAME: "ERSPAN type III frames that are neither Ethernet nor IP",
    n.SLIP_COMPRESSED: "Van Jacobson compressed TCP over SLIP",
    n.PPP_CONTROL_LONG: "PPP control packets longer than negotiation needs (echo or discard data, rejects, EAP)",
    n.MPLS_TOO_DEEP: "MPLS label stacks deeper than we follow",
    n.NOT_IP: "payloads that should be IP and are not (bad version)",
}

# Number blocks, highest first: (base, label, how the number inside the block is written).
BLOCKS = ((n.ARCNET_PROTO, "ARCNET protocol", "d"), (n.CISCO_SNAP, "Cisco SNAP protocol", "#06x"), (n.LLC_SAP, "LLC SAP", "#04x"),
          (n.FAMILY, "address family", "d"), (n.UDP_PORT, "UDP port", "d"), (n.PPP_PROTO, "PPP protocol", "#06x"),
          (n.IP_PROTO, "IP protocol", "d"))


def describe(number: int) -> str:
    """What a protocol number is, for a report line: "IP protocol 132 (SCTP)", "ethertype 0x8137 (IPX)"."""
    name = NAMES.get(number)
    if number >= n.FRAME:
        return name or f"frame kind {number - n.FRAME}"
    for base, label, fmt in BLOCKS:
        if number >= base:
            text = f"{label} {number - base:{fmt}}"
            break
    else:
        text = f"ethertype 0x{number:04x}" if number > n.MAX_LENGTH else "802.3 frames without LLC"
    return f"{text} ({name})" if name else text

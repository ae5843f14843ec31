"""An instrument that forges what its receiver's kernel drops, on its own TCP connection.

Run inside the "instrument" namespace (raw sockets: root).  ``Forger`` opens a real connection, reads
its sequence numbers and timestamps off the handshake (a raw socket gets a copy of every TCP packet
that comes in), and writes segments of its own onto the link beside the kernel's:

- ``stale=True``: a timestamp older than the one the receiver holds, which Linux drops (PAWS,
  RFC 7323 5), while a capture keeps it like any other segment;
- any flags at any offset: a RST far outside the window, which the receiver ignores.

``in_far_end_s_name`` writes an IP packet onto the link to the gateway (the rig) as the far end
would send it: a SYN or a datagram that seems to come from the cloud.
"""

from __future__ import annotations

import socket
import struct

from sandbox.captures.writer import ethernet, ipv4, tcp_segment
from sandbox.model import ACK, PSH, SYN

TIMESTAMPS = 8          # the TCP option kind
STALE_TICKS = 1 << 20   # how far behind the connection's own clock a stale timestamp is


def timestamps(options: bytes) -> tuple[int, int]:
    """(TSval, TSecr) of a TCP header's options; (0, 0) when it has none."""
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if kind == TIMESTAMPS and i + 10 <= len(options):
            return struct.unpack_from("!II", options, i + 2)
        i += max(2, options[i + 1]) if i + 1 < len(options) else len(options)
    return 0, 0


class Forger:
    """A connected TCP socket (``sock``) and what forging on its connection needs."""

    def __init__(self, host: str, port: int, timeout: float = 60) -> None:
        self.sniff = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
        self.sniff.settimeout(timeout)
        self.raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.src, self.sport = self.sock.getsockname()
        self.dst, self.dport = self.sock.getpeername()
        self.seq, self.ack, self.tsval, self.tsecr = self._handshake()

    def _handshake(self) -> tuple[int, int, int, int]:
        """(first sequence number of the stream, the peer's next, our clock, the peer's clock) read
        off the SYN-ACK the peer sent."""
        while True:
            packet = self.sniff.recv(65535)
            ihl = (packet[0] & 0x0F) * 4
            sport, dport, seq, ack, offset, flags = struct.unpack_from("!HHIIBB", packet, ihl)
            if (sport, dport) == (self.dport, self.sport) and flags & SYN and flags & ACK:
                peer_clock, our_clock = timestamps(packet[ihl + 20:ihl + (offset >> 4) * 4])
                return ack, seq + 1, our_clock, peer_clock

    def forge(self, data: bytes, offset: int, flags: int = ACK | PSH, stale: bool = False) -> None:
        """Write one segment at ``offset`` of the stream (before anything the socket sent counts)."""
        if stale and not self.tsval:
            raise RuntimeError("the connection carries no timestamps: nothing to be stale against")
        clock = (self.tsval - STALE_TICKS) % (1 << 32) if stale else self.tsval
        options = struct.pack("!BBII", TIMESTAMPS, 10, clock, self.tsecr) if self.tsval else b""
        segment = tcp_segment(self.src, self.dst, self.sport, self.dport, self.seq + offset, self.ack, flags,
                              data, window=502, options=options)
        self.raw.sendto(ipv4(self.src, self.dst, socket.IPPROTO_TCP, segment), (self.dst, 0))

    def __enter__(self) -> Forger:
        return self

    def __exit__(self, *exc: object) -> None:
        for s in (self.sock, self.raw, self.sniff):
            s.close()


def gateway() -> tuple[str, bytes]:
    """(interface, MAC address) of the default gateway, from the kernel's neighbour table."""
    route = next(line.split() for line in open("/proc/net/route").read().splitlines()[1:] if line.split()[1] == "00000000")
    via = socket.inet_ntoa(struct.pack("<I", int(route[2], 16)))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:     # have the kernel learn its address
        s.sendto(b"", (via, 9))
    for line in open("/proc/net/arp").read().splitlines()[1:]:
        fields = line.split()
        if fields[0] == via and fields[3] != "00:00:00:00:00:00":
            return fields[5], bytes.fromhex(fields[3].replace(":", ""))
    raise RuntimeError(f"the gateway {via} has no address in the neighbour table")


def in_far_end_s_name(ip_packet: bytes) -> None:
    """Put ``ip_packet`` on the link to the gateway, whatever addresses it names."""
    iface, mac = gateway()
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
        s.bind((iface, 0))
        s.send(ethernet(ip_packet, dst=mac))

"""The kernel's queue of held packets (nfnetlink_queue): what mitmproxy does not carry, held for the judge.

In transparent mode mitmproxy carries the instrument's TCP only; its UDP (DNS above all, which a
resolver sends on to whoever serves the name) and ICMP echo are routed.  With ``--block`` the rig's
nftables rules put each such packet in a kernel queue (``queue num N``, no bypass: when nobody reads
the queue, the packets are dropped).  ``PacketQueue`` reads the queue over netlink, asks
``on_packet`` about each packet and sends the kernel its verdict (accept or drop) when the answer
comes, in any order.  The packet is in the raw recording already (dumpcap reads the interface
before netfilter), so the judge waits for the analysis of the recording, as for any raw message.

The netlink framing is declared here (``linux/netfilter/nfnetlink_queue.h``): nothing to install.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NFQA_PACKET_HDR, NFQA_VERDICT_HDR, NFQA_TIMESTAMP, NFQA_PAYLOAD = 1, 2, 4, 10
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_PACKET = 2
NF_DROP, NF_ACCEPT = 0, 1
NLA_TYPE_MASK = 0x3FFF
CLONE_NEWNET = 0x40000000

NLMSGHDR = struct.Struct("=IHHII")      # length, type, flags, sequence, port id (host order)
NFGENMSG = struct.Struct("!BBH")        # family, version, queue number (big endian)
NLATTR = struct.Struct("=HH")           # length, type
PACKET_HDR = struct.Struct("!IHB")      # packet id, hardware protocol (ethertype), hook
VERDICT_HDR = struct.Struct("!II")      # verdict, packet id
TIMESTAMP = struct.Struct("!QQ")        # seconds, microseconds (the packet's arrival, as captures stamp it)
CFG_CMD = struct.Struct("!BBH")         # command, pad, protocol family
CFG_PARAMS = struct.Struct("!IB")       # copy range, copy mode
ERRMSG = struct.Struct("=i")            # an NLMSG_ERROR's errno (negative), then the request's header

COPY_RANGE = 0xFFFF          # a whole IP packet: the judge's question names its flow
QUEUE_MAXLEN = 16384         # packets the kernel holds for us before it drops new ones
RECV_BUFFER = 4 << 20        # the socket's receive buffer: a burst of held packets waits there
CLOSE_POLL_S = 0.5           # how soon the reading thread sees the queue closed


@dataclass(frozen=True)
class QueuedPacket:
    """One packet the kernel holds: its id (for the verdict), its ethertype, its IP bytes, and when it
    arrived (None when the kernel did not stamp it: nothing on the host asked for timestamps)."""
    packet_id: int
    ethertype: int
    payload: bytes
    arrived: float | None = None


def _attr(kind: int, value: bytes) -> bytes:
    size = NLATTR.size + len(value)
    return NLATTR.pack(size, kind) + value + b"\0" * (-size % 4)


def message(kind: int, queue: int, attrs: bytes, flags: int = NLM_F_REQUEST, seq: int = 0) -> bytes:
    """One nfnetlink_queue request: header, queue number, attributes."""
    body = NFGENMSG.pack(socket.AF_UNSPEC, 0, queue) + attrs
    return NLMSGHDR.pack(NLMSGHDR.size + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind, flags, seq, 0) + body


def bind_messages(queue: int) -> list[bytes]:
    """Bind ``queue``, copy whole packets, let the kernel hold ``QUEUE_MAXLEN`` of them (each acked)."""
    return [message(NFQNL_MSG_CONFIG, queue, _attr(NFQA_CFG_CMD, CFG_CMD.pack(NFQNL_CFG_CMD_BIND, 0, 0)),
                    NLM_F_REQUEST | NLM_F_ACK, 1),
            message(NFQNL_MSG_CONFIG, queue, _attr(NFQA_CFG_PARAMS, CFG_PARAMS.pack(COPY_RANGE, NFQNL_COPY_PACKET))
                    + _attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", QUEUE_MAXLEN)), NLM_F_REQUEST | NLM_F_ACK, 2)]


def verdict_message(queue: int, packet_id: int, accept: bool) -> bytes:
    return message(NFQNL_MSG_VERDICT, queue, _attr(NFQA_VERDICT_HDR, VERDICT_HDR.pack(
        NF_ACCEPT if accept else NF_DROP, packet_id)))


def _attrs(data: bytes, off: int, end: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while off + NLATTR.size <= end:
        size, kind = NLATTR.unpack_from(data, off)
        if size < NLATTR.size or off + size > end:
            break
        out[kind & NLA_TYPE_MASK] = data[off + NLATTR.size:off + size]
        off += (size + 3) & ~3
    return out


def parse(data: bytes) -> Iterator[QueuedPacket | int]:
    """The messages of one netlink datagram: each held packet, and each acknowledgement's errno
    (0: done).  What is cut short or unknown is skipped: the kernel is the only sender."""
    off = 0
    while off + NLMSGHDR.size <= len(data):
        size, kind, _, _, _ = NLMSGHDR.unpack_from(data, off)
        if size < NLMSGHDR.size or off + size > len(data):
            return
        body = off + NLMSGHDR.size
        if kind == NLMSG_ERROR and size >= NLMSGHDR.size + ERRMSG.size:
            yield -ERRMSG.unpack_from(data, body)[0]
        elif kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            attrs = _attrs(data, body + NFGENMSG.size, off + size)
            hdr = attrs.get(NFQA_PACKET_HDR, b"")
            if len(hdr) >= PACKET_HDR.size:
                packet_id, ethertype, _ = PACKET_HDR.unpack_from(hdr)
                stamp = attrs.get(NFQA_TIMESTAMP, b"")
                arrived = None
                if len(stamp) >= TIMESTAMP.size:
                    sec, usec = TIMESTAMP.unpack_from(stamp)
                    arrived = sec + usec / 1e6
                yield QueuedPacket(packet_id, ethertype, attrs.get(NFQA_PAYLOAD, b""), arrived)
        off += (size + 3) & ~3


def _enter_netns(netns: str) -> None:
    """Move the calling thread (only it) into network namespace ``netns`` (``ip netns add``'s)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"cannot enter network namespace {netns}: {os.strerror(err)}")
    finally:
        os.close(fd)


class PacketQueue:
    """Reads queue ``number`` (in ``netns`` if given) on a thread of its own; ``on_packet(packet,
    verdict)`` is called there and must not block: it calls ``verdict(accept)`` once, now or later,
    from any thread."""

    def __init__(self, number: int, on_packet: Callable[[QueuedPacket, Callable[[bool], None]], None],
                 netns: str | None = None) -> None:
        self.number = number
        self.on_packet = on_packet
        self.netns = netns
        self.sock: socket.socket | None = None
        self.overflows = 0          # times the socket's buffer overflowed (the kernel dropped those packets)
        self._ready = threading.Event()
        self._error: OSError | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind the queue; OSError when this kernel or user cannot (no nfnetlink_queue, no CAP_NET_ADMIN,
        the number taken)."""
        self._thread = threading.Thread(target=self._run, name=f"sandbox-queue-{self.number}", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            if self.netns:
                _enter_netns(self.netns)    # this thread only: the socket belongs to that namespace
            self.sock = self._bind()
        except OSError as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        buf = bytearray(RECV_BUFFER)
        while (sock := self.sock) is not None:
            try:
                n = sock.recv_into(buf)
            except TimeoutError:
                continue                         # to see whether it was closed
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:   # the kernel dropped what did not fit: fail closed, counted
                    self.overflows += 1
                    continue
                return                           # closed
            if n == 0:
                return
            for item in parse(bytes(buf[:n])):
                if isinstance(item, QueuedPacket):
                    self.on_packet(item, lambda accept, pid=item.packet_id: self.verdict(pid, accept))

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        try:
            sock.bind((0, 0))
            try:
                sock.setsockopt(socket.SOL_SOCKET, 33, RECV_BUFFER)    # SO_RCVBUFFORCE (root)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
            for request in bind_messages(self.number):
                sock.send(request)
                answers = [a for a in parse(sock.recv(65536)) if isinstance(a, int)]
                if answers and answers[0]:
                    raise OSError(answers[0], f"cannot bind packet queue {self.number}: {os.strerror(answers[0])}")
        except BaseException:
            sock.close()
            raise
        sock.settimeout(CLOSE_POLL_S)
        return sock

    def verdict(self, packet_id: int, accept: bool) -> None:
        sock = self.sock
        if sock is None:
            return
        try:
            sock.send(verdict_message(self.number, packet_id, accept))
        except OSError:
            pass    # the queue closed: the kernel drops what it still held

    def close(self) -> None:
        """Stop reading; the kernel drops every packet still held (nothing unjudged passes)."""
        sock, self.sock = self.sock, None
        if self._thread is not None:
            self._thread.join(CLOSE_POLL_S * 4)
        if sock is not None:
            sock.close()

"""--block's kernel packet queue: the netlink framing, and the queue with the hold rules on a real bench."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading

import pytest

from hw.net.nfqueue import (
    NFGENMSG,
    NFNL_SUBSYS_QUEUE,
    NFQA_PACKET_HDR,
    NFQA_PAYLOAD,
    NFQA_TIMESTAMP,
    NFQNL_MSG_PACKET,
    NLMSG_ERROR,
    NLMSGHDR,
    PACKET_HDR,
    TIMESTAMP,
    PacketQueue,
    QueuedPacket,
    _attr,
    parse,
    verdict_message,
)
from hw.net.nft import HoldRules, Redirect
from tests.hw.net.topology import bench


def packet_message(packet_id: int, payload: bytes, stamp: tuple[int, int] | None = None) -> bytes:
    """A held packet as the kernel frames it (``stamp``: its arrival, seconds and microseconds)."""
    body = (NFGENMSG.pack(2, 0, 7) + _attr(NFQA_PACKET_HDR, PACKET_HDR.pack(packet_id, 0x0800, 2))
            + (_attr(NFQA_TIMESTAMP, TIMESTAMP.pack(*stamp)) if stamp else b"") + _attr(NFQA_PAYLOAD, payload))
    return NLMSGHDR.pack(NLMSGHDR.size + len(body), (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET, 0, 0, 0) + body


def test_held_packets_and_acknowledgements_are_read_and_what_is_cut_short_is_skipped():
    ack = NLMSGHDR.pack(NLMSGHDR.size + 4 + NLMSGHDR.size, NLMSG_ERROR, 0, 1, 0) + struct.pack("=i", -16) \
        + NLMSGHDR.pack(0, 0, 0, 0, 0)
    data = packet_message(41, b"E" + b"\0" * 27, (1796460000, 250000)) + packet_message(42, b"odd") + ack
    assert list(parse(data)) == [QueuedPacket(41, 0x0800, b"E" + b"\0" * 27, 1796460000.25),
                                 QueuedPacket(42, 0x0800, b"odd"), 16]
    whole = packet_message(43, b"x" * 100)
    for cut in range(len(whole)):
        assert list(parse(whole[:cut])) == []                       # never more than was there
    lying = bytearray(whole)
    lying[NLMSGHDR.size + NFGENMSG.size:NLMSGHDR.size + NFGENMSG.size + 2] = struct.pack("=H", 60000)
    assert list(parse(bytes(lying))) == []                          # an attribute longer than its message


def test_a_verdict_names_its_queue_and_packet():
    msg = verdict_message(7, 99, accept=True)
    size, kind, flags, _, _ = NLMSGHDR.unpack_from(msg)
    assert size == len(msg) and kind == (NFNL_SUBSYS_QUEUE << 8) | 1
    assert NFGENMSG.unpack_from(msg, NLMSGHDR.size)[2] == 7
    assert msg.endswith(struct.pack("!II", 1, 99))


# In "cloud": what arrives on UDP 4433/5555 and as GRE (IP protocol 47), one line each.
SINK = """
import select, socket
socks = []
for port in (4433, 5555):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", port)); socks.append(s)
gre = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47); socks.append(gre)
print("up", flush=True)
while True:
    for s in select.select(socks, [], [])[0]:
        data = s.recv(2048)
        print("gre" if s is gre else s.getsockname()[1], data[-5:].decode(errors="replace"), flush=True)
"""
SEND_UDP = """
import socket, sys
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
"""
SEND_GRE = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
s.sendto(bytes.fromhex("00000800") + b"E" * 20 + sys.argv[2].encode(), (sys.argv[1], 0))
"""


def test_the_queue_holds_the_instrument_s_udp_until_its_verdict_and_fails_closed():
    """The hold rules put the instrument's UDP in the queue: the verdict decides what the cloud gets;
    IP protocols the analysis cannot open are dropped; once nobody reads the queue nothing passes;
    and the rules leave nothing behind."""
    with bench(f"sbx-net-nfq{os.getpid() % 10000}") as b:
        sink = subprocess.Popen(b.cmd(b.cloud, [sys.executable, "-c", SINK]), stdout=subprocess.PIPE, text=True)
        lines: list[str] = []
        threading.Thread(target=lambda: lines.extend(iter(sink.stdout.readline, "")), daemon=True).start()
        held: list[QueuedPacket] = []
        arrived = threading.Event()

        def on_packet(packet: QueuedPacket, verdict) -> None:
            held.append(packet)
            verdict(struct.unpack_from("!H", packet.payload, 22)[0] == 4433)   # UDP's destination port
            arrived.set()

        rules = HoldRules(b.rig_iface, 0x5AFE, netns=b.rig, chain="SBX_HOLD_TEST")
        redirect = Redirect(b.rig_iface, 8080, netns=b.rig, table="sbx_tap_nfq", hold=True)
        queue = PacketQueue(0x5AFE, on_packet, netns=b.rig)
        try:
            queue.start()
            with pytest.raises(OSError):                  # one reader per queue
                PacketQueue(0x5AFE, on_packet, netns=b.rig).start()
            rules.check()
            rules.install()
            redirect.install()

            def send(script: str, *args: str) -> None:
                b.run(b.instrument, [sys.executable, "-c", script, b.cloud_ip, *args], check=True)

            def until(what: str) -> bool:
                for _ in range(50):
                    if any(what in line for line in lines):
                        return True
                    threading.Event().wait(0.1)
                return False

            assert until("up")
            send(SEND_UDP, "4433", "pass1")
            send(SEND_UDP, "5555", "drop1")
            send(SEND_GRE, "gre-1")
            send(SEND_UDP, "4433", "pass2")
            assert until("pass2")
            assert [p.payload[28:].decode() for p in held] == ["pass1", "drop1", "pass2"]
            queue.close()
            send(SEND_UDP, "4433", "pass3")
            assert not until("pass3")                      # nobody reads the queue: dropped, not forwarded
            assert not [line for line in lines if "drop1" in line or "gre" in line], lines
        finally:
            queue.close()
            redirect.remove()
            rules.remove()
            rules.remove()                                 # idempotent
            sink.kill()
            sink.wait()
        assert not b.run(b.rig, ["nft", "list", "ruleset"]).stdout.strip()
        assert [line.split()[0] for line in lines[1:]] == ["4433", "4433"]

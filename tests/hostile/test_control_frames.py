"""Control frames the rig trusts as carrying no data, made to carry reads.

PPP control packets carry bytes of their sender's choice to the peer: an LCP echo's or discard
request's data, a reject quoting what it rejects.  Over PPPoE the peer is the access concentrator;
over PPTP or L2TP it is the far end of the tunnel, a vendor's VPN server.  And an Ethernet control
frame (ARP, LLDP, PPPoE discovery) may run past its own fields: a broadcast reaches every host on the
segment.  Reads sent either way replayed clean (control was trusted whatever its length); now a
control packet longer than its fields or negotiation need is not examined (the verdict inconclusive),
and ordinary negotiation, keep-alives and padded frames stay control.  (On a serial line, where the
rig reads PPP itself, control bodies are scanned: ``tests/protocols/serial/test_ppp.py``.)  Headers
too: IPv6 destination options reach the far host's applications (``IPV6_RECVDSTOPTS``), 2 kB a packet,
and IPv4 options 40 bytes; past the options a lab's traffic uses they were not examined, and now are
read with the flow's option values (``protocols.heads``)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from sandbox.captures.writer import (
    PcapWriter,
    checksum,
    ethernet,
    ipv4,
    ipv6,
    ppp,
    pppoe_session,
    tcp_segment,
    udp_datagram,
)
from sandbox.replay import replay
from tests.hostile.uploads import novaseq_reads

DISCARD_REQUEST, ECHO_REQUEST, ECHO_REPLY, CONFIGURE_REQUEST = 11, 9, 10, 1


def lcp(code: int, ident: int, data: bytes) -> bytes:
    return struct.pack("!HBBH", 0xC021, code, ident, 4 + len(data)) + data


def pppoe(path: Path, packets: list[bytes]) -> None:
    with PcapWriter(path) as w:
        for i, packet in enumerate(packets):
            w.write(ethernet(pppoe_session(packet), ethertype=0x8864), 1.0 + i / 100)


def pptp(path: Path, packets: list[bytes]) -> None:
    """PPTP's enhanced GRE (version 1: key = payload length and call id, a sequence number) to a VPN server."""
    with PcapWriter(path) as w:
        for i, packet in enumerate(packets):
            header = struct.pack("!HHHHI", 0x3001, 0x880B, len(packet), 7, i)
            w.write(ethernet(ipv4("10.0.0.2", "203.0.113.80", 47, header + packet)), 1.0 + i / 100)


@pytest.fixture(scope="module")
def reads(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ppp-control")
    run, fastq = novaseq_reads(tmp)
    return tmp, run, fastq[:60000]


@pytest.mark.parametrize("carrier", [pppoe, pptp], ids=["pppoe", "pptp"])
@pytest.mark.parametrize("code", [DISCARD_REQUEST, ECHO_REQUEST])
def test_reads_in_lcp_data_are_never_clean(reads, carrier, code):
    tmp, run, fastq = reads
    packets = [lcp(code, i & 0xFF, b"\x12\x34\x56\x78" + fastq[off:off + 1400])
               for i, off in enumerate(range(0, len(fastq), 1400))]
    path = tmp / f"{carrier.__name__}-{code}.pcap"
    carrier(path, packets)
    report = replay([path], [run], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "inconclusive"
    [row] = report["not_examined"]
    assert row["what"].startswith("PPP control packets longer than negotiation needs")
    assert row["bytes"] >= len(fastq)


@pytest.mark.parametrize("carrier", [pppoe, pptp], ids=["pppoe", "pptp"])
def test_negotiation_and_keepalives_stay_control(reads, carrier):
    tmp, run, _ = reads
    packets = [lcp(CONFIGURE_REQUEST, 1, bytes([1, 4, 5, 0xD4, 5, 6, 0x12, 0x34, 0x56, 0x78, 7, 2, 8, 2]))]
    packets += [lcp(code, i, b"\x12\x34\x56\x78") for i in range(20) for code in (ECHO_REQUEST, ECHO_REPLY)]
    packets.append(ppp(ipv4("10.0.0.2", "10.0.0.1", 17, bytes(8))))
    path = tmp / f"{carrier.__name__}-keepalive.pcap"
    carrier(path, packets)
    report = replay([path], [run], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "clean" and not report["not_examined"]


ARP = bytes.fromhex("0001080006040001") + bytes(6) + bytes([10, 0, 0, 2]) + bytes(6) + bytes([10, 0, 0, 1])
LLDP = (b"\x02\x07\x04" + bytes(6) + b"\x04\x03\x05ab" + b"\x06\x02\x00\x78"
        + b"\x0a\x0csequencer-01" + b"\x00\x00")                   # chassis, port, TTL, name, end
PADI = bytes.fromhex("1109000000100101000001030008") + bytes(8)    # service name, host-uniq


def broadcast(path: Path, ethertype: int, bodies: list[bytes]) -> None:
    with PcapWriter(path) as w:
        for i, body in enumerate(bodies):
            w.write(ethernet(body.ljust(46, b"\0"), ethertype=ethertype, dst=b"\xff" * 6), 1.0 + i / 100)


@pytest.mark.parametrize(("ethertype", "body"), [(0x0806, ARP), (0x88CC, LLDP), (0x8863, PADI)],
                         ids=["arp", "lldp", "pppoe-discovery"])
def test_reads_after_a_control_frames_fields_are_never_clean(reads, ethertype, body):
    tmp, run, fastq = reads
    path = tmp / f"padded-{ethertype:04x}.pcap"
    broadcast(path, ethertype, [body + fastq[off:off + 1400] for off in range(0, len(fastq), 1400)])
    report = replay([path], [run], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "inconclusive"
    [row] = report["not_examined"]
    assert row["what"].endswith("frames longer than their fields (what follows is of the sender's choice)")
    broadcast(path, ethertype, [body] * 30)               # the frames as devices send them: control
    report = replay([path], [run], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "clean" and not report["not_examined"]


def test_reads_after_an_ip_packet_in_its_frame_are_never_clean(reads):
    """A frame may hold more than the IP packet it carries: the receiver's stack drops the rest, a host
    reading the segment's broadcasts raw keeps it.  It was trimmed in silence, as padding is."""
    tmp, run, fastq = reads
    query = ipv4("10.0.0.2", "255.255.255.255", 17, bytes.fromhex("d43100890008") + b"\0\0")
    path = tmp / "trailer.pcap"
    with PcapWriter(path) as w:
        for i, off in enumerate(range(0, len(fastq), 1400)):
            w.write(ethernet(query + fastq[off:off + 1400], dst=b"\xff" * 6), 1.0 + i / 100)
    report = replay([path], [run], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "inconclusive"
    assert [row["what"] for row in report["not_examined"]] == [
        "bytes after the IP packet in its frame, more than padding (of the sender's choice)"]
    with PcapWriter(path) as w:              # padding to 60 bytes and a frame check sequence: nothing said
        for i in range(30):
            w.write(ethernet(query.ljust(46, b"\0") + b"\xde\xad\xbe\xef", dst=b"\xff" * 6), 1.0 + i / 100)
    report = replay([path], [run], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "clean" and not report["not_examined"]


def _v6_with_options(data: bytes) -> bytes:
    """A UDP datagram to the allowed LIMS behind a destination options header holding ``data`` as
    options of an unknown type a host skips (0x1e)."""
    options = b"".join(bytes([0x1E, len(data[i:i + 250])]) + data[i:i + 250] for i in range(0, len(data), 250))
    pad = -(2 + len(options)) % 8
    options += b"\0" if pad == 1 else bytes([1, pad - 2]) + bytes(pad - 2) if pad else b""
    header = bytes([17, (2 + len(options)) // 8 - 1]) + options
    datagram = udp_datagram("2001:db8::2", "2001:db8::9", 5000, 5001, b"ok")
    return ipv6("2001:db8::2", "2001:db8::9", 60, header + datagram)


def _v4_with_options(data: bytes) -> bytes:
    packet = bytearray(ipv4("10.0.0.2", "192.0.2.9", 17, udp_datagram("10.0.0.2", "192.0.2.9", 5000, 5001, b"ok")))
    options = bytes([0x1E, 2 + len(data)]) + data                  # an option type nobody registered
    options += bytes(-len(options) % 4)
    packet[0] = 0x40 | (5 + len(options) // 4)
    packet = packet[:20] + options + packet[20:]
    packet[2:4] = len(packet).to_bytes(2, "big")
    packet[10:12] = b"\0\0"
    packet[10:12] = checksum(bytes(packet[:20 + len(options)])).to_bytes(2, "big")
    return bytes(packet)


@pytest.mark.parametrize("ip", ["v6", "v4"])
def test_reads_in_ip_options_replay_as_a_leak(reads, ip):
    """Options of a type nobody registered were said (inconclusive); now they are read with the flow's
    TCP option values."""
    tmp, run, fastq = reads
    size = 1200 if ip == "v6" else 36
    path = tmp / f"options-{ip}.pcap"
    with PcapWriter(path) as w:
        for i, off in enumerate(range(0, len(fastq) // (1 if ip == "v6" else 10), size)):
            chunk = fastq[off:off + size]
            w.write(ethernet(_v6_with_options(chunk), ethertype=0x86DD) if ip == "v6" else ethernet(_v4_with_options(chunk)),
                    1.0 + i / 100)
    report = replay([path], [run], allow=["192.0.2.9", "2001:db8::9"], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "leak" and not report["not_examined"]
    assert any(f["kind"] in ("sequence", "run-bytes") for f in report["findings"])
    with PcapWriter(path) as w:              # a router alert (MLD, IGMP) is what a lab's traffic holds
        alert = ipv6("fe80::2", "ff02::16", 0, bytes([58, 0, 5, 2, 0, 0, 1, 0]) + bytes([143, 0, 0, 0, 0, 0, 0, 0]))
        w.write(ethernet(alert, ethertype=0x86DD), 1.0)
    report = replay([path], [run], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "clean" and not report["not_examined"]


def _tcp_frames(path: Path, segments: list[tuple[bytes, bytes]]) -> None:
    """Ethernet frames of one TCP connection's segments to the LIMS: (options, bytes after the packet)."""
    with PcapWriter(path) as w:          # classic pcap, Ethernet, IPv4, TCP: what the fused hot path reads
        for i, (options, trailer) in enumerate(segments):
            seg = tcp_segment("10.0.0.2", "192.0.2.9", 40000, 443, 1000 + i, 5000, 0x10, b"", options=options)
            w.write(ethernet(ipv4("10.0.0.2", "192.0.2.9", 6, seg) + trailer), 1.0 + i / 100)


HIDDEN_BY_TCP = {
    "trailer": (1400, lambda piece: (b"", piece)),
    # options of a kind nobody registered: 38 bytes a segment, and 12 (the size timestamps take,
    # which the fast paths passed unlooked at)
    "options": (36, lambda piece: (bytes([0x9E, 2 + len(piece)]) + piece, b"")),
    "options as long as timestamps": (10, lambda piece: (bytes([0x9E, 2 + len(piece)]) + piece, b"")),
    # after the list's end, where a stack reads no further
    "after the end of the options": (39, lambda piece: (b"\0" + piece, b"")),
}


@pytest.mark.parametrize("where", HIDDEN_BY_TCP)
def test_reads_beside_tcp_segments_are_never_clean(reads, where):
    """TCP segments of a connection to the allowed LIMS, the reads after each packet in its frame or in
    its options: the fused fast path for Ethernet/IPv4/TCP trimmed trailers as padding and never looked
    at options; the general path passed 12 bytes of them, and anything after an end-of-list.  Never
    clean: not examined, and options of any kind are read besides (a leak)."""
    tmp, run, fastq = reads
    size, hide = HIDDEN_BY_TCP[where]
    pieces = [fastq[i:i + size] for i in range(0, len(fastq) // (1 if where == "trailer" else 10), size)]
    path = tmp / f"tcp-{where}.pcap"
    _tcp_frames(path, [hide(piece) for piece in pieces])
    report = replay([path], [run], allow=["192.0.2.9"], cache_dir=tmp / "cache", jobs=1).report
    # options' values are read as a stream too (``sandbox.protocols.heads``): the reads in them are found
    assert report["verdict"] == ("leak" if where.startswith("options") else "inconclusive")
    assert [row["what"].split(" (")[0] for row in report["not_examined"]] == [
        "bytes after the IP packet in its frame, more than padding" if where == "trailer"
        else "TCP options of kinds nobody registered"]
    syn = bytes([2, 4, 5, 0xB4, 4, 2, 8, 10]) + bytes(8) + bytes([1, 3, 3, 7])     # MSS, SACK-permitted, TS, WS
    sack = bytes([1, 1, 8, 10]) + bytes(8) + bytes([1, 1, 5, 26]) + bytes(24)      # TS and three SACK blocks
    one_sack = bytes([1, 1, 5, 10]) + bytes(8)                                      # a SACK block, no TS
    mss_end = bytes([2, 4, 5, 0xB4, 0]) + bytes(3)                                  # MSS, end of list, zeros
    _tcp_frames(path, [(syn, b""), (sack, bytes(4)), (b"", b"\xde\xad\xbe\xef"), (one_sack, b""), (mss_end, b""),
                       (bytes([1, 1, 8, 10]) + os.urandom(8), b"")])
    report = replay([path], [run], allow=["192.0.2.9"], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "clean" and not report["not_examined"]

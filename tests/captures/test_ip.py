"""IPv4/IPv6 decoding: padding, VLAN stacks, extension headers, fragment reassembly and its bounds."""

from __future__ import annotations

import struct

from sandbox.captures import open_capture
from sandbox.captures.capture import FRAGMENTS_LOST
from sandbox.captures.examined import NOT_DATA
from sandbox.captures.fragments import MAX_PENDING, Fragments
from sandbox.captures.heads import V4_HEAD
from sandbox.captures.ip import IpDecoder
from sandbox.captures.links import ethernet as eth_link
from sandbox.captures.numbers import IP_PROTO, IPV4, IPV6
from sandbox.captures.writer import (
    LINKTYPE_LINUX_SLL2,
    PcapngWriter,
    PcapWriter,
    cooked_v2,
    ethernet,
    ip_packet,
    ipv4,
    ipv4_fragments,
    ipv6,
    ipv6_fragments,
    udp_datagram,
)
from sandbox.model import Segment


def _udp_v4(payload: bytes, ident: int = 7) -> bytes:
    return ip_packet("192.0.2.1", "192.0.2.2", 17, udp_datagram("192.0.2.1", "192.0.2.2", 1111, 2222, payload), ident)


def test_ethernet_padding_is_trimmed_by_ip_length():
    frame = ethernet(_udp_v4(b"ab")) + b"\0" * 20
    ethertype, off = eth_link.network(frame)
    seg = IpDecoder().decode(ethertype, frame, off, 1.0, 1)
    assert seg.data == b"ab" and (seg.sport, seg.dport) == (1111, 2222)


def test_vlan_and_qinq_tags_are_peeled():
    for vlans in ((10,), (100, 200)):
        frame = ethernet(_udp_v4(b"v"), vlans=vlans)
        assert eth_link.network(frame) == (IPV4, 14 + 4 * len(vlans))


def test_ipv4_fragments_reassemble_out_of_order_with_overlap(tmp_path):
    payload = bytes(range(256)) * 20
    dgram = udp_datagram("192.0.2.1", "192.0.2.2", 5, 6, payload)
    frags = ipv4_fragments("192.0.2.1", "192.0.2.2", 17, dgram, 512, ident=99)
    frags = frags[::-1] + [frags[2]]   # reversed, plus a duplicate
    path = tmp_path / "f.pcap"
    with PcapWriter(path) as w:
        for i, f in enumerate(frags):
            w.write(ethernet(f), 1.0 + i / 100)
    cap = open_capture(path)
    segs = list(cap)
    assert len(segs) == 1 and segs[0].data == payload
    assert segs[0].frame == len(frags) - 1      # completed by the last distinct fragment
    assert cap.stats.fragments_reassembled == 1


def test_fragments_that_overlap_with_other_content_make_variants_of_their_datagram(tmp_path, monkeypatch):
    """A decoy copy of every fragment first, the real one after: the first seen is kept (the datagram), and
    each that differs makes a variant with its bytes in place; copies sent again the same make none."""
    for version, fragment in ((4, ipv4_fragments), (6, ipv6_fragments)):
        a, b = ("192.0.2.1", "192.0.2.2") if version == 4 else ("2001:db8::1", "2001:db8::2")
        decoy, real = (fragment(a, b, 17, udp_datagram(a, b, 5, 6, text * 300), 256, ident=7)
                       for text in (b"decoy ", b"reads "))  # 8 fragments
        path = tmp_path / f"overlap{version}.pcap"
        with PcapWriter(path) as w:
            for n, (d, r) in enumerate(zip(decoy[:-1], real[:-1], strict=True)):
                w.write(ethernet(d), 1.0 + n)
                w.write(ethernet(d), 1.0 + n)        # sent again, the same
                w.write(ethernet(r), 1.0 + n)
            w.write(ethernet(decoy[-1]), 9.0)
        cap = open_capture(path)
        segs = list(cap)
        assert segs[0].data == b"decoy " * 300, version
        variants = [s.data for s in segs[1:]]
        assert len(variants) == len(real) - 1 and all(b"reads " in v for v in variants), version
        assert cap.stats.fragments_reassembled == 1 and not cap.stats.not_examined("x")
    monkeypatch.setattr("sandbox.captures.fragments.MAX_VARIANTS", 2)
    cap = open_capture(tmp_path / "overlap4.pcap")
    assert len(list(cap)) == 3
    (row,) = cap.stats.not_examined("x")
    assert row["what"].startswith("IP fragments overlapping others") and row["packets"] == len(real) - 3


def test_fragments_seen_on_different_sides_of_a_link_are_never_one_datagram(tmp_path):
    """On the rig's cooked v2 recording of its link, the instrument can forge the first fragments of a
    far end's datagram in its name, with other bytes: they arrive, the far end's real ones leave, and
    the two never mix (else the forged bytes would read as the far end's, first seen winning)."""
    for version, fragment in ((4, ipv4_fragments), (6, ipv6_fragments)):
        a, b = ("192.0.2.1", "192.0.2.2") if version == 4 else ("2001:db8::1", "2001:db8::2")
        real, forged = (fragment(a, b, 17, udp_datagram(a, b, 53, 40000, text * 300), 512, ident=42)
                        for text in (b"answer ", b"forged "))
        path = tmp_path / f"sides{version}.pcapng"
        with PcapngWriter(path, linktype=LINKTYPE_LINUX_SLL2) as w:
            for n, frag in enumerate(forged[:-1]):      # received on the link: the instrument's
                w.write(cooked_v2(frag, ifindex=5), 1.0 + n)
            for n, frag in enumerate(real):             # sent by the rig
                w.write(cooked_v2(frag, ifindex=5, sent=True), 2.0 + n)
        cap = open_capture(path)
        assert [(s.data, s.meta) for s in cap] == [(b"answer " * 300, {"left": 5})], version
        assert cap.stats.unexamined[FRAGMENTS_LOST] == len(forged) - 1      # the forged ones, never completed


def test_ipv6_extension_headers_and_fragments():
    payload = b"q" * 3000
    dgram = udp_datagram("2001:db8::1", "2001:db8::2", 53, 5353, payload)
    dec = IpDecoder()
    frags = ipv6_fragments("2001:db8::1", "2001:db8::2", 17, dgram, 1200)
    results = [dec.decode(IPV6, f, 0, 1.0, i + 1) for i, f in enumerate(frags)]
    assert results[:-1] == [None] * (len(frags) - 1)
    assert results[-1].data == payload and results[-1].src == "2001:db8::1"
    # hop-by-hop (8 bytes) then destination options (16 bytes) before UDP
    hop = bytes([60, 0]) + b"\x01\x04\0\0\0\0"
    dst_opts = bytes([17, 1]) + b"\x01\x0c" + b"\0" * 12
    pkt = ipv6("2001:db8::1", "2001:db8::2", 0, hop + dst_opts + udp_datagram("2001:db8::1", "2001:db8::2", 1, 2, b"x"))
    assert dec.decode(IPV6, pkt, 0, 1.0, 9).data == b"x"


def test_fragment_cache_is_bounded_and_times_out():
    frags = Fragments()
    for i in range(MAX_PENDING + 50):
        assert frags.add((4, b"a", b"b", i, 17), 0, b"x" * 8, True, 1.0) is None
    assert len(frags._pending) <= MAX_PENDING and frags.dropped >= 50
    assert frags.add((4, b"a", b"b", 5000, 17), 8, b"y", False, 1000.0) is None
    assert len(frags._pending) == 1        # the rest timed out
    assert frags.add((4, b"a", b"b", 1, 17), 60000, b"z" * 8000, False, 1000.0) is None   # > 64 KiB


def test_malformed_packets_are_counted_as_not_examined_not_raised():
    dec = IpDecoder()
    assert dec.decode(IPV4, b"\x45" + b"\0" * 5, 0, 0.0, 1) is None
    assert dec.decode(IPV4, struct.pack("!B", 0x41) + b"\0" * 30, 0, 0.0, 2) is None
    assert dec.decode(IPV6, b"\x60" + b"\0" * 10, 0, 0.0, 3) is None
    assert dec.decode(0x0806, b"\0" * 28, 0, 0.0, 4) is None
    tcp_short = ip_packet("192.0.2.1", "192.0.2.2", 6, b"\0" * 10)
    assert dec.decode(IPV4, tcp_short, 0, 0.0, 5) is None
    assert dec.unexamined == {"IPv4 headers cut short": 1, "IPv4 headers malformed": 1,
                              "IPv6 headers cut short": 1, "TCP headers cut short": 1}
    assert dec.unexamined_bytes["IPv4 headers malformed"] == 31
    assert dec.skipped == {NOT_DATA[0x0806]: 1}      # ARP carries nothing to examine


def _icmp(kind: int, body: bytes, code: int = 0) -> bytes:
    return struct.pack("!BBHI", kind, code, 0, 0) + body


def test_an_icmp_error_is_examined_and_control_with_fixed_fields_is_not_data():
    """An error quotes "the packet it reports", which its sender makes up at will: its body is a
    Segment (one flow per type between two hosts), as echo's is; discovery, timestamps and an error
    with no body carry nothing."""
    quoted = b"\x45" + b"q" * 499
    seg = IpDecoder().decode(IPV4, ip_packet("10.0.0.2", "203.0.113.9", 1, _icmp(3, quoted, code=3)), 0, 1.0, 1)
    assert (seg.transport, seg.src, seg.sport, seg.dst, seg.dport, seg.data) == (
        "icmp", "10.0.0.2", 3, "203.0.113.9", 3, quoted)
    v6 = IpDecoder().decode(IPV6, ipv6("2001:db8::2", "2001:db8::9", 58, _icmp(1, quoted)), 0, 1.0, 1)
    assert (v6.transport, v6.dport, v6.data) == ("icmp", 1, quoted)
    unknown = IpDecoder().decode(IPV4, ip_packet("10.0.0.2", "203.0.113.9", 1, _icmp(42, b"x" * 64)), 0, 1.0, 1)
    assert unknown.data == b"x" * 64                                   # a type nobody registered: examined
    for proto, packet in ((1, _icmp(3, b"")), (1, _icmp(13, b"\0" * 12)), (1, _icmp(10, b"")),
                          (58, _icmp(135, b"\0" * 16 + b"\x01\x01" + b"\0" * 6))):
        decoder = IpDecoder()
        frame = (ip_packet("10.0.0.2", "203.0.113.9", proto, packet) if proto == 1
                 else ipv6("fe80::2", "fe80::1", proto, packet))
        assert decoder.decode(IPV4 if proto == 1 else IPV6, frame, 0, 1.0, 1) is None
        assert set(decoder.skipped) == {NOT_DATA[IP_PROTO | proto]} and not decoder.unexamined


def test_control_that_can_leave_the_link_is_examined():
    """Routing and discovery messages are harmless within the link or within their fixed fields;
    sent beyond it, or longer, they carry what their sender likes (a PIM Register whole packets)."""
    body = b"r" * 400

    def seg(frame: bytes, v6: bool = False) -> Segment | None:
        return IpDecoder().decode(IPV6 if v6 else IPV4, frame, 0, 1.0, 1)

    assert seg(ip_packet("10.0.0.2", "224.0.0.5", 89, body)) is None                 # OSPF to AllSPFRouters
    ospf = seg(ip_packet("10.0.0.2", "203.0.113.9", 89, body))
    assert (ospf.transport, ospf.sport, ospf.dport, ospf.data) == ("ip", 89, 89, body)
    assert seg(ip_packet("10.0.0.2", "203.0.113.9", 103, body)).data == body        # a PIM Register
    assert seg(ipv6("2001:db8::2", "ff02::d", 103, body), v6=True) is None          # PIM hello on the link
    assert seg(ipv6("2001:db8::2", "2001:db8::9", 59, body), v6=True).data == body  # after "no next header"
    assert seg(ipv6("2001:db8::2", "2001:db8::9", 59, b""), v6=True) is None
    ns = _icmp(135, b"\0" * 16 + body)
    assert seg(ipv6("fe80::2", "fe80::1", 58, ns), v6=True) is None                  # neighbour discovery
    assert seg(ipv6("2001:db8::2", "2001:db8::9", 58, ns), v6=True).data == ns[8:]   # routed beyond the link
    assert seg(ip_packet("10.0.0.2", "203.0.113.9", 1, _icmp(13, b"\0" * 12 + body))).data == b"\0" * 12 + body


def _with_v4_options(packet: bytes, options: bytes) -> bytes:
    header = bytearray(packet[:20])
    header[0] = 0x40 | (5 + len(options) // 4)
    header[2:4] = (len(packet) + len(options)).to_bytes(2, "big")
    return bytes(header) + options + packet[20:]


def test_ip_options_past_the_usual_go_after_the_segment_s_record():
    """Read with the flow's option values; said where the frame makes no Segment (a fragment)."""
    options = bytes([0x1E, 36]) + b"reads in an option no one registers"[:34]
    datagram = ipv4("10.0.0.2", "192.0.2.9", 17, udp_datagram("10.0.0.2", "192.0.2.9", 5000, 5001, b"ok"))
    decoder = IpDecoder()
    seg = decoder.decode(IPV4, _with_v4_options(datagram, options), 0, 1.0, 1)
    assert seg.data == b"ok" and seg.head.endswith(options) and not decoder.unexamined
    first, *_ = ipv4_fragments("10.0.0.2", "192.0.2.9", 17, udp_datagram("10.0.0.2", "192.0.2.9", 5000, 5001,
                                                                          bytes(64)), 32)
    assert decoder.decode(IPV4, _with_v4_options(first, options), 0, 1.0, 2) is None
    assert list(decoder.unexamined) == ["IPv4 options past a router alert (option data of the sender's choice)"]
    alert = bytes([0x94, 4, 0, 0])                       # a router alert: what a lab's traffic holds
    assert IpDecoder().decode(IPV4, _with_v4_options(datagram, alert), 0, 1.0, 3).head == V4_HEAD.pack(0, 0, 64)

"""TCP evasions: segments a receiving kernel drops, sent to hide an upload of reads from the rig.

The instrument owns its host: it can send a segment with a bad checksum, a RST or FIN the receiver
ignores, or data on a SYN, and then the real bytes.  The receiver reads only the real ones; a
capture holds both.  Each capture here (written with the project's capture writer) carries an
HTTP POST of a sample's reads behind one such trick.  The replay must find the reads, and where it
saw two versions of the same bytes it says so (``not_examined``): never clean.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation, ip_packet, link_frame, tcp_segment
from sandbox.model import ACK, FIN, PSH, RST, SYN, URG
from sandbox.protocols.flows import CONTESTED, RESENT_OUT, URGENT_OUT
from sandbox.replay import replay
from sandbox.simulate import ensure_demo

REPO = Path(__file__).resolve().parents[2]
CLIENT, SERVER = ("10.0.0.2", 40000), ("192.0.2.9", 80)
TCP_CHECKSUM = 14 + 20 + 16     # Ethernet, IPv4 header, offset of the TCP checksum


@pytest.fixture(scope="module")
def demo_run() -> Path:
    return ensure_demo(REPO / "captures" / "demo")[0]


def post(body: bytes) -> bytes:
    return b"POST /up HTTP/1.1\r\nHost: 192.0.2.9\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def reads(run_dir: Path) -> bytes:
    return gzip.decompress(next(run_dir.rglob("*.fastq.gz")).read_bytes())[:60_000]


def bad_checksum(frame: bytes) -> bytes:
    damaged = bytearray(frame)
    damaged[TCP_CHECKSUM] ^= 0xFF
    return bytes(damaged)


def junk(data: bytes) -> bytes:
    return bytes(b ^ 0x55 for b in data)


def honest(c: TcpConversation, w: PcapWriter, request: bytes) -> None:
    c.send(request)


def reset_with_a_bad_checksum(c: TcpConversation, w: PcapWriter, request: bytes) -> None:
    w.write(bad_checksum(c._frame(True, RST | ACK)), c._tick())
    c.send(request)


def reset_out_of_window(c: TcpConversation, w: PcapWriter, request: bytes) -> None:
    w.write(c.segment_at(b"", c.seq[True] + 1_000_000, flags=RST | ACK), c._tick())
    c.send(request)


def fin_with_a_bad_checksum(c: TcpConversation, w: PcapWriter, request: bytes) -> None:
    w.write(bad_checksum(c._frame(True, FIN | ACK)), c._tick())
    c.send(request)


def junk_with_bad_checksums_first(c: TcpConversation, w: PcapWriter, request: bytes) -> None:
    first = c.seq[True]
    for off in range(0, len(request), c.mss):
        w.write(bad_checksum(c.segment_at(junk(request[off:off + c.mss]), first + off)), c._tick())
    c.send(request)


def junk_on_syns_first(c: TcpConversation, w: PcapWriter, request: bytes) -> None:
    """Data on a SYN to an established connection: a kernel answers with an ACK and drops it."""
    first = c.seq[True]
    for off in range(0, len(request), c.mss):
        w.write(c.segment_at(junk(request[off:off + c.mss]), first + off - 1, flags=SYN), c._tick())
    c.send(request)


def reset_then_syn_elsewhere(c: TcpConversation, w: PcapWriter, request: bytes) -> None:
    """A forged RST, then a forged SYN that moves the stream's origin past the real bytes."""
    w.write(bad_checksum(c._frame(True, RST | ACK)), c._tick())
    w.write(bad_checksum(c.segment_at(b"", c.seq[True] + 500_000, flags=SYN)), c._tick())
    c.send(request)


EVASIONS: dict[str, tuple[Callable, bool]] = {     # name: (trick, whether two versions were seen)
    "reset with a bad checksum": (reset_with_a_bad_checksum, False),
    "reset out of window": (reset_out_of_window, False),
    "fin with a bad checksum": (fin_with_a_bad_checksum, False),
    "junk with bad checksums first": (junk_with_bad_checksums_first, True),
    "junk on SYNs first": (junk_on_syns_first, True),
    "reset then a SYN elsewhere": (reset_then_syn_elsewhere, True),
}


def capture(path: Path, trick: Callable, request: bytes) -> Path:
    with PcapWriter(path) as w:
        c = TcpConversation(w, client=CLIENT, server=SERVER, t0=1.0)
        c.handshake()
        trick(c, w, request)
        c.close()
    return path


@pytest.mark.parametrize("name", EVASIONS)
def test_reads_behind_a_segment_the_receiver_drops_are_found(name, demo_run, tmp_path):
    trick, two_versions = EVASIONS[name]
    report = replay([capture(tmp_path / "evasion.pcap", trick, post(reads(demo_run)))], [demo_run],
                    cache_dir=tmp_path, jobs=1).report
    assert report["verdict"] == "leak"
    assert "run-bytes" in {f["kind"] for f in report["findings"]}
    resent = [row for row in report["not_examined"] if row["what"] == RESENT_OUT]
    assert bool(resent) == two_versions
    if two_versions:
        assert resent[0]["where"].startswith("tcp 10.0.0.2:40000 > 192.0.2.9:80") and resent[0]["bytes"] > 0


def test_an_honest_retransmission_is_no_blind_spot(demo_run, tmp_path):
    path = tmp_path / "honest.pcap"
    request = post(b"plain text, no reads " * 3000)
    with PcapWriter(path) as w:
        c = TcpConversation(w, client=CLIENT, server=SERVER, t0=1.0, acks=False)
        frames = c.build(request)
        for t, frame in frames + frames[5:9]:         # four segments sent twice, the same bytes
            w.write(frame, t)
        c.close()
    report = replay([path], [demo_run], cache_dir=tmp_path, jobs=1).report
    assert report["verdict"] == "clean" and not report["not_examined"]


def test_two_versions_without_reads_are_not_clean(demo_run, tmp_path):
    """Neither version carries reads, but the rig cannot tell which one the receiver read."""
    path = capture(tmp_path / "two.pcap", junk_with_bad_checksums_first, post(b"plain text, no reads " * 3000))
    report = replay([path], [demo_run], cache_dir=tmp_path, jobs=1).report
    assert report["verdict"] == "inconclusive"
    assert [row["what"] for row in report["not_examined"]] == [RESENT_OUT]


def test_a_forged_syn_from_the_far_end_hides_nothing(demo_run, tmp_path):
    """The instrument forges the server's SYN (then its own SYN-ACK) before it connects: taken for the
    opener, the server would be the instrument, and the reads its download.  An instrument on the bench
    (a private address) talking beyond it is its end whoever opened: the leak.  With both ends beyond
    the bench and without the instrument's addresses the rig cannot tell which end is which:
    inconclusive; with them, the leak."""
    def forged(path, client) -> None:
        with PcapWriter(path) as w:
            c = TcpConversation(w, client=client, server=SERVER, t0=1.0)
            w.write(c._frame(False, SYN), c._tick())
            w.write(c._frame(True, SYN | ACK), c._tick())
            c.send(post(reads(demo_run)))
            c.close()

    forged(tmp_path / "reversed.pcap", CLIENT)
    report = replay([tmp_path / "reversed.pcap"], [demo_run], cache_dir=tmp_path, jobs=1).report
    assert report["verdict"] == "leak" and not report["not_examined"]
    beyond = ("198.51.100.7", 40000)
    forged(tmp_path / "beyond.pcap", beyond)
    report = replay([tmp_path / "beyond.pcap"], [demo_run], cache_dir=tmp_path, jobs=1).report
    assert report["verdict"] == "inconclusive"
    (row,) = report["not_examined"]
    assert row["what"] == CONTESTED and row["where"] == "tcp 192.0.2.9:80 > 198.51.100.7:40000" and row["bytes"] > 60_000
    report = replay([tmp_path / "beyond.pcap"], [demo_run], cache_dir=tmp_path, jobs=1, instrument=[beyond[0]]).report
    assert report["verdict"] == "leak" and not report["not_examined"]



def urgent_byte_in_every_segment(c: TcpConversation, w: PcapWriter, request: bytes) -> None:
    """A junk byte in every 20 bytes, each sent urgent: a receiver takes it out of the stream it reads
    (its application reads in line), so it reads the request; the wire never holds 21 bases of a read
    in a row."""
    (src, sport), (dst, dport) = c.client, c.server
    for at in range(0, len(request), 20):
        piece = request[at:at + 20]
        segment = tcp_segment(src, dst, sport, dport, c.seq[True], c.seq[False], ACK | PSH | URG,
                              piece[:10] + b"#" + piece[10:], urgent=11)    # the pointer: just past the "#"
        w.write(link_frame(w.linktype, ip_packet(src, dst, 6, segment)), c._tick())
        c.seq[True] += len(piece) + 1


def test_reads_behind_urgent_bytes_are_found(demo_run, tmp_path):
    path = capture(tmp_path / "urgent.pcap", urgent_byte_in_every_segment, post(reads(demo_run)))
    report = replay([path], [demo_run], cache_dir=tmp_path, jobs=1).report
    assert report["verdict"] == "leak"
    (leak,) = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert leak["chain"][:2] == ["tcp", "urgent"]
    (row,) = report["not_examined"]
    assert row["what"] == URGENT_OUT and row["bytes"] == -(-len(post(reads(demo_run))) // 20)

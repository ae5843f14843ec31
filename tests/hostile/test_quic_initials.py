"""Reads in QUIC Initial packets, which anyone can open (their keys come from the connection ID): after
the hello, as CRYPTO data past it, as frames an Initial may not carry, or as a connection close's
reason.  The rig opened Initials until it had the hello and counted the rest as ciphertext: to the
allowed LIMS, 40 kB of reads replayed clean.  Now every client Initial is read."""

from __future__ import annotations

import pytest

from sandbox.captures.writer import PcapWriter, udp
from sandbox.replay import replay
from tests.hostile.test_tls_cleartext import client_hello
from tests.hostile.uploads import ALLOWED
from tests.protocols.quic_initials import crypto_frame, seal_initial, varint

DCID = bytes.fromhex("c0ffee0123456789")
HELLO = client_hello()[5:]          # the handshake message, without its TLS record header
PIECE = 1000


HIDING = {
    "crypto data past the hello": lambda n, piece: crypto_frame(len(HELLO) + n * PIECE, piece),
    "stream frames": lambda n, piece: b"\x0a\x00" + varint(len(piece)) + piece,        # STREAM, stream 0
    "a close's reason": lambda n, piece: b"\x1c\x01\x06" + varint(len(piece)) + piece,  # CONNECTION_CLOSE
}


@pytest.mark.parametrize("how", HIDING)
def test_reads_in_client_initials_are_a_leak(reads, how):
    tmp, run, fastq = reads
    pieces = [fastq[i:i + PIECE] for i in range(0, len(fastq), PIECE)]
    datagrams = [seal_initial(DCID, 0, crypto_frame(0, HELLO))]
    datagrams += [seal_initial(DCID, 1 + n, HIDING[how](n, piece)) for n, piece in enumerate(pieces)]
    path = tmp / f"{how}.pcap"
    with PcapWriter(path) as w:
        for n, datagram in enumerate(datagrams):
            udp(w, ("10.0.0.2", 50443), (ALLOWED, 443), datagram, t=1.0 + n / 100)
    report = replay([path], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "leak", how
    [leak] = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert leak["samples"] == ["PT5699-T1"] and leak["chain"][-2:] == ["quic", "initial packets"], leak["chain"]


def test_an_honest_client_s_initials_give_nothing_beside_the_hello(reads):
    """The hello, then Initials holding acknowledgements and padding: no finding, no payload besides."""
    tmp, run, _ = reads
    ack = b"\x02\x00\x00\x00\x00"                        # ACK of packet 0, no delay, no more ranges
    path = tmp / "honest.pcap"
    with PcapWriter(path) as w:
        udp(w, ("10.0.0.2", 50443), (ALLOWED, 443), seal_initial(DCID, 0, crypto_frame(0, HELLO)), t=1.0)
        for n in range(1, 20):
            udp(w, ("10.0.0.2", 50443), (ALLOWED, 443), seal_initial(DCID, n, ack + b"\x01"), t=1.0 + n / 100)
    report = replay([path], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "clean" and not report["not_examined"], report["findings"]

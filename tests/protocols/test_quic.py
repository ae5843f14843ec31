"""QUIC: the client's Initials decrypted for the server name, the rest counted as encrypted volume.

Real traffic only: the public traces of Zeek's and tcpdump's suites (Firefox, Chromium with a
ClientHello fragmented over Initials, a handshake on loopback) and connections made here by a real
QUIC stack (aioquic from mitmproxy's environment, sans-IO; ``quic_pair.py``).
"""

from __future__ import annotations

import gzip
import struct
import subprocess
from pathlib import Path

import pytest

from sandbox.captures.writer import PcapWriter, udp
from sandbox.model import NOT_EXAMINED_KIND, Observation, Payload, Segment
from sandbox.protocols import Dissector
from sandbox.protocols.quic import MAX_CRYPTO_AHEAD, MAX_INITIALS, InitialKeys, QuicParser, looks_like_quic
from sandbox.protocols.tls_keys import SHARED_KEYLOG, KeyLog
from sandbox.replay import replay
from tests.index.genrun import make_run
from tests.protocols.test_datagram_parsers_conformance import _quic_initial, dissected, encrypted, make_ctx

REPO = Path(__file__).resolve().parents[2]
MITM_PYTHON = REPO / ".venv-mitmproxy" / "bin" / "python"
PAIR = Path(__file__).with_name("quic_pair.py")
TRACES = "captures/public-traces"
CLIENT, SERVER = ("10.0.0.2", 50443), ("10.0.0.1", 443)

needs_aioquic = pytest.mark.skipif(not MITM_PYTHON.exists(), reason="mitmproxy's environment not set up (make setup)")


def quic_datagrams(upload: bytes, sni: str = "vendor-cloud.example", alpn: str = "h3",
                   retry: bool = False, keylog: Path | None = None, h3: bool = False,
                   key_update: bool = False) -> list[tuple[str, bytes]]:
    """The datagrams of a real QUIC connection whose client sends ``upload`` on one stream (``h3``: as
    an HTTP/3 POST's body), writing its key log to ``keylog``, changing keys halfway (``key_update``)."""
    cmd = [str(MITM_PYTHON), str(PAIR), sni, alpn] + (["--retry"] if retry else []) + (
        ["--keylog", str(keylog)] if keylog else []) + (["--h3"] if h3 else []) + (["--key-update"] if key_update else [])
    raw = subprocess.run(cmd, input=upload, capture_output=True, check=True, timeout=120).stdout
    out, pos = [], 0
    while pos < len(raw):
        direction, size = raw[pos], struct.unpack_from("!I", raw, pos + 1)[0]
        out.append(("out" if direction == 0 else "in", raw[pos + 5: pos + 5 + size]))
        pos += 5 + size
    return out


def write_pcap(path: Path, datagrams: list[tuple[str, bytes]]) -> Path:
    with PcapWriter(path) as w:
        for i, (direction, data) in enumerate(datagrams):
            src, dst = (CLIENT, SERVER) if direction == "out" else (SERVER, CLIENT)
            udp(w, src, dst, data, t=1_700_000_000.0 + i * 0.001)
    return path


def dissect(datagrams: list[tuple[str, bytes]], tmp: Path) -> list[Payload | Observation]:
    """What the Dissector makes of the datagrams (through the registry, as a replay does)."""
    return dissected(write_pcap(tmp / "quic.pcap", datagrams))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("quic") / "run", samples=1, reads_per_sample=4000)


# ---- real traffic from elsewhere ------------------------------------------------------------------

@pytest.mark.parametrize("name, sni, out_min", [
    ("zeek__quic__firefox-102.13.0esr-blog-cloudflare-com.pcap", "blog.cloudflare.com", 20_000),
    ("zeek__quic__chromium-115.0.5790.110-google-de-fragmented.pcap", "www.google.de", 10_000),
    ("tcpdump__quic_handshake.pcap", "localhost", 200),     # a handshake: its client Initials are read, not counted
])
def test_public_quic_traces_name_their_server_and_count_their_ciphertext(shared_data, name, sni, out_min):
    items = dissected(shared_data / TRACES / name)
    obs = encrypted(items)
    assert obs and {o.destination for o in obs} == {sni}
    o = max(obs, key=lambda o: o.bytes_out)
    assert o.chain == ("udp", "quic") and o.detail["sni"] == sni and o.detail["alpn"] == ["h3"]
    assert o.detail["quic_version"] == "1" and o.detail["decrypted"] is False
    assert o.bytes_out >= out_min and o.detail["bytes_in"] > o.bytes_out
    hellos = [p for p in items if isinstance(p, Payload) and p.chain == ("udp", "quic", "client hello")]
    assert hellos and all(h.data[:2] == b"\x03\x03" for h in hellos)     # legacy_version of a ClientHello
    # a browser's Initials carry its hello, acknowledgements and padding: nothing beside them
    assert not [p for p in items if isinstance(p, Payload) and p.chain == ("udp", "quic", "initial packets")]
    assert any(isinstance(p, Payload) and p.chain == ("udp", "quic sni") and p.data == sni.encode() for p in items)


# ---- a real QUIC stack --------------------------------------------------------------------------

@needs_aioquic
@pytest.mark.parametrize("retry", [False, True], ids=["plain", "after-retry"])
def test_a_real_connection_is_named_by_its_hello_and_its_upload_counted(retry, tmp_path):
    upload = bytes(range(256)) * 800       # 200 KB
    datagrams = quic_datagrams(upload, sni="h3.vendor.example", retry=retry)
    if retry:     # the capture begins after the Retry: the hello is read with the keys of the new ID
        assert datagrams[1][0] == "in" and datagrams[1][1][0] & 0xF0 == 0xF0      # a v1 Retry
        datagrams = datagrams[2:]
    assert looks_like_quic(datagrams[0][1])
    items = dissect(datagrams, tmp_path)
    (obs,) = encrypted(items)
    assert obs.destination == "h3.vendor.example" and obs.detail["sni"] == "h3.vendor.example"
    sent = sum(len(d) for direction, d in datagrams if direction == "out")
    # everything the client sent but its Initials (decrypted) is counted as ciphertext
    assert len(upload) < obs.bytes_out <= sent
    raw = [p for p in items if isinstance(p, Payload) and p.chain == ("udp",)]
    assert sum(len(p.data) for p in raw if p.direction == "out") >= sent    # still scanned, every byte


@needs_aioquic
def test_a_large_upload_over_quic_is_an_opaque_upload_not_clean(run, tmp_path):
    """Before QUIC was recognised, this replay said CLEAN with nothing to show."""
    fastq = gzip.decompress((run.path / next(iter(run.fastq.values()))).read_bytes())
    pcap = write_pcap(tmp_path / "h3.pcap", quic_datagrams(fastq, sni="upload.vendor.example"))
    report = replay([pcap], [run.path], cache_dir=tmp_path / "cache", jobs=1).report
    kinds = {f["kind"]: f for f in report["findings"]}
    assert kinds["opaque-volume"]["severity"] == "medium"
    assert kinds["opaque-volume"]["destination"] == "upload.vendor.example"
    assert kinds["opaque-volume"]["bytes_out"] > len(fastq)
    assert "run-bytes" not in kinds and "sequence" not in kinds      # ciphertext matches nothing


@needs_aioquic
def test_plaintext_dressed_as_quic_is_still_matched(run, tmp_path):
    """A QUIC handshake, then run data in clear after short headers: recognising QUIC hides nothing."""
    real = quic_datagrams(b"x" * 2000)
    fastq = gzip.decompress((run.path / next(iter(run.fastq.values()))).read_bytes())[:300_000]
    dcid = bytes(8)
    fake = [("out", b"\x40" + dcid + fastq[i: i + 1200]) for i in range(0, len(fastq), 1200)]
    pcap = write_pcap(tmp_path / "fake.pcap", real[:6] + fake)
    report = replay([pcap], [run.path], cache_dir=tmp_path / "cache", jobs=1).report
    assert report["verdict"] == "leak"
    assert {f["kind"] for f in report["findings"] if f["severity"] in ("high", "critical")} & {"run-bytes", "sequence"}


# ---- hostile and partial input -------------------------------------------------------------------

def test_initials_that_do_not_open_are_tried_a_bounded_number_of_times():
    parser = QuicParser(make_ctx())
    tried = []
    real_open = InitialKeys.open

    def counting(self, *args):
        tried.append(1)
        return real_open(self, *args)

    InitialKeys.open = counting
    try:
        for i in range(MAX_INITIALS * 4):
            parser.feed("out", _quic_initial(i.to_bytes(8, "big"), bytes(1200)), float(i))
    finally:
        InitialKeys.open = real_open
    assert len(tried) <= MAX_INITIALS * 2 and len(parser.keys) <= 4
    assert isinstance(parser.close(100.0), list)


def test_short_headers_alone_on_port_443_are_counted_once_they_look_encrypted(tmp_path):
    """A capture that began mid-connection: no long header to detect, the port hints QUIC."""
    rng = __import__("random").Random(7)
    datagrams = [("out", b"\x41" + bytes(rng.randrange(256) for _ in range(1199))) for _ in range(5)]
    (obs,) = encrypted(dissect(datagrams, tmp_path))
    assert obs.bytes_out == 5 * 1200 and obs.chain == ("udp", "quic")


def test_plain_udp_on_port_443_is_not_called_encrypted(tmp_path):
    datagrams = [("out", b"\x41" + b"hello run data " * 80) for _ in range(5)]
    assert encrypted(dissect(datagrams, tmp_path)) == []


def test_a_hello_in_countless_pieces_is_held_in_bounded_pieces():
    """Frames past the stream's end wait for the gap to fill: a bounded number of them (unbounded, the
    6,400 tiny frames 16 Initials can carry cost 1.5 s of CPU per flow, walked again at each one)."""
    parser = QuicParser(make_ctx())
    for i in range(MAX_INITIALS * 400, 0, -1):    # last first: every one waits for the gap
        parser._crypto(i * 3, b"abc", [])
    parser._crypto(0, b"abc", [])
    assert len(parser.crypto_ahead) <= MAX_CRYPTO_AHEAD and len(parser.crypto) <= 3 * (MAX_CRYPTO_AHEAD + 1)


# ---- with the client's key log ---------------------------------------------------------------------

def _opened(datagrams: list[tuple[str, bytes]], keylog: Path | None) -> tuple[list, Dissector]:
    d = Dissector()
    if keylog is not None:
        d.shared[SHARED_KEYLOG] = KeyLog(keylog.read_bytes())
    items: list = []
    for i, (direction, data) in enumerate(datagrams):
        src, dst = (CLIENT, SERVER) if direction == "out" else (SERVER, CLIENT)
        items += d.feed(Segment(1_700_000_000.0 + i * 0.001, "net", "udp", src[0], src[1], dst[0], dst[1], data))
    return items + d.close(), d


def _sent(items: list, kind: str) -> bytes:
    pieces = [p for p in items if isinstance(p, Payload) and p.chain == ("udp", "quic", kind)]
    assert all(p.direction == "out" for p in pieces)
    return b"".join(p.data for p in pieces)


@needs_aioquic
@pytest.mark.parametrize("h3, key_update", [(True, False), (False, False), (True, True)],
                         ids=["http/3", "a raw stream", "http/3 with a key update"])
def test_with_the_key_log_the_instrument_s_streams_are_read(h3, key_update, tmp_path):
    upload = b"".join(b"@r%d\nACGTACGGTTCA\n+\nFFFFFFFFFFFF\n" % i for i in range(6000))    # 190 kB
    keylog = tmp_path / "keys.log"
    datagrams = quic_datagrams(upload, sni="h3.vendor.example", alpn="h3" if h3 else "raw-upload", keylog=keylog,
                               h3=h3, key_update=key_update)
    items, d = _opened(datagrams, keylog)
    (info,) = d.flows.values()
    assert info.decrypted
    assert not [o for o in items if isinstance(o, Observation) and o.kind == NOT_EXAMINED_KIND]    # every packet opened
    if h3:
        assert _sent(items, "http/3 body") == upload           # the body, its DATA frames' headers apart
    else:
        assert _sent(items, "stream") == upload
    # what was opened is not ciphertext: every packet the client sent, its Handshake ones too (the key log
    # holds the client's secrets only: the server's packets stay sealed)
    (obs,) = encrypted(items)
    assert obs.bytes_out == 0 and obs.detail["bytes_in"] > 0
    without, _ = _opened(datagrams, None)
    assert not _sent(without, "http/3 body") and not _sent(without, "stream")
    (sealed,) = encrypted(without)
    assert sealed.bytes_out > len(upload)


@needs_aioquic
def test_an_upload_over_http3_with_the_key_log_replays_as_a_leak(run, tmp_path):
    """A gzip of reads POSTed over HTTP/3 to the allowed LIMS: with the key log the replay finds the reads
    (before, it weighed QUIC as ciphertext only: to an allowed place, clean)."""
    fastq = gzip.decompress((run.path / next(iter(run.fastq.values()))).read_bytes())
    keylog = tmp_path / "keys.log"
    pcap = write_pcap(tmp_path / "h3.pcap", quic_datagrams(gzip.compress(fastq), sni="lims.lab.example",
                                                            keylog=keylog, h3=True))
    report = replay([pcap], [run.path], allow=["lims.lab.example", SERVER[0]], keylog=keylog,
                    cache_dir=tmp_path / "cache", jobs=1).report
    assert report["verdict"] == "leak"
    leaks = [f for f in report["findings"] if f["kind"] in ("sequence", "run-bytes")]
    assert leaks and any("http/3 body" in f["chain"] for f in leaks)


@needs_aioquic
def test_a_packet_of_a_keyed_connection_that_does_not_open_is_not_examined(tmp_path):
    keylog = tmp_path / "keys.log"
    datagrams = quic_datagrams(b"x" * 5000, sni="h3.vendor.example", alpn="raw-upload", keylog=keylog)
    at = max(i for i, (d, data) in enumerate(datagrams) if d == "out" and not data[0] & 0x80)   # a 1-RTT one
    forged = bytearray(datagrams[at][1])
    forged[-1] ^= 1                     # its tag no longer authenticates it
    items, _ = _opened(datagrams[:at] + [("out", bytes(forged))] + datagrams[at + 1:], keylog)
    (blind,) = [o for o in items if isinstance(o, Observation) and o.kind == NOT_EXAMINED_KIND]
    assert blind.bytes_out == len(forged) and "did not open" in blind.detail["what"]

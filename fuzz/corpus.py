"""Seed inputs per fuzz target, built at fuzz time: real captures from ``../shared/data/captures``
(never copied into the repository), the streams and datagrams inside them, and what our own writer
and simulator make.  Each seed is capped at ``MAX_SEED`` bytes (the fuzzer's ``-max_len``)."""

from __future__ import annotations

import base64
import bz2
import functools
import gzip
import hashlib
import io
import lzma
import os
import struct
import subprocess
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import brotli
import cramjam
import lz4.block
import lz4.frame
import pysam
import zstandard

from sandbox.captures import CaptureError, open_capture
from sandbox.captures.writer import (
    LINKTYPE_LINUX_SLL,
    LINKTYPE_RAW,
    PcapngWriter,
    PcapWriter,
    TcpConversation,
    udp,
)
from sandbox.model import Payload
from sandbox.protocols import Dissector
from sandbox.simulate import wire
from sandbox.simulate.traffic import INSTRUMENT, Bench
from sandbox.simulate.usb import (
    NetworkLink,
    SerialHost,
    UsbBench,
    keyboard,
    network_adapter,
    open_writer,
    serial_adapter,
    stick_session,
)

from .targets import TARGETS, encode_records, slug

REPO = Path(__file__).resolve().parents[1]
SHARED_CAPTURES = Path(os.environ.get("SANDBOX_SHARED_DATA", REPO.parent / "shared" / "data")) / "captures"
MAX_SEED = 64 << 10          # the fuzzer's -max_len: a few full-size segments or a small capture
MAX_STREAM_SEEDS = 200       # reassembled flows taken from the shared captures
FASTQ = b"".join(b"@r%d 1:N:0:ACGT\nACGTTGCAAGGCTTAACCGTAGCTAGGATCCGATCG\n+\nIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIII\n" % i
                 for i in range(40))


def _shared() -> list[Path]:
    if not SHARED_CAPTURES.is_dir():
        return []
    return sorted(p for p in SHARED_CAPTURES.rglob("*") if p.is_file() and p.suffix in (".pcap", ".pcapng", ".gz"))


def _written() -> Iterator[tuple[str, bytes]]:
    """Small captures from our writer: both formats, several link types, TCP and UDP."""
    for name, writer, kw in (("pcap", PcapWriter, {}), ("pcap-raw", PcapWriter, {"linktype": LINKTYPE_RAW}),
                             ("pcap-sll", PcapWriter, {"linktype": LINKTYPE_LINUX_SLL}),
                             ("pcapng", PcapngWriter, {"tls_secrets": b"CLIENT_RANDOM 00 11\n"})):
        buf = io.BytesIO()
        w = writer(buf, **kw)
        conv = TcpConversation(w, ("10.0.0.2", 40000), ("203.0.113.9", 80), t0=1.0)
        conv.send(wire.http_request("POST", "/x", "h.example", FASTQ[:3000], content_type="text/plain"))
        conv.send(wire.http_response(b"{}"), from_client=False)
        conv.close()
        udp(w, ("10.0.0.2", 5353), ("10.0.0.1", 53), wire.dns_query(7, "a1b2c3d4e5f6a7b8.t.example"), t=2.0)
        yield name, buf.getvalue()


def capture_seeds(fmt: str) -> Iterator[bytes]:
    """Captures of one format (``pcap`` or ``pcapng``), shared ones first."""
    magic = {b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1"}
    for path in _shared():
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        is_pcap = data[:4] in magic
        if (fmt == "pcap") == is_pcap:
            yield data[:MAX_SEED]
    for name, data in _written():
        if name.startswith(fmt) and (fmt == "pcapng") == (name == "pcapng"):
            yield data


@functools.cache
def _flows() -> list[tuple[str, list[Payload]]]:
    """Every flow of the shared captures as the raw parser carves it: (transport, payloads)."""
    out: list[tuple[str, list[Payload]]] = []
    for path in _shared():
        try:
            segments = list(open_capture(path))
        except CaptureError:
            continue
        d = Dissector(stream_parsers=[], datagram_parsers=[])
        items = []
        for seg in segments:
            items += d.feed(seg)
        items += d.close()
        by_flow: dict[str, list[Payload]] = {}
        for item in items:
            if isinstance(item, Payload):
                by_flow.setdefault(item.flow, []).append(item)
        out += [(flow.split(" ", 1)[0], payloads) for flow, payloads in by_flow.items()]
    return out


def parser_seeds(datagram: bool) -> Iterator[bytes]:
    """Conversations: the shared captures' flows, then protocol openings our simulator writes."""
    n = 0
    for transport, payloads in _flows():
        if (transport == "udp") != datagram or n >= MAX_STREAM_SEEDS:
            continue
        n += 1
        yield encode_records([(p.direction, p.data) for p in payloads])[:MAX_SEED]
    if datagram:
        yield encode_records([("out", wire.dns_query(1, "x7k2.data.exfil.test", 16)),
                              ("in", wire.dns_answer(1, "x7k2.data.exfil.test", "192.0.2.1"))])
        return
    query = wire.dns_query(2, "www.example.org")
    for conversation in (
        [("out", wire.http_request("POST", "/up", "h.example", FASTQ, content_type="text/plain")),
         ("in", wire.http_response(b'{"ok":1}'))],
        [("out", b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
          + b"%x\r\n" % len(gz := gzip.compress(FASTQ)) + gz + b"\r\n0\r\n\r\n")],
        [("out", wire.client_hello("h.example", bytes(32), bytes(32))),
         ("in", wire.server_hello(bytes(32), bytes(32), bytes(32)))],
        [("out", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")],
        [("out", b"\x82\x85\x01\x02\x03\x04" + bytes(b ^ k for b, k in zip(b"hello", b"\x01\x02\x03\x04\x01", strict=True)))],
        [("out", len(query).to_bytes(2, "big") + query)],
        [("in", b"220 mail ESMTP\r\n"), ("out", b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"),
         ("out", b"Subject: r\r\n\r\n" + FASTQ[:500] + b"\r\n.\r\n")],
        [("in", b"220 ftp\r\n"), ("out", b"USER a\r\nPASV\r\nSTOR reads.fastq\r\n"),
         ("in", b"227 Entering Passive Mode (10,0,0,9,117,49)\r\n")],
        wire.smb_upload("run\\reads.fastq", FASTQ[:3000], piece=1000),
        [("out", wire.mqtt_connect("seq-01", level=5)), ("in", b"\x20\x03\x00\x00\x00"),
         ("out", wire.mqtt_publish("run/42", FASTQ[:2000], qos=1, level=5, properties=b"\x23\x00\x01"))],
        [("out", wire.AMQP_HEADER), ("out", wire.amqp_publish(1, "runs", "run42", FASTQ[:3000], frame_max=1000))],
        [("out", wire.pg_startup("lims", "runs")), ("in", wire.pg_message(b"Z", b"I")),
         ("out", wire.pg_copy("runs", FASTQ[:3000], piece=1000))],
        [("out", wire.AMQP10_HEADER), ("out", wire.amqp10_attach("l0", 0, "/queue/runs")),
         ("out", wire.amqp10_transfers(0, 0, wire.amqp10_data(FASTQ[:3000]), max_frame=1000))],
    ):
        yield encode_records(conversation)


def _tables(data: bytes) -> tuple[bytes, bytes]:
    """A Parquet file (snappy pages, a dictionary, page statistics) and an ORC file (zlib chunks)
    of ``data``'s lines."""
    import pyarrow as pa  # lazily: only the decoder seeds need it
    import pyarrow.orc as orc
    import pyarrow.parquet as pq

    table = pa.table({"line": data.splitlines()})
    parquet, orc_file = io.BytesIO(), io.BytesIO()
    pq.write_table(table, parquet)
    orc.write_table(table, orc_file, compression="zlib")
    return parquet.getvalue(), orc_file.getvalue()


def _avro(data: bytes) -> bytes:
    """An Avro container: a header naming the deflate codec, one block of ``data`` as a record."""
    def long(n: int) -> bytes:
        n, out = n << 1, bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)

    schema = b'{"type":"record","name":"R","fields":[{"name":"d","type":"bytes"}]}'
    meta = long(2) + long(11) + b"avro.schema" + long(len(schema)) + schema + long(10) + b"avro.codec" \
        + long(7) + b"deflate" + long(0)
    sync = bytes(range(16))
    block = zlib.compressobj(6, zlib.DEFLATED, -15)
    packed = block.compress(long(len(data)) + data) + block.flush()
    return b"Obj\x01" + meta + sync + long(1) + long(len(packed)) + packed + sync


def _cabinet(data: bytes, name: bytes = b"reads.fastq") -> bytes:
    """A cabinet of one file in one MSZIP folder: blocks of 32 KiB, each "CK" and a deflate stream
    with the block before it as its dictionary."""
    blocks, window = [], b""
    for at in range(0, len(data), 32768):
        piece = data[at: at + 32768]
        deflate = zlib.compressobj(6, zlib.DEFLATED, -15, zdict=window) if window else \
            zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = b"CK" + deflate.compress(piece) + deflate.flush()
        blocks.append(struct.pack("<IHH", 0, len(packed), len(piece)) + packed)
        window = piece
    entry = struct.pack("<IIHHHH", len(data), 0, 0, 0, 0, 0x20) + name + b"\x00"
    header = struct.pack("<4sIIIIIBBHHHHH", b"MSCF", 0, 0, 0, 44, 0, 3, 1, 1, 1, 0, 0, 0)
    folder = struct.pack("<IHH", 44 + len(entry), len(blocks), 1)
    return header + folder + entry + b"".join(blocks)


def _tool(command: list[str], data: bytes, out: str | None = None) -> bytes:
    """What an archiver writes of ``data`` (as ``reads.fastq``), to its standard output or to ``out``."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "reads.fastq").write_bytes(data)
        written = subprocess.run(command, cwd=tmp, capture_output=True, check=True).stdout
        return (Path(tmp) / out).read_bytes() if out else written


def _archivers(data: bytes) -> list[bytes]:
    """The archivers' other methods, as their own tools write them: compress's LZW, lzip, lzop, a zip
    of Deflate64 and one of PPMd members, a 7z of PPMd."""
    seven = ["7zz", "a", "-bd", "-bso0"]
    return [_tool(["compress", "-c", "reads.fastq"], data), _tool(["lzip", "-c", "reads.fastq"], data),
            _tool(["lzop", "-c", "reads.fastq"], data),
            _tool([*seven, "-tzip", "-mm=Deflate64", "out.zip", "reads.fastq"], data, "out.zip"),
            _tool([*seven, "-tzip", "-mm=PPMd", "out.zip", "reads.fastq"], data, "out.zip"),
            _tool([*seven, "-m0=PPMd", "out.7z", "reads.fastq"], data, "out.7z")]


def _crams(data: bytes) -> list[bytes]:
    """The FASTQ text's reads as unaligned CRAMs, as htslib writes them (3.0: rANS 4x8; 3.1: rANS Nx16)."""
    lines = data.splitlines()
    made = []
    with tempfile.TemporaryDirectory() as tmp:
        for options in ([b"version=3.0"], [b"version=3.1"], [b"version=3.1", b"small"]):
            path = Path(tmp) / "reads.cram"
            with pysam.AlignmentFile(str(path), "wc", header={"HD": {"VN": "1.6"}}, format_options=options) as out:
                for i in range(0, len(lines) - 3, 4):
                    read = pysam.AlignedSegment()
                    read.query_name, read.query_sequence, read.flag = f"r{i}", lines[i + 1].decode(), 4
                    read.query_qualities = pysam.qualitystring_to_array("F" * len(lines[i + 1]))
                    out.write(read)
            made.append(path.read_bytes())
    return made


def decoder_seeds() -> Iterator[bytes]:
    """One sample of every encoding and container the decoders know, then the shared HTTP bodies."""
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("reads.fastq", FASTQ)
    body, _ = wire.multipart([("f", "reads.fastq", FASTQ[:800], "text/plain")], "b0und")
    yield from (
        gzip.compress(FASTQ), zlib.compress(FASTQ), zlib.compress(FASTQ)[2:-4], bz2.compress(FASTQ),
        lzma.compress(FASTQ), zstandard.ZstdCompressor().compress(FASTQ), brotli.compress(FASTQ),
        zbuf.getvalue(), wire.tar_gz([("reads.fastq", FASTQ)]), gzip.decompress(wire.tar_gz([("r.fq", FASTQ)])),
        base64.b64encode(FASTQ), base64.b32encode(FASTQ[:600]), FASTQ[:900].hex().encode(),
        b'{"d": "' + base64.b64encode(gzip.compress(FASTQ)) + b'", "n": [1, 2]}',
        b"a=" + base64.urlsafe_b64encode(FASTQ[:300]) + b"&b=%41%43%47%54", body,
        b"=41=43=47=54=\r\nACGT", b"\x0a\x05hello\x10\x96\x01\x1a\x03abc",
        lz4.frame.compress(FASTQ), bytes(cramjam.snappy.compress(FASTQ)), bytes(cramjam.snappy.compress_raw(FASTQ)),
        *_tables(FASTQ), _avro(FASTQ), _cabinet(FASTQ), *_archivers(FASTQ), lz4.block.compress(FASTQ),
        *_crams(FASTQ),
    )
    n = 0
    for transport, payloads in _flows():
        if transport == "tcp" and n < MAX_STREAM_SEEDS:
            for p in payloads:
                if p.direction == "out" and len(p.data) > 64:
                    n += 1
                    yield p.data[:MAX_SEED]
                    break


def usb_seeds() -> Iterator[bytes]:
    """The USB bench's devices (stick, USB-serial adapter, network adapters, keyboard) as records."""
    def stick(w) -> None:
        stick_session(w, {"RUN/reads.fastq": FASTQ}, fat_bits=16)

    def serial(w) -> None:
        bench = UsbBench(w)
        SerialHost(bench, bench.plug(serial_adapter())).xmodem(FASTQ[:600])

    def network(kind: str):
        def write(w) -> None:
            usb = UsbBench(w)
            net = Bench(NetworkLink(usb, usb.plug(network_adapter(kind)), INSTRUMENT), t0=usb.t)
            net.resolve("x7k2.data.exfil.test", "192.0.2.1")
        return write

    def hid(w) -> None:
        UsbBench(w).plug(keyboard())

    kinds = {"isochronous": 0, "interrupt": 1, "control": 2, "bulk": 3}
    for write in (stick, serial, network("ecm"), network("ncm"), network("rndis"), hid):
        with tempfile.TemporaryDirectory(prefix="sbx-fuzz-usb-") as tmp:
            path = Path(tmp) / "usb.pcapng"
            with open_writer(path) as w:
                write(w)
            parts = []
            for seg in open_capture(path):
                setup = seg.meta.get("setup") if isinstance(seg.meta.get("setup"), bytes) else b""
                head = bytes([seg.meta["endpoint"], kinds[seg.meta["transfer"]]])
                parts.append((seg.meta["direction"], head + setup + seg.data))
        yield encode_records(parts)[:MAX_SEED]


def seeds(target: str) -> Iterator[bytes]:
    kind = TARGETS[target].kind
    if kind == "usb":
        return usb_seeds()
    if kind.startswith("capture-"):
        return capture_seeds(kind.removeprefix("capture-"))
    if kind in ("parser", "datagram"):
        return parser_seeds(kind == "datagram")
    return decoder_seeds()


def write_seeds(target: str, folder: Path) -> int:
    """The target's seeds as files named by their hash in ``folder``; returns how many."""
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for data in seeds(target):
        (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)
        n += 1
    return n


__all__ = ["MAX_SEED", "seeds", "slug", "write_seeds"]

"""One contract, every decoder: round-trip, truncation, garbage, bombs, fuzz.

Parametrised over ``sandbox.decode.DECODERS``: a decoder registered without an entry in
``ENCODERS`` below fails ``test_every_decoder_has_a_spec``, so it is tested the day it lands.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import gzip
import inspect
import io
import json
import lzma
import os
import random
import re
import struct
import subprocess
import tarfile
import tempfile
import tracemalloc
import urllib.parse
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import brotli
import cramjam
import fastavro
import lz4.frame
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from urllib3.filepost import encode_multipart_formdata

from sandbox.decode import (
    DECODERS,
    DEFAULT_LIMITS,
    Budget,
    Decoder,
    Limits,
    expand,
    lowbits,
    pairs,
    runlength,
    strided,
    xor,
)
from sandbox.decode.limits import MiB
from sandbox.index.kmers import SYMBOL_RUN_MIN
from tests.decode.test_words import numbered

CHAIN = ("tcp", "test")


def _reads(n: int, seed: int = 7) -> bytes:
    """FASTQ-shaped text: what leaks look like (random bases, so it does not over-compress)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        seq = "".join(rng.choice("ACGT") for _ in range(100))
        out.append(f"@read{i} 1:N:0:ACGT\n{seq}\n+\n{'F' * 100}\n")
    return "".join(out).encode()


SAMPLE = _reads(1200)  # ~150 KB: several zstd/brotli blocks, so a cut stream has complete ones


def _zip(data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("reads.fastq", data)
    return buf.getvalue()


def _tar(data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("run/reads.fastq")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def varint(n: int) -> bytes:
    """A base-128 varint (protobuf, Thrift's compact protocol)."""
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def protobuf_field(number: int, value: bytes | int) -> bytes:
    """Protocol Buffers wire format (no protobuf package here): varint or length-delimited field."""
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    return varint(number << 3 | 2) + varint(len(value)) + value


def _protobuf(data: bytes) -> bytes:
    inner = protobuf_field(1, 42) + protobuf_field(3, data) + protobuf_field(4, 7)
    return protobuf_field(2, 1) + protobuf_field(1, inner)


def _pdf(data: bytes, level: int = 6) -> bytes:
    """A small PDF: a page whose content stream (obj 4) holds ``data``, Flate-compressed."""
    stream = zlib.compress(data, level)
    return (b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
            b"3 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>\nendobj\n"
            + f"4 0 obj\n<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\r\n".encode()
            + stream + b"\r\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")


def _png(data: bytes, level: int = 6) -> bytes:
    """A PNG whose image data (one grey row: a filter byte, then pixels) inflates to ``data``."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = (len(data) - 1).to_bytes(4, "big") + (1).to_bytes(4, "big") + b"\x08\x00\x00\x00\x00"
    image = zlib.compress(data, level)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", image) + chunk(b"IEND", b"")


def _image(data: bytes, fmt: str, **options) -> bytes:
    """``data`` as the grey pixels of a one-row image in ``fmt``, as Pillow writes it."""
    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("L", (len(data), 1), data).save(out, format=fmt, **options)
    return out.getvalue()


def _as_reads(data: bytes) -> list[bytes]:
    """``data`` as reads of 100 bases (two bits a base, the last read padded with A)."""
    bases = bytes(b"ACGT"[b >> s & 3] for b in data for s in (6, 4, 2, 0))
    bases += b"A" * (-len(bases) % 100)
    return [bases[i:i + 100] for i in range(0, len(bases), 100)]


def _transposed(data: bytes) -> bytes:
    """``data``'s reads written a column a line: every read's first base, then every read's second, ..."""
    reads = _as_reads(data)
    return b"\n".join(bytes(read[i] for read in reads) for i in range(100)) + b"\n"


def _lzma2_raw(data: bytes) -> bytes:
    """``data`` as a raw LZMA2 stream: no container, no magic."""
    return lzma.compress(data, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "preset": 1}])


def _low_bits(data: bytes) -> bytes:
    """``data`` in the lowest bit of each of as many random bytes as it has bits (the first bit the
    highest), as a screenshot's pixels hide it."""
    bits = np.unpackbits(np.frombuffer(data, np.uint8))
    cover = np.frombuffer(random.Random(len(data)).randbytes(len(bits)), np.uint8)
    return (cover & 0xFE | bits).tobytes()


GIF_WIDTH = 4096   # GIF's sizes are 16-bit: rows of this many pixels, the last padded with zeros


def _gif(data: bytes) -> bytes:
    """``data`` as the pixels of a GIF whose palette is a grey ramp (each byte its own index), as
    Pillow writes it."""
    from PIL import Image

    width = min(len(data), GIF_WIDTH) or 1
    rows = -(-len(data) // width) or 1
    image = Image.frombytes("P", (width, rows), data.ljust(width * rows, b"\x00"))
    image.putpalette([v for n in range(256) for v in (n, n, n)])
    out = io.BytesIO()
    image.save(out, format="GIF", optimize=False)
    return out.getvalue()


def _multipart(data: bytes) -> bytes:
    body, _ = encode_multipart_formdata({"run": "x", "file": ("reads.fastq", data, "text/plain")})
    return body


@dataclass(frozen=True)
class Spec:
    encode: Callable[[bytes], bytes]
    label: str  # label of the view holding SAMPLE
    partial: bool = False  # a stream cut in half still yields a prefix of the data
    bomb: Callable[[], bytes] | None = None
    view: Callable[[bytes], bytes] = bytes  # what the decoded view of encode(data) is: data, or data re-written
    min_size: int = 0  # a statistical decoder: content shorter than this is not read through the encoding
    says: str = ""  # a recogniser yields no view: what it says it did not read


def _bcf_value(text: bytes) -> bytes:
    """A BCF typed string (its length in the descriptor, or after it as a typed integer)."""
    if len(text) < 15:
        return bytes([len(text) << 4 | 7]) + text
    return b"\xf7" + (b"\x11" + len(text).to_bytes(1, "little") if len(text) < 128
                      else b"\x12" + len(text).to_bytes(2, "little")) + text


def _bcf(data: bytes) -> bytes:
    """A BCF (BCF2.2) of one record per 200 bytes of data, that piece its reference allele."""
    text = b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n\x00"
    out = [b"BCF\x02\x02", len(text).to_bytes(4, "little"), text]
    for n, i in enumerate(range(0, len(data), 200)):
        piece = data[i: i + 200]
        shared = (struct.pack("<iiifHHI", 0, 1000 * n, len(piece), 30.0, 0, 1, 0) + _bcf_value(b"")
                  + _bcf_value(piece) + b"\x00")
        out += [struct.pack("<II", len(shared), 0), shared]
    return b"".join(out)


def _bcf_view(data: bytes) -> bytes:
    return b"".join(b"%d %s .\n" % (1000 * n + 1, data[i: i + 200]) for n, i in enumerate(range(0, len(data), 200)))


def _parquet(data: bytes, codec: str = "snappy") -> bytes:
    """A Parquet file of one required binary column holding ``data`` as one value (PLAIN, no
    dictionary, so the page is its length and its bytes), pages compressed with ``codec``."""
    schema = pa.schema([pa.field("reads", pa.binary(), nullable=False)])
    buf = io.BytesIO()
    pq.write_table(pa.table({"reads": [data]}, schema=schema), buf, compression=codec, use_dictionary=False,
                   write_statistics=False)
    return buf.getvalue()


def _parquet_zeros() -> bytes:
    """256 MiB of int64 zeros in zstd pages of 1 MiB."""
    buf = io.BytesIO()
    column = pa.Array.from_buffers(pa.int64(), 32 * MiB, [None, pa.py_buffer(bytes(256 * MiB))])
    schema = pa.schema([pa.field("zeros", pa.int64(), nullable=False)])
    pq.write_table(pa.table({"zeros": column}, schema=schema), buf, compression="zstd", use_dictionary=False,
                   write_statistics=False)
    return buf.getvalue()


_AVRO_SCHEMA = {"type": "record", "name": "Upload", "fields": [{"name": "data", "type": "bytes"}]}


def _avro(data: bytes) -> bytes:
    """An Avro container of one record holding ``data``, its block deflate-compressed."""
    buf = io.BytesIO()
    fastavro.writer(buf, _AVRO_SCHEMA, [{"data": data}], codec="deflate")
    return buf.getvalue()


def _avro_zeros() -> bytes:
    """256 MiB of zeros: records of a 1 MiB fixed field (no length before it), deflate blocks."""
    schema = {"type": "record", "name": "Zeros",
              "fields": [{"name": "z", "type": {"type": "fixed", "name": "MiB", "size": MiB}}]}
    buf = io.BytesIO()
    fastavro.writer(buf, schema, ({"z": bytes(MiB)} for _ in range(256)), codec="deflate")
    return buf.getvalue()


def _orc(data: bytes, piece: int = 16384) -> bytes:
    """An ORC file's chunk run: ``data`` in zlib chunks (raw deflate after a 3-byte header), then
    a postscript naming ZLIB (field 2) and a 256 KiB block size (field 3), "ORC" (field 8000)."""
    chunks = b"".join(((len(c) << 1).to_bytes(3, "little") + c)
                      for c in (_deflate(data[i: i + piece]) for i in range(0, len(data), piece)))
    postscript = b"\x08\x00\x10\x01\x18" + varint(256 * 1024) + varint(8000 << 3 | 2) + b"\x03ORC"
    return b"ORC" + chunks + postscript + bytes([len(postscript)])


def _cab(data: bytes) -> bytes:
    """A cabinet of one file, reads.fastq, MSZIP-compressed by gcab (Debian's cabinet tool)."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "reads.fastq").write_bytes(data)
        subprocess.run(["gcab", "-c", "-z", "out.cab", "reads.fastq"], cwd=tmp, check=True)
        return (Path(tmp) / "out.cab").read_bytes()


def _cab_zeros() -> bytes:
    """A cabinet of 256 MiB of zeros: 8,192 MSZIP blocks of 32 KiB, each a few dozen bytes."""
    block = zlib.compressobj(9, zlib.DEFLATED, -15, zdict=bytes(32768))
    packed = b"CK" + block.compress(bytes(32768)) + block.flush()
    count, name = 8192, b"zeros.bin\x00"
    data_at = 36 + 8 + 16 + len(name)  # CFHEADER, CFFOLDER, CFFILE
    header = struct.pack("<4sIIIIIBBHHHHH", b"MSCF", 0, 0, 0, 36 + 8, 0, 3, 1, 1, 1, 0, 0, 0)
    folder = struct.pack("<IHH", data_at, count, 1)
    entry = struct.pack("<IIHHHH", count * 32768, 0, 0, 0, 0, 0x20) + name
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = b"CK" + first.compress(bytes(32768)) + first.flush()
    blocks = [struct.pack("<IHH", 0, len(head), 32768) + head]
    blocks += [struct.pack("<IHH", 0, len(packed), 32768) + packed] * (count - 1)
    return header + folder + entry + b"".join(blocks)


def _7z(data: bytes) -> bytes:
    """A 7z archive of one file, reads.fastq, made by 7-Zip (LZMA2, its header LZMA-packed)."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "reads.fastq").write_bytes(data)
        subprocess.run(["7zz", "a", "-bd", "-bso0", "out.7z", "reads.fastq"], cwd=tmp, check=True)
        return (Path(tmp) / "out.7z").read_bytes()


def _itf8(n: int) -> bytes:
    """CRAM's ITF8 of a size (a -1 reference, five bytes, is written as it is)."""
    if n < 0x80:
        return bytes([n])
    if n < 0x4000:
        return bytes([0x80 | n >> 8, n & 0xFF])
    if n < 0x200000:
        return bytes([0xC0 | n >> 16, n >> 8 & 0xFF, n & 0xFF])
    if n < 0x10000000:
        return bytes([0xE0 | n >> 24, n >> 16 & 0xFF, n >> 8 & 0xFF, n & 0xFF])
    return bytes([0xF0 | n >> 28, n >> 20 & 0xFF, n >> 12 & 0xFF, n >> 4 & 0xFF, n & 0x0F])


def _cram(data: bytes) -> bytes:
    """A CRAM 3.0 file of one container of unaligned records whose one external block (content id 7,
    gzip) holds ``data``, laid out byte for byte as the specification says (pysam's are in test_cram)."""
    packed = gzip.compress(data, mtime=0)
    block = b"\x01\x04\x07" + _itf8(len(packed)) + _itf8(len(data)) + packed
    block += zlib.crc32(block).to_bytes(4, "little")
    head = (b"\xff\xff\xff\xff\x0f" + b"\x00\x00\x00" + b"\x00\x00" + b"\x01" + b"\x00")
    head = len(block).to_bytes(4, "little") + head
    return b"CRAM\x03\x00" + b"reads".ljust(20, b"\x00") + head + zlib.crc32(head).to_bytes(4, "little") + block


def _compress(data: bytes) -> bytes:
    """compress(1)'s .Z (Debian's ncompress; -f: written even when no smaller)."""
    return subprocess.run(["compress", "-c", "-f"], input=data, capture_output=True).stdout


def _lzip(data: bytes, level: int = 6) -> bytes:
    """lzip(1)'s .lz (Debian's lzip)."""
    return subprocess.run(["lzip", "-c", f"-{level}"], input=data, capture_output=True, check=True).stdout


def _lzop(data: bytes) -> bytes:
    """lzop(1)'s .lzo (Debian's lzop): a format the rig recognises and does not read."""
    return subprocess.run(["lzop", "-c"], input=data, capture_output=True, check=True).stdout


def _uu(data: bytes) -> bytes:
    """uuencode's output: a begin line, lines of 45 bytes, a zero-length line, end."""
    lines = [binascii.b2a_uu(data[i: i + 45], backtick=True) for i in range(0, len(data), 45)]
    return b"begin 644 reads.fastq\n" + b"".join(lines) + b"`\nend\n"


XOR_KEY = bytes.fromhex("9be2d14c07a36f58e01d7ab4c96235f0")    # 16 bytes


def _xor(data: bytes) -> bytes:
    return bytes(b ^ XOR_KEY[i % len(XOR_KEY)] for i, b in enumerate(data))


def _bases(data: bytes) -> bytes:
    """``data`` as bases, two bits a base (the first of a byte its high bits), a read of 100 a line."""
    bases = bytes(b"ACGT"[b >> shift & 3] for b in data for shift in (6, 4, 2, 0))
    return b"\n".join(bases[i:i + 100] for i in range(0, len(bases), 100)) + b"\n"


def _run_length(data: bytes) -> bytes:
    """``_bases(data)`` with each run of a base as its count and the base."""
    return re.sub(rb"([ACGT])\1*", lambda m: b"%d%s" % (len(m[0]), m[1]), _bases(data))


def _chaff(data: bytes) -> bytes:
    """Two bytes of ``data``, a random byte between them, and so on (stride 3, text at 0 and 2)."""
    filler = random.Random(len(data)).randbytes(len(data) // 2 + 1)
    return b"".join(data[k:k + 1] + filler[k // 2:k // 2 + 1] + data[k + 1:k + 2] for k in range(0, len(data), 2))


ZERO_WIDTH = {ord("A"): "\u200b", ord("C"): "\u200c", ord("G"): "\u200d", ord("T"): "\u2060"}
WORDS = {"A": b"apple ", "C": b"cherry ", "G": b"grape ", "T": b"tomato "}


def _zero_width(data: bytes) -> bytes:
    """The bases (every A, C, G, T) as four zero-width characters: invisible text."""
    return data.decode().translate(ZERO_WIDTH).encode()


def _one_byte_a_character(data: bytes) -> bytes:
    """What the characters view of ``_zero_width(data)`` is: ASCII as it was, the four characters
    0x80-0x83 in the order they first appear (fewer than 128 of them: no numbering afresh)."""
    order = {c: 0x80 + i for i, c in enumerate(dict.fromkeys(c for c in data.decode() if c in "ACGT"))}
    return bytes(order.get(chr(b), b) for b in data)


def _words(data: bytes) -> bytes:
    return re.sub(rb"[ACGT]", lambda m: WORDS[m.group().decode()], data)


def _numbered(data: bytes) -> bytes:
    """What the words view of ``_words(data)`` is (the reference in ``test_words``)."""
    return numbered(_words(data))


def _base58(data: bytes, size: int = 32) -> bytes:
    """``data`` in base58, ``size`` bytes a token, a token a line (as IDs and keys are written)."""
    from sandbox.decode.base58 import ALPHABET

    lines = []
    for at in range(0, len(data), size):
        piece = data[at:at + size]
        value, text = int.from_bytes(piece, "big"), b""
        while value:
            value, digit = divmod(value, 58)
            text = ALPHABET[digit:digit + 1] + text
        lines.append(b"1" * (len(piece) - len(piece.lstrip(b"\x00"))) + text)
    return b"\n".join(lines) + b"\n"


NIBBLE_CODES = [bytes((a, b)) for a in b"()[]" for b in b"()[]"]    # sixteen codes of four byte values


def _in_codes(data: bytes) -> bytes:
    """Each half byte as a code of two characters, 64 codes a line."""
    codes = [NIBBLE_CODES[n] for b in data for n in (b >> 4, b & 15)]
    return b"".join(b"".join(codes[i:i + 64]) + b"\n" for i in range(0, len(codes), 64))


def _code_numbers(data: bytes) -> bytes:
    """What the codes view of ``_in_codes(data)`` is: each half byte its number from 0x80 as they first
    appear, a line break after each 64."""
    nibbles = [n for b in data for n in (b >> 4, b & 15)]
    order = {n: 0x80 + i for i, n in enumerate(dict.fromkeys(nibbles))}
    return b"".join(bytes(order[n] for n in nibbles[i:i + 64]) + b"\n" for i in range(0, len(nibbles), 64))


def _in_case(data: bytes) -> bytes:
    from tests.decode.test_textbits import in_case

    return in_case(data)


def _big_numbers(data: bytes, alphabet: bytes) -> bytes:
    from tests.decode.test_base62 import big_numbers

    return big_numbers(data, alphabet)


def _base91(data: bytes) -> bytes:
    from tests.decode.test_base91 import base91

    return base91(data)


def _base45(data: bytes) -> bytes:
    from tests.decode.test_base45 import base45

    return base45(data)


def _yenc(data: bytes) -> bytes:
    from tests.decode.test_yenc import yenc

    return yenc(data)


OTHER_HEX = str.maketrans("0123456789abcdef", "klmnopqrstuvwxyz")   # hex in letters of its own, in order


def _repeat(member: Callable[[bytes], bytes], size: int, times: int) -> Callable[[], bytes]:
    return lambda: member(bytes(size)) * times


ENCODERS: dict[str, Spec] = {
    "gzip": Spec(gzip.compress, "gzip", True, _repeat(gzip.compress, 16 * MiB, 64)),
    "zstd": Spec(zstandard.compress, "zstd", True, _repeat(zstandard.compress, 16 * MiB, 64)),
    "xz": Spec(lzma.compress, "xz", True, _repeat(lambda d: lzma.compress(d, preset=0), 16 * MiB, 64)),
    "bz2": Spec(bz2.compress, "bz2", False, _repeat(bz2.compress, 16 * MiB, 64)),
    "zlib": Spec(zlib.compress, "zlib", True, lambda: zlib.compress(bytes(256 * MiB), 1)),
    "zip": Spec(_zip, "zip:reads.fastq", True),
    "tar": Spec(_tar, "tar:run/reads.fastq", True),
    "pdf": Spec(_pdf, "pdf:obj 4", True, lambda: _pdf(bytes(256 * MiB), 1)),
    "png": Spec(_png, "png:IDAT", True, lambda: _png(bytes(256 * MiB), 1)),
    "tiff": Spec(lambda d: _image(d, "TIFF", compression="tiff_lzw"), "tiff:image 0"),
    "bmp": Spec(lambda d: _image(d, "BMP"), "bmp:pixels"),
    "low bits": Spec(_low_bits, "low bits (1 a byte)", min_size=lowbits.MIN_VIEW // 8),
    "gif": Spec(_gif, "gif:image 0", view=lambda d: d.ljust(-(-len(d) // GIF_WIDTH) * GIF_WIDTH, b"\x00")
                if len(d) > GIF_WIDTH else d),
    "json": Spec(lambda d: json.dumps({"a": {"b": [0, None, d.decode()]}}).encode(), "json:$.a.b[2]"),
    "multipart": Spec(_multipart, "multipart:file=reads.fastq", True),
    "url": Spec(lambda d: urllib.parse.urlencode({"run": "x", "data": d}).encode(), "url:data"),
    "target": Spec(lambda d: b"GET /beacon?run=x&data=" + urllib.parse.quote_from_bytes(d).encode()
                  + b" HTTP/1.1\r\nHost: lims\r\n\r\n", "url:data"),
    "protobuf": Spec(_protobuf, "protobuf:1.3"),
    "qp": Spec(binascii.b2a_qp, "qp"),
    "uu": Spec(_uu, "uu:reads.fastq", True),
    "base32": Spec(base64.b32encode, "base32"),
    "base64": Spec(base64.b64encode, "base64"),
    "base58": Spec(lambda d: _base58(d), "base58", min_size=16),
    "base85": Spec(lambda d: base64.a85encode(d, wrapcol=76, adobe=True), "base85"),
    "hex": Spec(binascii.hexlify, "hex"),
    "alphabet": Spec(lambda d: d.hex().translate(OTHER_HEX).encode(), "hex (other alphabet)", min_size=128),
    "numbers": Spec(lambda d: ", ".join(map(str, d)).encode() + b"\n", "numbers"),
    "utf-16": Spec(lambda d: d.decode("latin-1").encode("utf-16-le"), "utf-16"),
    "escapes": Spec(lambda d: "".join(f"\\x{b:02x}" for b in d).encode(), "escapes"),
    "entities": Spec(lambda d: "".join(f"&#{b};" for b in d).encode(), "entities"),
    "base62": Spec(lambda d: _big_numbers(d, b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
                   "base62", min_size=16),
    "base36": Spec(lambda d: _big_numbers(d, b"0123456789abcdefghijklmnopqrstuvwxyz"), "base36", min_size=16),
    "base91": Spec(lambda d: _base91(d), "base91", min_size=400),     # (86 symbols to tell it: ~300 of them)
    "base45": Spec(lambda d: _base45(d), "base45", min_size=200),
    "yenc": Spec(lambda d: _yenc(d), "yenc"),
    "hexdump": Spec(lambda d: subprocess.run(["xxd"], input=d, capture_output=True, check=True).stdout,
                    "hexdump"),
    "brotli": Spec(
        lambda d: brotli.compress(d, quality=5),
        "brotli",
        True,
        lambda: brotli.compress(bytes(256 * MiB), quality=0),
    ),
    "deflate": Spec(_deflate, "deflate", True, lambda: _deflate(bytes(256 * MiB))),
    "bcf": Spec(_bcf, "bcf:records", True, view=_bcf_view),
    "lz4": Spec(lz4.frame.compress, "lz4", True, _repeat(lz4.frame.compress, 16 * MiB, 64)),
    "snappy": Spec(lambda d: bytes(cramjam.snappy.compress(d)), "snappy", True,
                   _repeat(lambda d: bytes(cramjam.snappy.compress(d)), 16 * MiB, 20)),
    "parquet": Spec(_parquet, "parquet:reads", False, _parquet_zeros,
                    view=lambda d: len(d).to_bytes(4, "little") + d),
    "avro": Spec(_avro, "avro", True, _avro_zeros, view=lambda d: varint(len(d) << 1) + d),
    "orc": Spec(_orc, "orc", True, lambda: _orc(bytes(256 * MiB), 256 * 1024)),
    "cab": Spec(_cab, "cab:reads.fastq", True, _cab_zeros),
    "7z": Spec(_7z, "7z:reads.fastq", True, lambda: _7z(bytes(256 * MiB))),
    "cram": Spec(_cram, "cram:external 7", True, lambda: _cram(bytes(256 * MiB))),
    # no end marker: a stream cut short is read to its cut with nothing to say it was
    "lzw": Spec(_compress, "lzw", False, lambda: _compress(bytes(256 * MiB))),
    "lzip": Spec(_lzip, "lzip", True, lambda: _lzip(bytes(256 * MiB), 0)),
    "unreadable": Spec(_lzop, "", says="lzop file (LZO), which the rig does not read"),
    "xor": Spec(_xor, "xor (16-byte key)", min_size=xor.MIN_VIEW),
    "strided": Spec(_chaff, "strided (3, 0+2)", min_size=strided.MIN_VIEW),
    "pairs of bases": Spec(lambda d: bytes(v for b in d for v in (b >> 4, b & 15)), "pairs of bases",
                           view=lambda d: bytes(v for b in d for v in (b >> 6, b >> 4 & 3, b >> 2 & 3, b & 3)),
                           min_size=pairs.MIN_SYMBOLS // 2),
    "run-length": Spec(_run_length, "run-length", view=_bases, min_size=runlength.MIN_VIEW // 4),
    "headerless": Spec(_lzma2_raw, "headerless: LZMA2 without a container", True, lambda: _lzma2_raw(bytes(256 * MiB))),
    "transposed": Spec(_transposed, "transposed (reads of 100)", view=lambda d: b"".join(r + b"\n" for r in _as_reads(d)),
                       min_size=200),
    "disguised": Spec(lambda d: bytes(b ^ 0x5A for b in gzip.compress(d, mtime=0)), "disguised: xor 0x5a",
                      view=lambda d: gzip.compress(d, mtime=0)),
    "characters": Spec(_zero_width, "characters", view=_one_byte_a_character, min_size=SYMBOL_RUN_MIN),
    "words": Spec(_words, "words", view=_numbered, min_size=2 * SYMBOL_RUN_MIN),
    "codes": Spec(_in_codes, "codes (2 bytes each)", view=_code_numbers, min_size=48),
    "text bits": Spec(lambda d: _in_case(d), "text bits (letter case: a capital a one, highest bit first)", min_size=64),
}
NAMES = [d.name for d in DECODERS]
READERS = [n for n in NAMES if not ENCODERS[n].says]  # those that yield views
BY_NAME = {d.name: d for d in DECODERS}


def _direct(name: str, data: bytes, unread: list | None = None) -> list[tuple[str, bytes]]:
    """Sniff + decode one decoder directly: exceptions are not caught here, unlike in expand().
    What it says it did not read goes to ``unread`` when given."""
    dec = BY_NAME[name]
    if not dec.sniff(data):
        return []
    budget = Budget(64 * MiB, "test budget")
    outputs = list(dec.decode(data, budget))
    if unread is not None:
        unread += budget.unread
    return outputs


def test_every_decoder_has_a_spec():
    assert sorted(NAMES) == sorted(ENCODERS)
    assert len(set(NAMES)) == len(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_decoder_is_a_decoder(name):
    """What ``sandbox.decode.base.Decoder`` declares: static sniff/decode with its parameters."""
    dec = BY_NAME[name]
    for method in ("sniff", "decode"):
        assert isinstance(inspect.getattr_static(dec, method), staticmethod)
        params = list(inspect.signature(getattr(dec, method)).parameters)
        assert params == list(inspect.signature(getattr(Decoder, method)).parameters)
    assert all(isinstance(getattr(dec, flag), bool) for flag in ("text", "structural", "embedded", "unstructured", "reapply"))


@pytest.mark.parametrize("name", READERS)
def test_round_trip(name):
    spec = ENCODERS[name]
    encoded = spec.encode(SAMPLE)
    exp = expand(encoded, CHAIN)
    assert exp.views[0].data is encoded and exp.views[0].chain == CHAIN
    hits = [v.chain for v in exp.views if v.data == spec.view(SAMPLE)]
    assert hits == [CHAIN + (spec.label,)], [v.chain for v in exp.views]
    assert not exp.notes and not exp.limits


@pytest.mark.parametrize("name", [d.name for d in DECODERS if d.structural] + ["png", "tiff", "gif", "bcf", "bmp"])
def test_bytes_after_a_structure_are_read(name):
    """A structural decoder's parts stand for the view, which the stream finders then skip: a gzip of
    reads appended to a zip, a tar, a 7z, a cabinet or an Avro file was searched nowhere, and replayed
    clean (and to a PNG or a BCF, whose readings once stood for the file too).  What follows the
    structure is read, whether its decoder still takes the view apart or not."""
    other = _reads(60, seed=9)
    exp = expand(ENCODERS[name].encode(SAMPLE) + gzip.compress(other), CHAIN)
    assert [v.data for v in exp.views].count(other) == 1, [v.chain for v in exp.views]


@pytest.mark.parametrize("name", READERS)
def test_round_trip_small(name):
    """Short content (a sample sheet line) is visible through every encoding too (an encoder may
    store it verbatim, e.g. brotli's uncompressed meta-block: then it is in the input view)."""
    small = b"Sample_ID,Sample_Name\nS1,NA12878-blood\n"
    exp = expand(ENCODERS[name].encode(small), CHAIN)
    if len(small) < ENCODERS[name].min_size:       # too few bytes to tell the encoding: nothing made up
        assert [v.chain for v in exp.views] == [CHAIN]
        return
    assert any(small in v.data for v in exp.views), [v.chain for v in exp.views]


@pytest.mark.parametrize("name", [n for n in NAMES if ENCODERS[n].says])
def test_recognisers_say_what_they_did_not_read(name):
    """A format recognised and not read: no view, and the whole of it said not read, in words of the
    format (never a name the instrument chose)."""
    spec = ENCODERS[name]
    encoded = spec.encode(SAMPLE)
    exp = expand(encoded, CHAIN)
    assert [v.chain for v in exp.views] == [CHAIN] and not exp.notes and not exp.limits
    assert [(u.what, u.decoder, u.chain, u.size) for u in exp.unread] == [(spec.says, name, CHAIN, len(encoded))]


@pytest.mark.parametrize("name", NAMES)
def test_truncation_never_raises(name):
    spec = ENCODERS[name]
    encoded = spec.encode(SAMPLE)
    for cut in (1, 2, 5, 17, len(encoded) // 3, len(encoded) // 2, len(encoded) - 1):
        part = encoded[:cut]
        _direct(name, part)
        exp = expand(part, CHAIN)
        assert not exp.notes
        # whatever came out is real data, never noise
        for v in exp.views[1:]:
            if v.chain[len(CHAIN)].startswith(spec.label.split(":")[0]) and len(v.chain) == len(CHAIN) + 1:
                whole = spec.view(SAMPLE)
                assert v.data in whole or whole.startswith(v.data) or name in ("json", "url", "multipart")


@pytest.mark.parametrize("name", [n for n in NAMES if ENCODERS[n].partial])
def test_truncated_stream_yields_prefix(name):
    spec = ENCODERS[name]
    encoded = spec.encode(SAMPLE)
    exp = expand(encoded[: len(encoded) // 2], CHAIN)
    partial = [v for v in exp.views if len(v.chain) == len(CHAIN) + 1]
    assert partial, f"{name}: nothing recovered from half a stream"
    view = max(partial, key=lambda v: len(v.data))
    assert view.chain[-1].endswith("(truncated)"), view.chain
    assert len(view.data) > 0 and spec.view(SAMPLE).startswith(view.data)


@pytest.mark.parametrize("name", NAMES)
def test_garbage_is_not_decoded(name):
    rng = random.Random(name)
    for size in (0, 1, 3, 16, 100, 1000, 4096, 65536):
        for _ in range(5):
            data = rng.randbytes(size)
            said: list = []
            assert _direct(name, data, said) == [] and said == [], (name, size)


@pytest.mark.parametrize("name", NAMES)
def test_prose_is_not_decoded(name):
    prose = (
        b"The sequencer uploads its run metrics to the vendor portal every night; the "
        b"bench rig checks that nothing else leaves. Sample sheets, FASTQ files and BAM "
        b"alignments must stay on the lab network unless the operator allows it.\n"
    ) * 40
    said: list = []
    assert _direct(name, prose, said) == [] and said == []


def test_random_megabytes_give_only_the_input():
    data = os.urandom(4 * MiB)
    exp = expand(data, CHAIN)
    assert len(exp.views) == 1 and not exp.notes and not exp.limits and not exp.unread


_BOMBS = [n for n in NAMES if ENCODERS[n].bomb is not None]


@pytest.mark.parametrize("name", _BOMBS)
def test_bomb_is_bounded(name):
    bomb = ENCODERS[name].bomb()
    tracemalloc.start()
    try:
        exp = expand(bomb, CHAIN)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    out = sum(len(v.data) for v in exp.views[1:])
    hits = [h for h in exp.limits if h.decoder == name]
    assert hits and hits[0].chain == CHAIN and hits[0].bytes_left > 0, exp.limits
    cap = max(100 * len(bomb), 16 * MiB)
    assert out <= min(cap, 256 * MiB)
    assert peak < 3 * min(cap, 256 * MiB) + 64 * MiB, f"peak {peak / MiB:.0f} MiB"
    assert set(exp.views[1].data[:4096]) == {0}


def test_nested_zip_bomb_is_bounded():
    """42.zip-style: 16 x 16 x (32 MiB of zeros) = 8 GiB nominal."""

    def zipped(members: dict[str, bytes]) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for n, d in members.items():
                zf.writestr(n, d)
        return buf.getvalue()

    leaf = zipped({"zeros.bin": bytes(32 * MiB)})
    mid = zipped({f"l{i}.zip": leaf for i in range(16)})
    top = zipped({f"m{i}.zip": mid for i in range(16)})
    exp = expand(top, CHAIN)
    assert sum(len(v.data) for v in exp.views) <= 256 * MiB + len(top)
    assert [h.decoder for h in exp.limits] == ["zip"], exp.limits


def _wrapped(data: bytes, times: int) -> bytes:
    """``{"d": base64(gzip(x))}`` applied ``times`` times: ordinary layers an SDK might stack."""
    for _ in range(times):
        data = json.dumps({"d": base64.b64encode(gzip.compress(data)).decode()}).encode()
    return data


@pytest.mark.parametrize("times", [1, 3, 10])
def test_nested_wrappers_are_unfolded_to_the_bottom(times):
    """Nesting is bounded by the budget, not a shallow depth: 3 wrappers (9 layers) used to
    hide their content behind a depth limit of 8."""
    exp = expand(_wrapped(SAMPLE, times), CHAIN)
    bottom = [v.chain for v in exp.views if v.data == SAMPLE]
    assert bottom == [CHAIN + ("json:$.d", "base64", "gzip") * times], [v.chain for v in exp.views]
    assert not exp.limits


def test_deeply_nested_base64_is_unfolded():
    data = SAMPLE[:200]
    for _ in range(20):
        data = base64.b64encode(data)
    exp = expand(data, CHAIN)
    assert exp.views[-1].data == SAMPLE[:200] and len(exp.views[-1].chain) == len(CHAIN) + 20
    assert not exp.limits


def test_depth_backstop_is_a_limit_hit():
    """gzip of gzip of ... does not grow: the depth backstop ends it, and says so."""
    data = SAMPLE[:2000]
    for _ in range(DEFAULT_LIMITS.max_depth + 6):
        data = gzip.compress(data)
    exp = expand(data, CHAIN)
    assert max(len(v.chain) for v in exp.views) == len(CHAIN) + DEFAULT_LIMITS.max_depth
    (hit,) = exp.limits
    assert hit.limit == f"depth {DEFAULT_LIMITS.max_depth}" and hit.decoder == "gzip"
    assert hit.chain == CHAIN + ("gzip",) * DEFAULT_LIMITS.max_depth and hit.bytes_left > 0


_COMPRESSORS = [n for n in NAMES if ENCODERS[n].bomb is not None or n == "zip"]


@pytest.mark.parametrize("name", _COMPRESSORS)
def test_budget_exhaustion_is_a_limit_hit(name):
    """Every decompressor stops at its step budget and says where and how much it left: an
    output budget far below the data gives a LimitHit, never a silent cut."""
    spec = ENCODERS[name]
    encoded = spec.encode(SAMPLE)
    limits = Limits(ratio_floor=4096, max_ratio=1)
    exp = expand(encoded, CHAIN, limits)
    assert sum(len(v.data) for v in exp.views[1:]) <= max(4096, len(encoded)) * 2
    hits = [h for h in exp.limits if h.decoder == name]
    assert hits and hits[0].chain == CHAIN and hits[0].limit == "expansion ratio 1x", exp.limits
    assert hits[0].bytes_left > 0


def test_structure_bomb_is_bounded():
    doc = json.dumps([f"{i:08d}" + "x" * 24 for i in range(20000)]).encode()
    exp = expand(doc, CHAIN)
    assert len(exp.views) <= 1025 + 1
    assert [(h.limit, h.decoder) for h in exp.limits] == [("1024 members", "json")], exp.limits


def test_same_length_flood_is_deduplicated():
    """Many equal-length outputs differing only at the end (pairwise memcmp would be quadratic in
    their number and length): each is kept once, the repeat of the first is dropped."""
    body = "A" * 60_000
    doc = json.dumps([body + f"{i:06d}" for i in range(1000)] + [body + "000000"]).encode()
    exp = expand(doc, CHAIN)
    assert len(exp.views) == 1 + 1 + 1000 and not exp.limits      # strings of one length: also joined
    assert [v.chain[-1] for v in exp.views[1:4]] == ["json:$[*]", "json:$[0]", "json:$[1]"]


_mutations = st.tuples(st.integers(0, 10**6), st.integers(0, 255), st.integers(0, 10**6))


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=2048), mutation=_mutations)
def test_fuzz_never_raises(name, data, mutation):
    """Random bytes and damaged real encodings: nothing escapes a decoder."""
    _direct(name, data)
    encoded = bytearray(ENCODERS[name].encode(SAMPLE[:3000]))
    at, value, cut = mutation
    encoded[at % len(encoded)] = value
    damaged = bytes(encoded[: max(1, cut % (len(encoded) + 1))])
    _direct(name, damaged)
    exp = expand(damaged, CHAIN)
    assert not exp.notes, exp.notes

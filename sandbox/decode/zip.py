"""ZIP archives, also inside other bytes: every member, label "zip:<name>".

Members are listed from the central directory (zipfile) of a complete archive, or by walking the
local file headers of a truncated one (an upload cut by the capture, a streamed zip without a
directory yet), so the members that did leave are still seen.  Member data is decompressed by the
one codec layer, within the step's budget, whatever the archive claims about sizes.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from sandbox.decode import magic
from sandbox.decode.base import Budget, Decoder, drain
from sandbox.decode.codec import Drained, keep, lzma1_filter, ppmd, ppmd_readable, raw_lzma, status_label

LOCAL = magic.ZIP_LOCAL
EOCD = b"PK\x05\x06"
CENTRAL = b"PK\x01\x02"
DESCRIPTOR = b"PK\x07\x08"
ZIP64_END, ZIP64_LOCATOR = b"PK\x06\x06", b"PK\x06\x07"
_LOCAL = struct.Struct("<4sHHHHHIIIHH")  # signature .. extra length (APPNOTE 4.3.7)
_EOCD = struct.Struct("<4sHHHHIIH")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")  # a central directory entry's fixed fields (APPNOTE 4.3.12)
# The end record sits in the last 22 + 65535 (max comment) bytes.
EOCD_SEARCH = 22 + 0xFFFF
# zipfile builds an object per central-directory entry; a directory claiming more entries than
# this is read by the bounded local-header walk instead.
MAX_DIRECTORY = 65536
STORED, DEFLATED, DEFLATE64, BZIP2, LZMA, ZSTD, XZ, PPMD, AES = 0, 8, 9, 12, 14, 93, 95, 98, 99
# through the codec layer (Deflate64: what Windows' zip writes for large files)
METHODS = {DEFLATED: "deflate", DEFLATE64: "deflate64", BZIP2: "bz2", ZSTD: "zstd", XZ: "xz"}
READ = {STORED, LZMA, PPMD, *METHODS}
# The other methods of APPNOTE 4.4.5: a member in one of them is said not read (AES, 99, is
# encryption: its bytes are weighed as content no key opened, as TLS's are).
NOT_READ = {1: "Shrink", 2: "Reduce", 3: "Reduce", 4: "Reduce", 5: "Reduce", 6: "Implode", 7: "Tokenize",
            10: "PKWARE DCL Implode", 16: "IBM z/OS CMPSC", 18: "IBM TERSE", 19: "IBM LZ77 z",
            20: "zstd (deprecated id)", 94: "MP3", 96: "JPEG", 97: "WavPack"}
MAX_VERSION = 63  # "version needed to extract" of APPNOTE 6.3; larger is not a header
MAX_NAME = 4096  # longer names are not a real header (random bytes after a chance "PK\3\4")
ENCRYPTED = 0x1
DATA_DESCRIPTOR = 0x8
UTF8_NAME = 0x800


@dataclass(slots=True)
class _Member:
    name: str
    flags: int
    method: int
    start: int  # offset of the member's data
    size: int | None  # compressed size; None when unknown (data descriptor, streamed)
    crc: int
    plain: int | None = None  # uncompressed size, when known
    header: int = 0  # offset of the local header


def _name(raw: bytes, flags: int) -> str:
    return raw.decode("utf-8" if flags & UTF8_NAME else "cp437", "replace")


def _end_record(data: bytes) -> tuple[int, int] | None:
    """Where the end of central directory record is, and the entries it counts."""
    at = data.rfind(EOCD, max(0, len(data) - EOCD_SEARCH))
    if at < 0 or at + _EOCD.size > len(data):
        return None
    return at, _EOCD.unpack_from(data, at)[4]


def _directory(data: bytes, start: int, entries: int, end: int, budget: Budget) -> None:
    """The central directory's entries (each one's fixed fields and name: not its extra field or comment,
    bytes the writer chose) from ``start``, the zip64 end records and the end record at ``end`` (not the
    archive's comment) belong to the archive."""
    at = start
    for _ in range(entries):
        if not data.startswith(CENTRAL, at) or at + _CENTRAL.size > len(data):
            break
        nlen, xlen, clen = _CENTRAL.unpack_from(data, at)[10:13]
        budget.took(at, at + _CENTRAL.size + nlen)
        at += _CENTRAL.size + nlen + xlen + clen
    budget.took(end, end + _EOCD.size)
    if data.startswith(ZIP64_LOCATOR, end - 20):
        budget.took(end - 20, end)
        if data.startswith(ZIP64_END, end - 20 - 56):
            budget.took(end - 20 - 56, end - 20)


def _central(data: bytes, budget: Budget) -> list[_Member] | None:
    """Members from the central directory (its own bytes said taken apart), or None when the archive
    is not complete."""
    end = _end_record(data)
    if end is None or end[1] > MAX_DIRECTORY:
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            start = zf.start_dir
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return None
    members = []
    for info in infos:
        at = info.header_offset
        if at + _LOCAL.size > len(data) or data[at : at + 4] != LOCAL:
            return None
        nlen, xlen = _LOCAL.unpack_from(data, at)[9:]
        members.append(_Member(info.filename, info.flag_bits, info.compress_type,
                               at + _LOCAL.size + nlen + xlen, info.compress_size, info.CRC, info.file_size, at))
    _directory(data, start, len(infos), end[0], budget)
    return members


def _local(data: bytes, pos: int) -> _Member | None:
    """The member whose local header is at ``pos``, or None when that is no real header."""
    if pos + _LOCAL.size > len(data):
        return None
    _, version, flags, method, _, _, crc, csize, usize, nlen, xlen = _LOCAL.unpack_from(data, pos)
    if version > MAX_VERSION or nlen > MAX_NAME or not (method in READ or method in NOT_READ):
        return None
    name = _name(data[pos + _LOCAL.size : pos + _LOCAL.size + nlen], flags)
    known = not flags & DATA_DESCRIPTOR
    return _Member(name, flags, method, pos + _LOCAL.size + nlen + xlen, csize if known else None, crc,
                   usize if known else None, pos)


def _descriptor(data: bytes, end: int) -> int:
    """Where the data descriptor after a member's data at ``end`` ends (its signature optional; sizes
    of 4 or 8 bytes, told by the next header): ``end`` itself when there is none."""
    start = end + 4 if data.startswith(DESCRIPTOR, end) else end
    for size in (12, 20):
        if data.startswith((LOCAL, CENTRAL), start + size) or start + size == len(data):
            return start + size
    return end


def _took(data: bytes, m: _Member, got: Drained | None, budget: Budget) -> None:
    """The member's local header (its name, not its extra field), the data its stream used and a data
    descriptor after them belong to the archive.  A member not read (``got`` None: encrypted, or of a method the rig does not read, said
    so) is its declared size; bytes after a stream's end within that size, a corrupt member's, a
    streamed member's of no known size are not the archive's: they are searched as bytes outside it."""
    if got is None or got.status in ("truncated", "limit"):
        size = m.size or 0
    elif got.status == "ok" and got.end:
        size = got.end if m.size is None else min(got.end, m.size)
    else:
        size = 0
    end = min(len(data), m.start + size)
    budget.took(m.header, m.header + _LOCAL.size + _LOCAL.unpack_from(data, m.header)[9])   # not its extra field
    budget.took(m.start, _descriptor(data, end) if m.flags & DATA_DESCRIPTOR else end)


def _read(data: bytes, m: _Member, budget: Budget) -> Drained:
    """A member's bytes: stored ones sliced, compressed ones through the codec layer."""
    end = len(data) if m.size is None else min(len(data), m.start + m.size)
    body = memoryview(data)[m.start : end]
    if m.method == STORED:
        if m.size is None:  # size unknown until the descriptor: the bytes are visible as they are
            return Drained(b"", "ok")
        status = "ok" if m.start + m.size <= len(data) else "truncated"
        out = bytes(body[: budget.remaining])
        if len(out) < len(body):
            budget.exhausted(left=len(body) - len(out))
            return Drained(out, "limit")
        if status == "ok" and zlib.crc32(out) != m.crc:
            return Drained(b"", "corrupt")  # not a member: random bytes after a chance signature
        return Drained(out, status, end=len(body))
    if m.method == LZMA:
        got = _lzma(body, m, budget)
    elif m.method == PPMD:
        got = _ppmd(body, m, budget)
    else:
        got = drain(METHODS[m.method], body, budget)
    if got.status == "ok" and m.size is not None and m.start + m.size > len(data):
        got.status = "truncated"
    return got


def _lzma(body: memoryview, m: _Member, budget: Budget) -> Drained:
    """An LZMA member (APPNOTE 5.8.8): a version, the properties' size and the properties, then a
    raw LZMA stream, ended by its end marker or by the member's uncompressed size."""
    props_size = int.from_bytes(body[2:4], "little")
    try:
        lzma_filter = lzma1_filter(bytes(body[4: 4 + props_size]))
    except ValueError:
        return Drained(b"", "corrupt")
    size = m.plain if m.plain is not None else budget.remaining
    got = raw_lzma([lzma_filter], body[4 + props_size:], size, budget.remaining)
    if got.status == "limit":
        budget.exhausted(left=got.left)
    return got


def _ppmd(body: memoryview, m: _Member, budget: Budget) -> Drained:
    """A PPMd member (APPNOTE 5.10): two bytes of parameters (the model's order less one, its size
    in MiB less one, how a full model is restored), then a PPMd variant I stream to its end mark."""
    params = int.from_bytes(body[:2], "little")
    order, memory, restore = (params & 0xF) + 1, ((params >> 4 & 0xFF) + 1) << 20, params >> 12
    if len(body) < 2 or restore > 1 or not ppmd_readable(8, order, memory):
        return Drained(b"", "corrupt")
    size = m.plain if m.plain is not None else budget.remaining
    got = ppmd(8, order, memory, body[2:], size, budget.remaining, restore)
    if got.status == "limit":
        budget.exhausted(left=got.left)
    got.end += 2 if got.end else 0
    return got


def _member(data: bytes, m: _Member, budget: Budget) -> tuple[str, Drained | None]:
    """The member's label and bytes; None for one not read (encrypted, a directory, a method the rig
    does not read: said so)."""
    if m.flags & ENCRYPTED or m.name.endswith("/") or m.method == AES:
        return "", None
    if m.method not in READ:  # a method of APPNOTE's list, or (listed in a directory) of none
        size = max(0, len(data) - m.start) if m.size is None else min(m.size, max(0, len(data) - m.start))
        if size:
            method = NOT_READ.get(m.method, f"method {m.method}")
            budget.not_read(f"zip member compressed with {method}, which the rig does not read", size)
        return "", None
    return f"zip:{m.name}", _read(data, m, budget)


class ZipDecoder(Decoder):
    name = "zip"
    structural = True
    embedded = True  # also searched for inside other bytes

    @staticmethod
    def sniff(data: bytes) -> bool:
        """An archive, or one inside other bytes (a self-extractor, a framed upload)."""
        return magic.first(data, LOCAL) >= 0

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        members = _central(data, budget)
        if members is not None:
            for m in members:
                label, got = _member(data, m, budget)
                _took(data, m, got, budget)
                if got is not None and keep(got):
                    yield status_label(label, got.status), got.data
                if got is not None and got.status == "limit":
                    return
            return
        # no complete directory: walk the local headers in order
        pos = magic.first(data, LOCAL)
        headers = 0
        while pos >= 0 and headers < MAX_DIRECTORY:
            headers += 1
            m = _local(data, pos)
            if m is None:
                pos = data.find(LOCAL, pos + 1)
                continue
            if m.start > len(data):
                return
            label, got = _member(data, m, budget)
            _took(data, m, got, budget)
            if got is not None and keep(got):
                yield status_label(label, got.status), got.data
            if got is not None and got.status in ("limit", "truncated"):
                return
            size = m.size if m.size is not None else got.end if got is not None else 0
            pos = data.find(LOCAL, m.start + size)

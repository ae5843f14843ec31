"""ZIP archives, also inside other bytes: every member, label "zip:<name>".

A complete archive is read through its central directory (zipfile); a truncated one (an upload
cut by the capture, a streamed zip without a directory yet) by walking the local file headers,
so the members that did leave are still seen.
"""

from __future__ import annotations

import bz2
import io
import lzma
import struct
import zipfile
import zlib
from collections.abc import Iterator

from sandbox.decode.base import Budget, Decoder
from sandbox.decode.stream import inflate, keep, unpack

LOCAL = b"PK\x03\x04"
EOCD = b"PK\x05\x06"
EMPTY = b"PK\x05\x06" + b"\x00" * 18  # an empty archive is only its end record
_LOCAL = struct.Struct("<4sHHHHHIIIHH")  # signature .. extra length (APPNOTE 4.3.7)
_EOCD = struct.Struct("<4sHHHHIIH")
# The end record sits in the last 22 + 65535 (max comment) bytes.
EOCD_SEARCH = 22 + 0xFFFF
# zipfile builds an object per central-directory entry; a directory claiming more entries than
# this is read by the bounded local-header walk instead.
MAX_DIRECTORY = 65536
STORED, DEFLATED, BZIP2 = 0, 8, 12
MAX_VERSION = 63  # "version needed to extract" of APPNOTE 6.3; larger is not a header
MAX_NAME = 4096  # longer names are not a real header (random bytes after a chance "PK\3\4")
ENCRYPTED = 0x1
DATA_DESCRIPTOR = 0x8


_MEMBER_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


def _name(raw: bytes, flags: int) -> str:
    return raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")


def _directory_entries(data: bytes) -> int | None:
    at = data.rfind(EOCD, max(0, len(data) - EOCD_SEARCH))
    if at < 0 or at + _EOCD.size > len(data):
        return None
    return _EOCD.unpack_from(data, at)[4]


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> tuple[bytes, str]:
    try:
        with zf.open(info) as f:
            out = f.read(cap)
            if len(out) == cap and f.read(1):
                return out, "limit"
        return out, "ok"
    except _MEMBER_ERRORS:
        return b"", "corrupt"  # bad CRC or data, unsupported method, encrypted


def _central(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            if info.is_dir() or info.flag_bits & ENCRYPTED:
                continue
            out, status = _read_member(zf, info, budget.remaining)
            if status == "limit":
                budget.exhausted()
            if out:
                yield f"zip:{info.filename}", out
            if status == "limit":
                return


def _walk(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
    """Local headers in order; sizes from the header, or by inflating to the end (bit 3)."""
    pos = data.find(LOCAL)
    mv = memoryview(data)
    headers = 0
    while 0 <= pos and pos + _LOCAL.size <= len(data) and headers < MAX_DIRECTORY:
        headers += 1
        _, version, flags, method, _, _, crc, csize, _, nlen, xlen = _LOCAL.unpack_from(data, pos)
        start = pos + _LOCAL.size + nlen + xlen
        if version > MAX_VERSION or nlen > MAX_NAME or method not in (STORED, DEFLATED, BZIP2):
            pos = data.find(LOCAL, pos + 1)
            continue
        name = _name(data[pos + _LOCAL.size : pos + _LOCAL.size + nlen], flags)
        if start > len(data):
            return
        body = (
            bytes(mv[start : start + csize]) if csize and not flags & DATA_DESCRIPTOR else bytes(mv[start:])
        )
        label = f"zip:{name}"
        if flags & ENCRYPTED or name.endswith("/"):
            out, status = b"", "ok"
        elif method == STORED and flags & DATA_DESCRIPTOR:
            out, status = b"", "ok"  # size unknown until the descriptor: the bytes are visible as is
        elif method == STORED:
            out, status = body, "ok" if len(body) == csize else "truncated"
            if status == "ok" and zlib.crc32(body) != crc:
                out = b""  # not a member: random bytes after a chance signature
            if len(out) > budget.remaining:
                out, status = out[: budget.remaining], "limit"
        elif method == DEFLATED:
            got = inflate(body, -15, budget.remaining)
            out, status = (got.data, got.status) if keep(got) else (b"", got.status)
        else:  # BZIP2 (LZMA/zstd members are rare in uploads; their raw bytes stay visible)
            got = unpack(bz2.BZ2Decompressor, (OSError, EOFError, ValueError), body, budget.remaining)
            out, status = (got.data, got.status) if keep(got) else (b"", got.status)
        if status == "limit":
            budget.exhausted()
        if out:
            yield (label if status in ("ok", "limit") else f"{label}({status})"), out
        if status in ("limit", "truncated"):
            return
        pos = data.find(LOCAL, start if flags & DATA_DESCRIPTOR else start + csize)


class ZipDecoder(Decoder):
    name = "zip"
    structural = True
    embedded = True  # also searched for inside other bytes

    @staticmethod
    def sniff(data: bytes) -> bool:
        """An archive, or one inside other bytes (a self-extractor, a framed upload)."""
        return data.find(LOCAL) >= 0

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        entries = _directory_entries(data)
        if entries is not None and entries <= MAX_DIRECTORY:
            try:
                zipfile.ZipFile(io.BytesIO(data)).close()
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
                pass
            else:
                yield from _central(data, budget)
                return
        yield from _walk(data, budget)

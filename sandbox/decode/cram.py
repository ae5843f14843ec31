"""CRAM (2.1, 3.0, 3.1): its blocks decompressed and joined by what they hold, label "cram:external <id>"
("cram:core", "cram:header").

A CRAM is the archival form of reads: their series (bases, qualities, names, ...) each in blocks of its
own, compressed by gzip, bzip2, xz or, as htslib writes them by default, CRAM's rANS coders
(``sandbox.decode.rans``).  A CRAM of 40 kB of reads uploaded to an allowed destination replayed clean:
its blocks look like any compressed bytes.  Each block is decompressed and the blocks of one content id
are joined in file order, so an unaligned CRAM's bases are one view of letters the correlator reads.

What the rig cannot read is said, never passed over: blocks in the arithmetic, fqzcomp or name-tokeniser
codecs, and the slices of records aligned against a reference that the file does not embed (their bases
are differences from a reference the rig does not have).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from sandbox.decode.base import Budget, Decoder, drain
from sandbox.decode.codec import status_label
from sandbox.decode.rans import RansError, Tables, rans4x8, ransnx16

MAGIC = b"CRAM"
FILE_DEFINITION = 26          # "CRAM", major, minor, a 20-byte file id
MAX_CONTAINERS = 65536
MAX_BLOCKS = 1 << 20          # blocks walked in one file, all containers
RAW, GZIP, BZIP2, LZMA, RANS4X8, RANSNX16 = 0, 1, 2, 3, 4, 5
NOT_READ = {6: "CRAM's adaptive arithmetic coder", 7: "fqzcomp", 8: "CRAM's name tokeniser"}
STREAMS = {GZIP: "gzip", BZIP2: "bz2", LZMA: "xz"}
FILE_HEADER, COMPRESSION_HEADER, SLICE_HEADER, EXTERNAL, CORE = 0, 1, 2, 4, 5
UNMAPPED = -1


class _Cut(ValueError):
    """The bytes end inside a field."""


def _itf8(d: bytes, at: int) -> tuple[int, int]:
    """CRAM's ITF8: 1 to 5 bytes, the leading ones counting the rest (signed 32-bit)."""
    if at >= len(d):
        raise _Cut
    b = d[at]
    n = 0 if b < 0x80 else 1 if b < 0xC0 else 2 if b < 0xE0 else 3 if b < 0xF0 else 4
    if at + n >= len(d):
        raise _Cut
    if n == 4:
        value = (b & 0x0F) << 28 | d[at + 1] << 20 | d[at + 2] << 12 | d[at + 3] << 4 | d[at + 4] & 0x0F
    else:
        value = b & (0xFF >> (n + 1))
        for k in range(n):
            value = value << 8 | d[at + 1 + k]
    if value >= 1 << 31:
        value -= 1 << 32
    return value, at + n + 1


def _ltf8(d: bytes, at: int) -> tuple[int, int]:
    """CRAM's LTF8: 1 to 9 bytes, the leading ones counting the rest."""
    if at >= len(d):
        raise _Cut
    b = d[at]
    n = 0
    while n < 8 and b & (0x80 >> n):
        n += 1
    if at + n >= len(d):
        raise _Cut
    value = b & (0xFF >> (n + 1)) if n < 8 else 0
    for k in range(n):
        value = value << 8 | d[at + 1 + k]
    return value, at + n + 1


@dataclass(slots=True)
class _Block:
    method: int
    content: int
    content_id: int
    start: int
    size: int
    raw: int


@dataclass(slots=True)
class _Container:
    reference: int
    blocks: list[_Block] = field(default_factory=list)
    size: int = 0


def _containers(d: bytes, major: int) -> Iterator[_Container]:
    """The containers from the file definition on, each with its blocks; ends at the bytes' end or at a
    container that does not parse (what arrived of a cut file is still read)."""
    at = FILE_DEFINITION
    blocks = 0
    for _ in range(MAX_CONTAINERS):
        if at + 4 > len(d):
            return
        try:
            length = int.from_bytes(d[at:at + 4], "little", signed=True)
            reference, p = _itf8(d, at + 4)
            for _ in range(3):                         # start, span, records
                _, p = _itf8(d, p)
            p = _ltf8(d, _ltf8(d, p)[1])[1]            # record counter, bases
            count, p = _itf8(d, p)
            landmarks, p = _itf8(d, p)
            if not 0 <= landmarks <= 1 << 16 or length < 0 or count < 0:
                return
            for _ in range(landmarks):
                _, p = _itf8(d, p)
            if major >= 3:                             # its CRC32: bytes after the last container are none
                if p + 4 > len(d) or zlib.crc32(d[at:p]) != int.from_bytes(d[p:p + 4], "little"):
                    return
                p += 4
            elif count > MAX_BLOCKS or length > len(d):
                return
        except _Cut:
            return
        container = _Container(reference)
        end = min(len(d), p + length)
        for _ in range(count):
            if blocks >= MAX_BLOCKS or p >= len(d):
                break
            blocks += 1
            try:
                method, content = d[p], d[p + 1]
                content_id, p = _itf8(d, p + 2)
                size, p = _itf8(d, p)
                raw, p = _itf8(d, p)
            except (_Cut, IndexError):
                break
            if size < 0 or raw < 0:
                break
            container.blocks.append(_Block(method, content, content_id, p, size, raw))
            p += size + (4 if major >= 3 else 0)
        # the next container follows its blocks (htslib's 2.1 header container says two bytes fewer)
        end = min(len(d), max(end, p))
        container.size = end - at
        yield container
        if length == 0 or end >= len(d):
            return
        at = end


def _reference_required(header: bytes) -> bool:
    """The compression header's preservation map says RR (reference required); true when it is absent."""
    try:
        _, p = _itf8(header, 0)
        entries, p = _itf8(header, p)
        for _ in range(min(entries, 64)):
            key = header[p:p + 2]
            p += 2
            if key in (b"RN", b"AP", b"RR"):
                if key == b"RR":
                    return header[p] != 0
                p += 1
            elif key == b"SM":
                p += 5
            elif key == b"TD":
                size, p = _itf8(header, p)
                p += size
            else:
                return True
    except (_Cut, IndexError):
        pass
    return True


def _embeds_reference(slice_header: bytes) -> bool:
    """The slice header names a block of embedded reference bases (its content id is not -1)."""
    try:
        p = 0
        for _ in range(4):                             # reference, start, span, records
            _, p = _itf8(slice_header, p)
        p = _ltf8(slice_header, p)[1]                  # record counter
        blocks, p = _itf8(slice_header, p)
        ids, p = _itf8(slice_header, p)
        for _ in range(min(ids, 1 << 16)):
            _, p = _itf8(slice_header, p)
        embedded, p = _itf8(slice_header, p)
        return embedded != -1
    except _Cut:
        return False


# Frequency tables one file's rANS blocks may build (4 KiB each; a container's blocks build a few hundred).
MAX_TABLES = 1 << 18


def _block_bytes(d: bytes, block: _Block, budget: Budget, tables: Tables) -> tuple[bytes, str] | None:
    """A block's bytes decompressed and how they ended (ok, truncated, limit, corrupt); None when its
    codec is one the rig does not read (said) or the budget stops it before anything is made (said)."""
    body = d[block.start: block.start + block.size]
    if not body:                         # an empty block (a series no record used)
        return None
    cut = len(body) < block.size
    if block.method in NOT_READ:
        budget.not_read(f"CRAM block compressed with {NOT_READ[block.method]}, which the rig does not read",
                        len(body))
        return None
    if block.method == RAW:
        out = body[:min(block.raw, budget.remaining)]
        if len(out) < min(block.raw, len(body)):
            budget.exhausted(left=len(body) - len(out))
            return out, "limit"
        return out, "truncated" if cut else "ok"
    if block.method in STREAMS:          # decoded within the budget, whatever the block claims
        got = drain(STREAMS[block.method], body, budget)
        return (got.data, got.status) if got.data else None
    if block.method not in (RANS4X8, RANSNX16):
        budget.not_read(f"CRAM block compressed with method {block.method}, which the rig does not read",
                        len(body))
        return None
    if block.raw > budget.remaining:     # rANS is decoded whole or not at all
        budget.exhausted(left=len(body))
        return None
    try:
        out = rans4x8(body, budget.remaining, tables) if block.method == RANS4X8 else \
            ransnx16(body, block.raw, budget.remaining, tables)
    except RansError:      # bytes its codec does not decode: whatever they are, the rig did not read them
        budget.not_read("CRAM block that does not decode with the rANS coder it names", len(body))
        return None
    return out, "ok"


class CramDecoder(Decoder):
    """Structural: its views are the file's series, and what lies outside its containers (bytes after the
    last one) is searched on its own."""

    name = "cram"
    structural = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data.startswith(MAGIC) and len(data) > FILE_DEFINITION and 2 <= data[4] <= 3

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        if not CramDecoder.sniff(data):
            return
        major = data[4]
        budget.took(0, FILE_DEFINITION)
        series: dict[str, list[bytes]] = {}
        statuses: dict[str, str] = {}
        tables = Tables(MAX_TABLES)
        at = FILE_DEFINITION
        for container in _containers(data, major):
            budget.took(at, at + container.size)
            at += container.size
            reference_required = True
            for block in container.blocks:
                got = _block_bytes(data, block, budget, tables)
                if got is None:
                    if budget.hit:
                        break
                    continue
                content, status = got
                if block.content == COMPRESSION_HEADER:
                    reference_required = _reference_required(content)
                elif block.content == SLICE_HEADER:
                    if container.reference != UNMAPPED and reference_required and \
                            not _embeds_reference(content):
                        budget.not_read("CRAM slice of records aligned to a reference the file does not embed "
                                        "(their bases are differences from it)", container.size)
                elif block.content in (FILE_HEADER, EXTERNAL, CORE):
                    label = {FILE_HEADER: "cram:header", CORE: "cram:core"}.get(block.content,
                                                                              f"cram:external {block.content_id}")
                    series.setdefault(label, []).append(content)
                    if status != "ok":
                        statuses.setdefault(label, status)
                budget.remaining -= len(content)
            if budget.hit:
                break
        made = sum(len(c) for pieces in series.values() for c in pieces)
        budget.remaining += made
        budget.inflated += max(0, made - (at - FILE_DEFINITION))
        for label, pieces in series.items():
            yield status_label(label, statuses.get(label, "ok")), b"".join(pieces)

"""7z archives (7-Zip, the archiver of Windows control PCs): every file, label "7z:<name>".

A 7z archive's packed streams are raw LZMA or LZMA2 (no stream header, no magic) after a 32-byte
signature header, so no stream decoder reads them: an archive of reads was opaque volume, and
below the volume threshold it replayed clean.  The archive's header (at its end, itself LZMA-packed
by default) lists the folders (coders and their properties), the packed streams and the files; each
folder is decoded with Python's lzma (LZMA, LZMA2, and the branch filters 7-Zip puts before them
for executables), zlib (Deflate) or bz2 (BZip2), and cut into its files.  An archive cut before its
header (an upload cut short) is read from its first packed stream as LZMA2, LZMA with 7-Zip's
default properties, then Deflate: what arrived of a default archive.  PPMd (7-Zip's method for
text) and Deflate64 folders are read with pyppmd and inflate64.  Encrypted (AES) folders stay
unread and are weighed as opaque volume, as TLS without keys is; any other folder (BCJ2's
four-stream folders, a filter before PPMd, a coder nobody registered) is said not read.  A header
7-Zip packed is a view of its own ("7z header"): the files' names, which the instrument chose, are
read as any bytes are (120 empty files named with reads replayed clean).
"""

from __future__ import annotations

import lzma
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from sandbox.decode.base import Budget, Decoder
from sandbox.decode.codec import decompress, lzma1_filter, ppmd, ppmd_readable, raw_lzma, status_label

MAGIC = b"7z\xbc\xaf\x27\x1c"
SIGNATURE_HEADER = 32
END, HEADER, ARCHIVE_PROPERTIES, ADDITIONAL_STREAMS, MAIN_STREAMS, FILES_INFO = range(6)
PACK_INFO, UNPACK_INFO, SUBSTREAMS_INFO, SIZE, CRC, FOLDER, CODERS_UNPACK_SIZE, NUM_UNPACK_STREAM = range(6, 14)
EMPTY_STREAM, EMPTY_FILE, NAME, ENCODED_HEADER, DUMMY = 0x0E, 0x0F, 0x11, 0x17, 0x19
COPY, LZMA2, LZMA1, DEFLATE, BZIP2 = b"\x00", b"\x21", b"\x03\x01\x01", b"\x04\x01\x08", b"\x04\x02\x02"
DELTA = b"\x03"
PPMD, DEFLATE64, AES, ARM64 = b"\x03\x04\x01", b"\x04\x01\x09", b"\x06\xf1\x07\x01", b"\x0a"
SINGLE = {COPY: "copy", DEFLATE: "deflate", BZIP2: "bzip2", DEFLATE64: "deflate64", PPMD: "ppmd"}
# Coders by name, to say which folder was not read (7-Zip's Methods.txt).
NAMES = {COPY: "Copy", LZMA2: "LZMA2", LZMA1: "LZMA", DEFLATE: "Deflate", BZIP2: "BZip2", DELTA: "Delta",
         PPMD: "PPMd", DEFLATE64: "Deflate64", AES: "AES", b"\x03\x03\x01\x1b": "BCJ2", ARM64: "ARM64",
         b"\x0b": "RISCV", b"\x04\xf7\x11\x01": "zstd", b"\x04\xf7\x11\x04": "LZ4",
         b"\x04\xf7\x11\x02": "Brotli", b"\x04\x05": "Rar", b"\x04\x06": "LZX"}
BRANCH = {b"\x03\x03\x01\x03": lzma.FILTER_X86, b"\x03\x03\x02\x05": lzma.FILTER_POWERPC,
          b"\x03\x03\x04\x01": lzma.FILTER_IA64, b"\x03\x03\x05\x01": lzma.FILTER_ARM,
          b"\x03\x03\x07\x01": lzma.FILTER_ARMTHUMB, b"\x03\x03\x08\x05": lzma.FILTER_SPARC}
ERRORS = (lzma.LZMAError, OSError, EOFError, ValueError)
# Records a header may list (folders, coders, streams, files): a real one lists a few per file.
MAX_ITEMS = 1 << 20
# An encoded header is itself decoded at most this many times over (7-Zip encodes it once).
MAX_ENCODED = 4
# liblzma takes at most four filters in a chain.
MAX_FILTERS = 4
# Dictionary of the fallback read of an archive without its header: 7-Zip's default at level 9.
FALLBACK_DICT = 64 << 20


class SevenZipError(ValueError):
    pass


class _Sealed(SevenZipError):
    """The archive's header is encrypted: the archive is content no key opened, not a format unread."""


@dataclass(slots=True)
class _Coder:
    method: bytes
    props: bytes
    ins: int = 1
    outs: int = 1


@dataclass(slots=True)
class _Folder:
    coders: list[_Coder]
    bonds: list[tuple[int, int]]  # (in stream, out stream)
    packed: list[int]  # the folder's in streams fed by packed streams
    sizes: list[int] = field(default_factory=list)  # each out stream's unpacked size
    crc: bool = False  # a CRC of the folder's output is listed
    substreams: int = 1
    substream_sizes: list[int] = field(default_factory=list)

    def size(self) -> int:
        """The folder's output: its one out stream no bond consumes."""
        bound = {out for _, out in self.bonds}
        unbound = [i for i in range(len(self.sizes)) if i not in bound]
        return self.sizes[unbound[0]] if len(unbound) == 1 else 0


@dataclass(slots=True)
class _Streams:
    pack_at: int = 0
    pack_sizes: list[int] = field(default_factory=list)
    folders: list[_Folder] = field(default_factory=list)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0
        self.items = 0

    def byte(self) -> int:
        if self.at >= len(self.data):
            raise SevenZipError("7z: header cut short")
        self.at += 1
        return self.data[self.at - 1]

    def take(self, n: int) -> bytes:
        if n < 0 or self.at + n > len(self.data):
            raise SevenZipError("7z: header cut short")
        self.at += n
        return self.data[self.at - n: self.at]

    def number(self) -> int:
        """7z's NUMBER: the first byte's leading ones say how many little-endian bytes follow."""
        first = self.byte()
        mask, value = 0x80, 0
        for i in range(8):
            if not first & mask:
                return value | ((first & (mask - 1)) << (8 * i))
            value |= self.byte() << (8 * i)
            mask >>= 1
        return value

    def count(self) -> int:
        n = self.number()
        self.items += n
        if self.items > MAX_ITEMS or n > len(self.data):
            raise SevenZipError("7z: more records than bytes")
        return n

    def bits(self, n: int) -> list[bool]:
        out, byte, mask = [], 0, 0
        for _ in range(n):
            if not mask:
                byte, mask = self.byte(), 0x80
            out.append(bool(byte & mask))
            mask >>= 1
        return out

    def digests(self, n: int) -> list[bool]:
        """Skip ``n`` CRCs; which of them are defined."""
        defined = [True] * n if self.byte() else self.bits(n)
        self.take(4 * sum(defined))
        return defined

    def skip_to(self, end: int) -> None:
        """Skip this property's data (unknown, or not needed)."""
        self.take(end - self.at)


def _pack_info(r: _Reader, streams: _Streams) -> None:
    streams.pack_at = r.number()
    n = r.count()
    while (kind := r.number()) != END:
        if kind == SIZE:
            streams.pack_sizes = [r.number() for _ in range(n)]
        elif kind == CRC:
            r.digests(n)
        else:
            raise SevenZipError("7z: pack info")


def _folder(r: _Reader) -> _Folder:
    coders = []
    for _ in range(r.count()):
        flags = r.byte()
        if flags & 0x80:
            raise SevenZipError("7z: alternative methods")
        method = r.take(flags & 0x0F)
        coder = _Coder(method, b"")
        if flags & 0x10:
            coder.ins, coder.outs = r.count(), r.count()
        if flags & 0x20:
            coder.props = r.take(r.number())
        coders.append(coder)
    ins, outs = sum(c.ins for c in coders), sum(c.outs for c in coders)
    bonds = [(r.number(), r.number()) for _ in range(outs - 1)]
    bound_ins = {i for i, _ in bonds}
    packed_count = ins - len(bonds)
    if packed_count == 1:
        packed = [i for i in range(ins) if i not in bound_ins][:1]
    else:
        packed = [r.number() for _ in range(packed_count)]
    return _Folder(coders, bonds, packed)


def _unpack_info(r: _Reader, streams: _Streams) -> None:
    if r.number() != FOLDER:
        raise SevenZipError("7z: unpack info")
    n = r.count()
    if r.byte():
        raise SevenZipError("7z: folders kept elsewhere")
    streams.folders = [_folder(r) for _ in range(n)]
    while (kind := r.number()) != END:
        if kind == CODERS_UNPACK_SIZE:
            for f in streams.folders:
                f.sizes = [r.number() for _ in range(sum(c.outs for c in f.coders))]
        elif kind == CRC:
            for f, defined in zip(streams.folders, r.digests(n), strict=True):
                f.crc = defined
        else:
            raise SevenZipError("7z: unpack info")


def _substreams(r: _Reader, streams: _Streams) -> None:
    folders = streams.folders
    kind = r.number()
    if kind == NUM_UNPACK_STREAM:
        for f in folders:
            f.substreams = r.count()
        kind = r.number()
    if kind == SIZE:
        for f in folders:
            if f.substreams:
                sizes = [r.number() for _ in range(f.substreams - 1)]
                f.substream_sizes = [*sizes, max(0, f.size() - sum(sizes))]
        kind = r.number()
    for f in folders:
        if not f.substream_sizes and f.substreams == 1:
            f.substream_sizes = [f.size()]
    while kind != END:
        if kind != CRC:
            raise SevenZipError("7z: substreams info")
        # CRCs of the substreams whose CRC the folder's does not already give
        r.digests(sum(f.substreams for f in folders if f.substreams != 1 or not f.crc))
        kind = r.number()


def _streams(r: _Reader) -> _Streams:
    streams = _Streams()
    while (kind := r.number()) != END:
        if kind == PACK_INFO:
            _pack_info(r, streams)
        elif kind == UNPACK_INFO:
            _unpack_info(r, streams)
        elif kind == SUBSTREAMS_INFO:
            _substreams(r, streams)
        else:
            raise SevenZipError("7z: streams info")
    for f in streams.folders:
        if not f.substream_sizes:
            f.substream_sizes = [f.size()]
    return streams


def _files(r: _Reader) -> list[tuple[str, bool]]:
    """(name, has a stream) of every file, in order."""
    n = r.count()
    empty = [False] * n
    names = [f"file {i}" for i in range(n)]
    while (kind := r.number()) != END:
        size = r.number()
        end = r.at + size
        if end > len(r.data):
            raise SevenZipError("7z: files info cut short")
        if kind == EMPTY_STREAM:
            empty = r.bits(n)
        elif kind == NAME and not r.byte():
            raw = r.take(end - r.at).decode("utf-16-le", "replace").split("\x00")
            names = [name or names[i] for i, name in enumerate(raw[:n])] + names[len(raw[:n]):]
        r.skip_to(end)
    return [(name, not e) for name, e in zip(names, empty, strict=True)]


class _How(NamedTuple):
    """How to decode a folder: ``kind`` "lzma" with its filter ``chain`` (compression order), or
    "deflate", "deflate64", "bzip2", "ppmd" (``chain``: its order and memory), "copy"; then, when
    ``arm64`` is not None, 7-Zip's ARM64 branch filter from that start offset (liblzma's Python
    binding lacks it)."""

    kind: str
    chain: list[dict]
    arm64: int | None = None


def _method_filters(folder: _Folder) -> _How | None:
    """How to decode a folder; None when it is not a chain of one-in one-out coders we read."""
    coders = folder.coders
    if any(c.ins != 1 or c.outs != 1 for c in coders) or len(folder.packed) != 1:
        return None
    # one-in one-out coders: a coder's in and out streams have its index; a bond (in, out) feeds
    # coder ``in`` with coder ``out``'s output
    order = [folder.packed[0]]  # from the coder reading the packed stream to the one giving the output
    reader_of = {out: inn for inn, out in folder.bonds}
    while order[-1] in reader_of and len(order) <= len(coders):
        order.append(reader_of[order[-1]])
    if sorted(order) != list(range(len(coders))):
        return None
    methods = [coders[i] for i in order]
    arm64 = None
    if len(methods) > 1 and methods[-1].method == ARM64 and len(methods[-1].props) in (0, 4):
        arm64 = int.from_bytes(methods[-1].props, "little")
        methods = methods[:-1]
    if len(methods) == 1 and methods[0].method in SINGLE:
        kind = SINGLE[methods[0].method]
        if kind != "ppmd":
            return _How(kind, [], arm64)
        props = methods[0].props
        order_, memory = props[0] if props else 0, int.from_bytes(props[1:5], "little")
        return _How("ppmd", [{"order": order_, "memory": memory}], arm64) \
            if ppmd_readable(7, order_, memory) else None
    chain = [_filter(coder) for coder in reversed(methods)]  # compression order: filters, then the compressor
    if len(chain) > MAX_FILTERS or None in chain:
        return None
    compressors = [f["id"] in (lzma.FILTER_LZMA1, lzma.FILTER_LZMA2) for f in chain]
    if not compressors[-1] or any(compressors[:-1]):
        return None
    return _How("lzma", chain, arm64)


def arm64_decode(data: bytes, start: int = 0) -> bytes:
    """Undo 7-Zip's (and xz's) ARM64 branch filter: BL targets and ADRP pages, which the encoder made
    absolute, made relative to their instruction again (``start``: the offset of ``data``'s first byte)."""
    whole = len(data) // 4 * 4
    words = np.frombuffer(data, dtype="<u4", count=whole // 4).astype(np.uint32)
    pc = np.arange(len(words), dtype=np.uint32) * np.uint32(4) + np.uint32(start & 0xFFFFFFFF)
    bl = words >> np.uint32(26) == 0x25
    words[bl] = np.uint32(0x94000000) | ((words[bl] - (pc[bl] >> np.uint32(2))) & np.uint32(0x03FFFFFF))
    src = ((words >> np.uint32(29)) & np.uint32(3)) | ((words >> np.uint32(3)) & np.uint32(0x001FFFFC))
    adrp = ((words & np.uint32(0x9F000000)) == 0x90000000) & ((src + np.uint32(0x20000)) & np.uint32(0x1C0000) == 0)
    dest = src[adrp] - (pc[adrp] >> np.uint32(12))
    words[adrp] = ((words[adrp] & np.uint32(0x9000001F)) | ((dest & np.uint32(3)) << np.uint32(29))
                   | ((dest & np.uint32(0x3FFFC)) << np.uint32(3))
                   | ((np.uint32(0) - (dest & np.uint32(0x20000))) & np.uint32(0xE00000)))
    return words.tobytes() + data[whole:]


def _filter(coder: _Coder) -> dict | None:
    """The lzma module's filter for a coder; None when it is none we read (or its properties are bad)."""
    props = coder.props
    if coder.method == LZMA1:
        try:
            return lzma1_filter(props)
        except ValueError:
            return None
    if coder.method == LZMA2 and len(props) >= 1 and props[0] <= 40:
        p = props[0]
        return {"id": lzma.FILTER_LZMA2, "dict_size": 0xFFFFFFFF if p == 40 else (2 | (p & 1)) << (p // 2 + 11)}
    if coder.method in BRANCH:
        return {"id": BRANCH[coder.method]}
    if coder.method == DELTA and len(props) >= 1:
        return {"id": lzma.FILTER_DELTA, "dist": props[0] + 1}
    return None


def _decode(how: _How, packed: bytes | memoryview, size: int, cap: int) -> tuple[bytes, str, int]:
    """A folder's packed bytes decoded to ``size`` bytes at most, within ``cap``: (bytes, status, the packed
    bytes read: where a stream with an end ended, where a corrupt one surely was)."""
    kind, chain, arm64 = how
    if kind == "copy":
        got = bytes(packed[: min(size, cap)])
        return (got if arm64 is None else arm64_decode(got, arm64)), "ok" if size <= cap else "limit", len(got)
    if kind == "lzma":
        got = raw_lzma(chain, packed, size, cap)
    elif kind == "ppmd":
        got = ppmd(7, chain[0]["order"], chain[0]["memory"], packed, size, cap)
    else:
        got = decompress("bz2" if kind == "bzip2" else kind, packed, min(size, cap))
    status = got.status
    if status == "limit" and size <= cap:  # the folder's own size, not the budget, ended it
        status = "ok"
    used = (got.end or len(packed)) if status == "ok" else got.read if status == "corrupt" else len(packed)
    return (got.data if arm64 is None else arm64_decode(got.data, arm64)), status, used


def _read_streams(data: bytes, streams: _Streams, cap: int) -> list[tuple[bytes, str, _Folder, int, tuple[int, int]]]:
    """Each folder's bytes: (bytes, status, folder, its packed bytes present, where the packed bytes read
    lie); a folder we do not read gives (b"", "", folder, ...), its packed bytes all."""
    out = []
    at = SIGNATURE_HEADER + streams.pack_at
    pack = 0
    for folder in streams.folders:
        n = len(folder.packed)
        sizes = streams.pack_sizes[pack: pack + n]
        pack += n
        start = at
        at += sum(sizes)
        present = max(0, min(at, len(data)) - start)
        how = _method_filters(folder)
        if how is None or not sizes or start >= len(data):
            out.append((b"", "", folder, present, (start, at)))
            continue
        got, status, used = _decode(how, memoryview(data)[start: start + sizes[0]], folder.size(), cap)
        if start + sizes[0] > len(data) and status == "ok":
            status = "truncated"
        cap -= len(got)
        out.append((got, status, folder, present, (start, start + used)))
    return out


def _coded_with(folder: _Folder) -> str:
    """The folder's coders by name, as 7-Zip lists them ("BCJ2 LZMA LZMA LZMA"); one of no name is
    "an unregistered coder" (its id is the instrument's bytes: the report does not carry them)."""
    return " ".join(NAMES.get(c.method, "an unregistered coder") for c in reversed(folder.coders))


def _packed(streams: _Streams) -> tuple[int, int]:
    """Where the streams' packed bytes lie in the archive."""
    return SIGNATURE_HEADER + streams.pack_at, SIGNATURE_HEADER + streams.pack_at + sum(streams.pack_sizes)


def _header(data: bytes, budget: Budget) -> tuple[bytes, bool] | None:
    """The archive's header, decoded when packed (7-Zip packs it by default: the files' names are in
    no view then), and whether it was; None when it cannot be read.  What it read of the archive
    (the signature header, the header, a packed header's streams) is said taken apart."""
    offset = int.from_bytes(data[12:20], "little")
    size = int.from_bytes(data[20:28], "little")
    at = SIGNATURE_HEADER + offset
    if size == 0 or at + size > len(data):
        return None
    spans = [(0, SIGNATURE_HEADER), (at, at + size)]
    header = data[at: at + size]
    for times in range(MAX_ENCODED):
        if header[:1] != bytes([ENCODED_HEADER]):
            if header[:1] != bytes([HEADER]):
                return None
            for span in spans:
                budget.took(*span)
            return header, times > 0
        r = _Reader(header)
        r.byte()
        streams = _streams(r)
        if not streams.folders:
            return None
        spans.append(_packed(streams))
        got, status, folder, _, _ = _read_streams(data, streams, budget.remaining)[0]
        if any(c.method == AES for c in folder.coders):
            raise _Sealed("7z: encrypted header")
        if status != "ok":
            return None
        header = got
    return None


def _fallback(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
    """No header: the first packed stream as LZMA2, LZMA (7-Zip's defaults), then Deflate (BZip2
    streams have a magic of their own, stored files are in the view)."""
    packed = memoryview(data)[SIGNATURE_HEADER:]
    cap = budget.remaining
    for method, props in ((LZMA2, bytes([24])), (LZMA1, b"\x5d" + FALLBACK_DICT.to_bytes(4, "little")),
                          (DEFLATE, b"")):
        folder = _Folder([_Coder(method, props)], [], [0], [cap])
        how = _method_filters(folder)
        if how is None:
            continue
        got, status, _ = _decode(how, packed, cap, cap)
        if len(got) >= 64:
            if status == "limit":
                budget.exhausted(left=len(packed))
            yield status_label("7z", "truncated" if status == "ok" else status), got
            return
    budget.not_read("7z archive without a header the rig can read, in a method it does not read", len(packed))


class SevenZipDecoder(Decoder):
    name = "7z"
    structural = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data.startswith(MAGIC) and len(data) > SIGNATURE_HEADER

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        try:
            found = _header(data, budget)
            if found is None:
                yield from _fallback(data, budget)
                return
            header, packed = found
            if packed:   # its names, which the instrument chose, are read as any bytes are
                yield "7z header", header
            r = _Reader(header)
            r.byte()
            streams, files = _Streams(), []
            while (kind := r.number()) != END:
                if kind == MAIN_STREAMS:
                    streams = _streams(r)
                elif kind == FILES_INFO:
                    files = _files(r)
                elif kind in (ARCHIVE_PROPERTIES, ADDITIONAL_STREAMS):
                    raise SevenZipError("7z: archive properties")
                else:
                    raise SevenZipError("7z: header")
        except _Sealed:
            return
        except (SevenZipError, *ERRORS):
            budget.not_read("7z archive whose header the rig cannot read", len(data) - SIGNATURE_HEADER)
            return
        named = iter([name for name, has_stream in files if has_stream])
        for content, status, folder, present, packed in _read_streams(data, streams, budget.remaining):
            budget.took(*packed)
            if not status and present and not any(c.method == AES for c in folder.coders):
                budget.not_read(f"7z folder coded with {_coded_with(folder)}, which the rig does not read", present)
            if status == "limit":
                budget.exhausted(left=len(data))
            at = 0
            for size in folder.substream_sizes:
                name = next(named, None) or "?"
                piece = content[at: at + size]
                at += size
                if piece:
                    cut = status if at > len(content) or status == "corrupt" else "ok"
                    yield status_label(f"7z:{name}", cut), piece
            if status == "limit":
                return

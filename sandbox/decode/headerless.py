"""A compressed stream whose magic or header was cut off: read with it put back (label "headerless: <how>").

Cutting a stream's first bytes off costs a sender one slice: a gzip of reads whose header was cut
was already read (raw deflate), but an xz, LZMA, bzip2, zstd or LZ4 stream without its magic, or
written raw (LZMA2 and LZMA without a container, zstd "magicless"), replayed clean: the view looked
random (weighed as ciphertext sent to an allowed place) and no decoder's magic began it.  Each is
known by what stays after its magic, at the view's start:

- bzip2 without "BZh" and its level: a block's 48-bit magic (or the end of stream's);
- bzip2 without the block's magic too: its header read to its Huffman tables, every field valid;
- zstd without its magic (or written magicless): a frame header of no dictionary with its reserved
  bits clear, a compressed first block (one random view in 1,000), then a trial;
- LZ4 without its magic: version 01, reserved bits clear, a block size of 64 KiB to 4 MiB and the
  frame descriptor's checksum (one random view in 16,000);
- xz without its stream header: a block header whose CRC32 checks, then a trial; the check type
  the stream footer says (or each, the one that reads the stream without an error);
- LZMA2 without a container: a first chunk that resets the dictionary and sets properties of lc + lp
  at most 4, then the range coder's first byte, always 0;
- LZMA without a container (or LZMA-alone's 13 header bytes cut off): the range coder's 0 byte,
  then a trial with the properties every writer uses (lc 3, lp 0, pb 2).

A trial decodes the view's first TRIAL bytes with the header put back: it must end the stream or
make MIN_OUT bytes without an error (random bytes that pass a check err within a few hundred), and
not the view's own first bytes.
Past a header of the sender's own, up to MAX_OFFSET bytes in, the strong checks (all but bzip2
without its magics and LZMA's zero byte) are looked for at every offset at once
(``_kernels.headerless_starts``); a zstd frame's first block and an LZ4 frame's first bytes go through
their decompressor before a trial (4-10 µs a random view).  Out of reach: a stream cut further
(into its data), LZMA with other properties.
"""

from __future__ import annotations

import binascii
import lzma
from collections.abc import Callable, Iterator

import lz4.frame
import numpy as np
import zstandard

from sandbox.decode import text
from sandbox.decode.base import Budget, Decoder, charged, drain
from sandbox.decode.codec import LZ4_MAGIC, XZ_MAGIC, ZSTD_MAGIC, Drained, decompress, raw_lzma, status_label
from sandbox.index import _kernels

MIN_VIEW = 32
TRIAL = 16 << 10          # input bytes a trial decodes
TRIAL_OUT = 64 << 10      # output bytes a trial makes at most
MIN_OUT = 512             # output a trial that does not end its stream must make
MIN_DISTINCT = 4          # values among a stream's first PROBE bytes past a header of the sender's own
QUICK, QUICK_OUT = 1024, 1 << 16   # bytes a first look decompresses, and makes at most
LZ4_TRIAL = (4 << 20) + 32   # an LZ4 frame's first block whole (its descriptor and checksum checked first)
PROBE = 4096              # output bytes that must not be the view's own (a stored block; LZ4's
                          # literals are the view's bytes until its first match)
BZ2_BLOCK = b"1AY&SY"     # a block's magic (pi), and the end of stream's (sqrt pi)
BZ2_END = b"\x17\x72\x45\x38\x50\x90"
BZ2_HEAD = b"BZh9"        # level 9 reads a block of any size
MAX_TABLE_BITS = 1024     # steps of a bzip2 block's code lengths checked (the rest taken on trust)
LZMA_DICT = 8 << 20       # the dictionary a raw LZMA stream is read with (xz's and 7z's default)
# xz's check types and the bytes their stream header's flags take (CRC64 first: every writer's default)
XZ_CHECKS = (4, 1, 10, 0)
LZMA_DEFAULT = {"id": lzma.FILTER_LZMA1, "lc": 3, "lp": 0, "pb": 2, "dict_size": LZMA_DICT}
MAX_OFFSET = 64           # bytes of a header of the sender's own a stream is looked for past

def _xz_header(check: int) -> bytes:
    flags = bytes((0, check))
    return XZ_MAGIC + flags + binascii.crc32(flags).to_bytes(4, "little")


class _Bits:
    """Bits of ``data``, most significant first (bzip2's order), read past its end as None."""

    __slots__ = ("data", "at")

    def __init__(self, data: bytes, at: int):
        self.data, self.at = data, at

    def take(self, n: int) -> int | None:
        end = self.at + n
        if end > len(self.data) * 8:
            return None
        first, last = self.at >> 3, (end + 7) >> 3
        value = int.from_bytes(self.data[first:last], "big") >> (last * 8 - end) & ((1 << n) - 1)
        self.at = end
        return value


def bz2_block(data: bytes) -> bool:
    """A bzip2 block's header after its magic and CRC, read to its Huffman tables (bzip2's
    decompress.c): the randomised bit clear, an origin pointer within the largest block, the symbols
    used, two to six tables, each selector's code below their number, and each table's code lengths
    within 1-20 (the first MAX_TABLE_BITS steps of them).  Random bytes fail it within a few dozen bits;
    a block's pass in a millisecond at most."""
    if len(data) < 10 or data[4] & 0x80 or int.from_bytes(data[4:8], "big") >> 7 & 0xFFFFFF >= 900_000:
        return False
    bits = _Bits(data, 57)              # past the CRC (32 bits), the randomised bit and the origin (24)
    groups = bits.take(16)
    used = 0
    for g in range(16):
        if groups is None:
            return False
        if groups >> (15 - g) & 1:
            row = bits.take(16)
            if row is None:
                return False
            used += bin(row).count("1")
    tables, selectors = bits.take(3), bits.take(15)
    if not used or tables is None or selectors is None or not 2 <= tables <= 6 or not 1 <= selectors <= 18002:
        return False
    # each selector a run of 1s ended by a 0, shorter than the tables' number: at C speed
    start = bits.at
    stream = np.unpackbits(np.frombuffer(data, np.uint8, count=min(len(data), (start + selectors * 7 + 7) // 8 + 1)))
    zeros = np.flatnonzero(stream[start:] == 0)[:selectors]
    if len(zeros) < selectors or (np.diff(zeros, prepend=-1) - 1).max() >= tables:
        return False
    bits.at = start + int(zeros[-1]) + 1
    budget = MAX_TABLE_BITS             # the code lengths: random bytes leave 1-20 within a few hundred bits
    for _ in range(tables):
        length = bits.take(5)
        for _ in range(used + 2):
            while True:
                budget -= 1
                if budget < 0:
                    return True
                if length is None or not 1 <= length <= 20:
                    return False
                step = bits.take(1)
                if step == 0:
                    break
                turn = bits.take(1)
                if step is None or turn is None:
                    return False
                length += -1 if turn else 1
    return True


def _lz4_descriptor(data: bytes) -> bool:
    """An LZ4 frame descriptor (FLG, BD, optional content size and dictionary ID, checksum) whose
    fields are valid; its checksum is checked by the trial."""
    flg, bd = data[0], data[1]
    return flg >> 6 == 1 and not flg & 0x02 and not bd & 0x8F and bd >> 4 >= 4


def _zstd_frame(data: bytes) -> int:
    """Where a zstd frame's first block ends, if the view starts with a frame header (RFC 8878 3.1.1)
    of no dictionary with its reserved and unused bits clear, then a first block that is compressed (a
    raw or an RLE block is its bytes already) and no longer than a block may be; else 0."""
    descriptor = data[0]
    if descriptor & 0x1B:                 # unused and reserved bits, a dictionary ID
        return 0
    size = (0, 2, 4, 8)[descriptor >> 6] or (1 if descriptor & 0x20 else 0)
    at = 1 + (0 if descriptor & 0x20 else 1) + size
    if len(data) < at + 3:
        return 0
    block = int.from_bytes(data[at:at + 3], "little")
    return at + 3 + (block >> 3) if block >> 1 & 3 == 2 and block >> 3 <= 128 << 10 else 0


def _xz_block(data: bytes) -> bool:
    """An xz block header: its size, reserved flags clear, and its CRC32."""
    size = (data[0] + 1) * 4
    if not data[0] or len(data) < size or data[1] & 0x3C:
        return False
    return binascii.crc32(data[:size - 4]) == int.from_bytes(data[size - 4:size], "little")


def _xz_checks(data: bytes) -> tuple[int, ...]:
    """The check types to read an xz stream with: its footer's (flags, then "YZ") first, if it ends
    the view, then every writer's CRC64 and the others."""
    footer = (data[-4:-2][1] & 0x0F,) if data.endswith(b"YZ") and len(data) >= 12 and not data[-4] else ()
    return footer + tuple(c for c in XZ_CHECKS if c not in footer)


def _lzma2_start(data: bytes) -> bool:
    """An LZMA2 stream's first chunk: LZMA data resetting the dictionary with new properties (lc + lp
    at most 4, pb at most 4), then the range coder's first byte, 0."""
    if len(data) < 7 or data[0] < 0xE0:
        return False
    props = data[5]
    lc, lp, pb = props % 9, props // 9 % 5, props // 45
    return props < 225 and lc + lp <= 4 and pb <= 4 and data[6] == 0


def _trial(fmt: str, head: bytes, data: bytes, size: int = TRIAL) -> bool:
    """Whether ``head`` + the view's first ``size`` bytes decode as ``fmt``: to the stream's end, or to
    MIN_OUT bytes without an error."""
    return _made(decompress(fmt, head + data[:size], TRIAL_OUT), data)


def _made(got: Drained, data: bytes) -> bool:
    """Whether a trial made something: its stream's end, or MIN_OUT bytes without an error; never a
    copy of the view's first bytes (a stored block of random bytes)."""
    if got.data[:PROBE] in data[:PROBE + 64]:
        return False
    if got.status == "ok" and got.data:
        return True
    return got.status in ("truncated", "limit") and len(got.data) >= MIN_OUT


def _lz4_first(data: bytes) -> None:
    lz4.frame.LZ4FrameDecompressor().decompress(data, QUICK_OUT)


def _zstd_first(data: bytes) -> None:
    zstandard.ZstdDecompressor().decompressobj().decompress(data)


def _opens_quickly(first: Callable[[bytes], None], data: bytes) -> bool:
    """Whether a stream's first bytes (QUICK, or a zstd frame's first block) go through its decompressor
    without an error: random bytes that pass a header's checks fail here, at a tenth of a trial's cost
    (LZ4's header checksum, a zstd block's tables)."""
    try:
        first(data)
    except (RuntimeError, zstandard.ZstdError):
        return False
    return True


def _raw_trial(filters: list[dict], data: bytes) -> bool:
    return _made(raw_lzma(filters, data[:TRIAL], 1 << 40, TRIAL_OUT), data)


# (label, whether the view's first bytes may be it, its format, the bytes put back before it)
_WAYS: tuple[tuple[str, Callable[[bytes], bool], str, bytes], ...] = (
    ("bzip2 without its header", lambda d: d.startswith((BZ2_BLOCK, BZ2_END)), "bz2", BZ2_HEAD),
    ("bzip2 without its magics", bz2_block, "bz2", BZ2_HEAD + BZ2_BLOCK),
    ("LZ4 without its magic", lambda d: _lz4_descriptor(d) and _opens_quickly(_lz4_first, LZ4_MAGIC + d[:QUICK])
     and _trial("lz4", LZ4_MAGIC, d, LZ4_TRIAL), "lz4", LZ4_MAGIC),
    # (a first block the view does not hold whole is no stream the rig could read a byte of)
    ("zstd without its magic", lambda d: 0 < (end := _zstd_frame(d)) <= len(d)
     and _opens_quickly(_zstd_first, ZSTD_MAGIC + d[:end]) and _trial("zstd", ZSTD_MAGIC, d, max(end, TRIAL)),
     "zstd", ZSTD_MAGIC),
)


def _at_start(data: bytes, weak: bool) -> tuple[str, str, bytes] | None:
    """How a stream at the view's start is read: (label, format, bytes put back: none for raw LZMA and
    LZMA2, and for xz, whose stream header each check type makes), or None; ``weak``: the ways a
    random view passes often (bzip2 without its magics, LZMA's zero byte) too."""
    for label, fits, fmt, head in _WAYS:
        if (weak or fits is not bz2_block) and fits(data):
            return label, fmt, head
    if _xz_block(data) and _trial("xz", _xz_header(_xz_checks(data)[0]), data):
        return "xz without its stream header", "xz", b""
    if _lzma2_start(data) and _raw_trial([{"id": lzma.FILTER_LZMA2, "dict_size": LZMA_DICT}], data):
        return "LZMA2 without a container", "lzma2", b""
    if weak and data[0] == 0 and _raw_trial([LZMA_DEFAULT], data):
        return "LZMA without a container", "lzma", b""
    return None


def _offsets(data: bytes) -> list[int]:
    """Where past the view's start, up to MAX_OFFSET bytes in, a stream the strong checks know may begin
    (a header of the sender's own before it): ``_kernels.headerless_starts``."""
    found = np.empty(MAX_OFFSET, np.int64)
    return found[:_kernels.headerless_starts(data[:MAX_OFFSET + 16], 1, MAX_OFFSET, found)].tolist()


def _found(data: bytes) -> tuple[str, str, bytes, int] | None:
    """How the view is read: ``_at_start``'s answer and where the stream starts, or None."""
    if len(data) < MIN_VIEW or text.printable(data[:64]):
        return None
    found = _at_start(data, weak=True)
    if found is not None:
        return (*found, 0)
    for offset in _offsets(data):
        found = _at_start(data[offset:], weak=False)
        if (found is not None and _OWN_MAGIC.get(found[1], b"\x00" * 16) not in data[max(0, offset - 16):offset]
                and _varied(found[1], found[2], data[offset:])):
            return f"{found[0]}, from byte {offset}", found[1], found[2], offset
    return None


def _varied(fmt: str, head: bytes, data: bytes) -> bool:
    """Whether a stream past a header of the sender's own makes more than one byte or three over and
    over (zeros read as LZMA2 make zeros: a run of them after a gzip's header was taken for one)."""
    if fmt in ("lzma", "lzma2"):
        got = raw_lzma([LZMA_DEFAULT] if fmt == "lzma" else [{"id": lzma.FILTER_LZMA2, "dict_size": LZMA_DICT}],
                       data[:TRIAL], 1 << 40, TRIAL_OUT)
    else:
        got = decompress(fmt, (_xz_header(_xz_checks(data)[0]) if fmt == "xz" else head) + data[:LZ4_TRIAL],
                         TRIAL_OUT)
    return len(set(got.data[:PROBE])) >= MIN_DISTINCT


# A format's magic, which a whole stream's header starts with: a stream found right after it is
# whole, the stream decoders' (a Parquet page's zstd frame, its header after its magic)
_OWN_MAGIC = {"zstd": ZSTD_MAGIC, "lz4": LZ4_MAGIC, "bz2": b"BZh", "xz": XZ_MAGIC}


class HeaderlessDecoder(Decoder):
    name = "headerless"
    reapply = False

    @staticmethod
    def sniff(data: bytes) -> bool:
        return _found(data) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        found = _found(data)
        if found is None:
            return
        label, fmt, head, offset = found
        data = data[offset:]
        if fmt in ("lzma", "lzma2"):
            filters = [LZMA_DEFAULT] if fmt == "lzma" else [{"id": lzma.FILTER_LZMA2, "dict_size": LZMA_DICT}]
            got = charged(raw_lzma(filters, data, 1 << 40, budget.remaining), budget)
        elif fmt == "xz":           # each check type in turn, to one that reads the stream without an error
            for check in _xz_checks(data):
                got = decompress("xz", _xz_header(check) + data, budget.remaining, budget.why)
                if got.status != "corrupt":
                    break
            got = charged(got, budget)
        else:
            got = drain(fmt, head + data, budget)
        if got.data:
            yield status_label(f"headerless: {label}", got.status), got.data

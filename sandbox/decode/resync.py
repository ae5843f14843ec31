"""Deflate read from inside a stream: from the first block with Huffman codes of its own, at any bit,
the window before it unknown.

A gzip, zlib or raw deflate stream whose start a piece of a flow does not hold cannot be decoded by any
decompressor: the parts of an upload sent over parallel connections (a gzip of reads behind 150 kB of
noise in parts of 4 or 16 kB, round-robin over 2 or 4 connections, raw or HTTP POSTs: clean), what a
connection sends after the capture lost a packet of it (inconclusive: said, not read).  Likewise a
bzip2 stream's parts (a bzip2 of reads behind 400 kB of noise in parts of 128 kB over 2 connections).

Every block a compressor writes for compressible data opens with its own Huffman codes (zlib: a block
each 16,384 symbols, some 8 to 40 kB of a gzip of reads), at a bit position nothing marks:
``_kernels.deflate_dynamic_starts`` finds the bit positions where a header zlib would take could start
(code-length code complete, the lengths it codes within their counts, the codes they make valid; none
in 4 MiB of random bytes, 44 ms a MiB).  From one the stream is decoded, bit-shifted into bytes, by a
raw inflater whose preset dictionary is 32 KiB of zeros: the blocks decode as written, and what they
copy from before the first (the window the piece does not hold) comes out as zero bytes, which no k-mer
matches; copies of those stay zeros, fewer as the stream goes on (a gzip of a nanopore run's reads: 42 %
of the first 128 KiB, 8 % at 300 KiB, none past 400 KiB).  A start counts once it makes MIN_OUTPUT
bytes, as many as it read or more.

bzip2's blocks are independent: each starts with a 48-bit magic at any bit and decodes exactly, as a
stream of its own (``Bz2ResyncCodec``).  A part smaller than a block (100 to 900 kB of input) holds
none whole and stays unread.
"""

from __future__ import annotations

import bz2
import zlib

import numpy as np

from sandbox.decode.codec import ZLIB_ERRORS, Allowance, Codec, Stop, streaming
from sandbox.decode.limits import DECODE_STEP
from sandbox.index import _kernels

WINDOW = bytes(32 << 10)    # what a block copies from before it: unknown, zeros
MIN_OUTPUT = 1024           # bytes a start must make from the VERIFY bytes after it
VERIFY = 4096
MIN_RATIO = 1.0             # ... a byte for each byte of input it read at least (a block's start, its codes and first literals, makes 1.4)
INPUT_STEP = 1024           # input given the inflater at a time: a data error loses only the last step's output
MAX_STARTS = 64             # candidate starts taken from the kernel at a time
MAX_TRIED = 16              # ... decoded to see whether they make a stream, in one ``find`` (each costs a
                            # decode of the rest of the data: a sender's piece of valid headers one after
                            # another must not cost one each)
LABEL = "deflate resync"
# bzip2's blocks start with a 48-bit magic at any bit (its bits are packed high first), and decode on
# their own: one found is decoded as the first block of a stream of the largest block size.
BZ2_BLOCK = bytes.fromhex("314159265359")
BZ2_END = 0x177245385090
BZ2_END_MAGIC = BZ2_END.to_bytes(6, "big")
BZ2_HEAD = b"BZh9"
MAX_BZ2_BLOCK = 2 << 20     # compressed bytes a block takes at most (900 kB of input, 1.25 times for random bytes)
BZ2_LABEL = "bzip2 resync"


def shifted(data: bytes | memoryview, bit: int, last: bool = True, high_first: bool = False) -> bytes:
    """The bit stream of ``data`` from bit ``bit`` on, as bytes: packed low bit first (deflate's) or
    ``high_first`` (bzip2's); the last byte's other bits zeros when ``last``, else that byte left out
    (the next input completes it)."""
    arr = np.frombuffer(data, dtype=np.uint8)[bit >> 3:]
    k = bit & 7
    if not k or not len(arr):
        return arr.tobytes()
    if high_first:
        body, final = (arr[:-1] << k) | (arr[1:] >> (8 - k)), (int(arr[-1]) << k) & 0xFF
    else:
        body, final = (arr[:-1] >> k) | (arr[1:] << (8 - k)), int(arr[-1]) >> k
    return body.tobytes() + bytes([final]) if last else body.tobytes()


class _FromBit(Codec):
    """A codec whose stream starts ``bit`` bits into its first input: the whole bytes before it are
    counted as consumed and not decoded."""

    def __init__(self, bit: int, allowance: Allowance | None) -> None:
        super().__init__(allowance)
        self._skip = bit >> 3       # whole bytes of the first input before the stream

    def _skipped(self, data: bytes | memoryview) -> bytes | memoryview:
        """``data`` without what it holds of the bytes before the stream."""
        if self._skip:
            cut = min(self._skip, len(data))
            data, self._skip = data[cut:], self._skip - cut
            self.consumed += cut
        return data


class ResyncCodec(_FromBit):
    """Raw deflate from a block that starts ``bit`` bits into the first input, the window before it
    unknown (zeros).  Input is handed on a step at a time, so a data error keeps what came before it."""

    name = LABEL
    errors = ZLIB_ERRORS

    def __init__(self, bit: int, allowance: Allowance | None = None) -> None:
        super().__init__(bit, allowance)
        self._shift = bit & 7
        self._carry = b""           # the last input byte, whose high bits the next input completes
        self._d = zlib.decompressobj(-15, zdict=WINDOW)

    def _feed(self, data: bytes | memoryview) -> None:
        data = bytes(self._skipped(data))
        if self._shift:
            data = self._carry + data
            if len(data) < 2:
                self._carry = data
                return
            self._carry = data[-1:]
            data = shifted(data, self._shift, last=False)
        for at in range(0, len(data), INPUT_STEP):
            self._inflate(data[at:at + INPUT_STEP])

    def _inflate(self, data: bytes) -> None:
        while data:
            room = self._room()
            if room <= 0:
                raise self._limit(data)
            n = len(data)
            out = self._d.decompress(data, min(room, DECODE_STEP))
            self._keep(out)
            if self._d.eof:
                rest = self._d.unused_data
                self.consumed += n - len(rest)
                self.members, self.ended_at = 1, self.consumed
                if rest:
                    raise Stop("trailing", "trailing data after the stream", rest)
                return
            data = self._d.unconsumed_tail
            self.consumed += n - len(data)

    def _end(self) -> None:
        self._input_ended(not self._d.eof, b"")


class Bz2ResyncCodec(_FromBit):
    """bzip2 from a block that starts ``bit`` bits into the first input (the blocks before it, and the
    stream's header, not held).  bzip2's blocks decode on their own: each whole one (from its magic to
    the next block's or the stream's end) is decoded as a stream of its own, of the largest block size,
    its end marker's CRC the block's (the stream's combines blocks this one does not hold)."""

    name = BZ2_LABEL
    errors = (OSError, EOFError, ValueError)

    def __init__(self, bit: int, allowance: Allowance | None = None) -> None:
        super().__init__(bit, allowance)
        self._buf = bytearray()     # input from the byte the next block starts in
        self._start = bit & 7       # its first bit in ``_buf``
        self._searched = 0          # bytes of ``_buf`` looked through for magics

    def _feed(self, data: bytes | memoryview) -> None:
        self._buf += self._skipped(data)
        ends = _magics(self._buf, max(self._start + 48, (self._searched - len(BZ2_BLOCK)) * 8))
        self._searched = len(self._buf)
        start = self._start
        for end, last in ends:
            self._block(start, end)
            start = end
            if last:
                done = (end + 80 + 7) >> 3
                self.members, self.ended_at = 1, self.consumed + done
                rest = bytes(self._buf[done:])
                self.consumed += len(self._buf)
                self._buf.clear()
                if rest.strip(b"\0"):
                    raise Stop("trailing", "trailing data after the stream", rest)
                return
        done = start >> 3
        del self._buf[:done]
        self.consumed += done
        self._start, self._searched = start & 7, self._searched - done
        if len(self._buf) > MAX_BZ2_BLOCK:
            raise Stop("corrupt", "no block end within a block's largest size", b"")

    def _block(self, start: int, end: int) -> None:
        """Decode the block of bits ``start`` to ``end`` of ``_buf`` as a stream of its own."""
        n = end - start
        value = int.from_bytes(self._buf[start >> 3:(end + 7) >> 3], "big") >> (-end % 8) & ((1 << n) - 1)
        crc = (value >> (n - 80)) & 0xFFFFFFFF
        pad = -(n + 80) % 8
        stream = BZ2_HEAD + (((value << 80 | BZ2_END << 32 | crc) << pad).to_bytes((n + 80 + pad) // 8, "big"))
        room = self._room()
        if room <= 0:
            raise self._limit(b"")
        d = bz2.BZ2Decompressor()
        self._keep(d.decompress(stream, room))
        if not d.eof and self._room() <= 0:
            raise self._limit(b"")

    def _end(self) -> None:
        self._input_ended(bool(self._buf), b"")


def _magics(buf: bytes | bytearray, from_bit: int) -> list[tuple[int, bool]]:
    """The bit positions, from ``from_bit`` on, of the block and end-of-stream magics in ``buf`` (the
    next block's start or the stream's end), in order, each with whether it is the end."""
    view = memoryview(buf)[from_bit >> 3:]
    found = []
    for k in range(8):
        shifted_view = shifted(view, k, high_first=True)
        for magic, last in ((BZ2_BLOCK, False), (BZ2_END_MAGIC, True)):
            at = shifted_view.find(magic)
            while at >= 0:
                bit = ((from_bit >> 3) + at) * 8 + k
                if bit >= from_bit:
                    found.append((bit, last))
                at = shifted_view.find(magic, at + 1)
    return sorted(found)


def find_bz2(data: bytes, scan: int, allowance: Allowance | None = None) -> tuple[int, Bz2ResyncCodec, bytes] | None:
    """The first bzip2 block magic in ``data``'s first ``scan`` bytes, at any bit (chance writes one in
    2^48 bits): (its bit position, the codec decoding from there, what it made of ``data``); None if none."""
    found = [bit for bit, end in _magics(memoryview(data)[:scan + len(BZ2_BLOCK)], 0) if not end]
    if not found:
        return None
    codec = Bz2ResyncCodec(found[0], allowance or streaming())
    return found[0], codec, codec.feed_split(data)[0]


def find(data: bytes, scan: int, allowance: Allowance | None = None) -> tuple[int, ResyncCodec, bytes] | None:
    """The first block start in ``data``'s first ``scan`` bytes from which the stream decodes (MIN_OUTPUT
    bytes at MIN_RATIO from the VERIFY bytes after it; MAX_TRIED starts at most): (its bit position, the
    codec still decoding there or stopped, what it made of ``data``); None if none."""
    starts = np.empty(MAX_STARTS, dtype=np.int64)
    view = memoryview(data)[:scan + 512]
    bit, end, tried = 0, min(len(data), scan) * 8, 0
    while bit < end:
        count, after = _kernels.deflate_dynamic_starts(view, bit, starts)
        for p in starts[:count].tolist():
            tried += 1
            if p >= end or tried > MAX_TRIED:
                return None
            trial = ResyncCodec(p, allowance or streaming())
            trial.feed_split(memoryview(data)[:(p >> 3) + VERIFY])
            if trial.produced >= MIN_OUTPUT and trial.produced >= MIN_RATIO * max(1, trial.consumed - (p >> 3)):
                codec = ResyncCodec(p, allowance or streaming())
                return p, codec, codec.feed_split(data)[0]
        if count < MAX_STARTS:
            return None
        bit = after
    return None

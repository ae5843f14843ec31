"""CRAM's rANS entropy coders (the CRAM codecs specification): rANS 4x8 (CRAM 3.0's, block method 4) and
rANS Nx16 (CRAM 3.1's, method 5: 4 or 32 states, order 0 or 1, with its PACK, RLE, STRIPE and CAT
transforms).  htslib writes a CRAM's bases, qualities and most other series with them: without them
a CRAM of reads is bytes no decoder opens.

The tables are read here, the symbols decoded by one compiled loop (``_kernels.rans_symbols``); bounded:
``cap`` limits the bytes any call makes (a declared size past it is refused before
anything is made), every read past the input raises ``RansError``, and a frequency table that does not
add up is refused.  Time is linear in the output.
"""

from __future__ import annotations

import numpy as np

from sandbox.index import _kernels

TOTFREQ_BITS = 12          # both coders' frequencies sum to 4096 (Nx16's order 1 may use 10 bits)
ORDER, N32, STRIPE, NOSZ, CAT, RLE, PACK = 0x01, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
MAX_STRIPES = 255
MAX_DEPTH = 4              # STRIPE inside STRIPE: each part is a stream of its own


class RansError(ValueError):
    """The bytes are no rANS stream (or one past what the caller allows)."""


class Tables:
    """The frequency tables (one a context) the calls sharing this may still build: each is 4 KiB of slots
    made from a few bytes of input, so a file of tiny order-1 blocks would cost a thousand times its size."""

    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left


class _Reader:
    __slots__ = ("data", "at", "tables")

    def __init__(self, data: bytes, at: int = 0, tables: Tables | None = None) -> None:
        self.data = data
        self.at = at
        self.tables = tables

    def byte(self) -> int:
        if self.at >= len(self.data):
            raise RansError("rANS: stream cut short")
        self.at += 1
        return self.data[self.at - 1]

    def take(self, n: int) -> bytes:
        if n < 0 or self.at + n > len(self.data):
            raise RansError("rANS: stream cut short")
        self.at += n
        return self.data[self.at - n: self.at]

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "little")

    def uint7(self) -> int:
        """CRAM 3.1's variable-length integer: 7 bits a byte, most significant first, high bit: more."""
        value = 0
        for _ in range(5):
            c = self.byte()
            value = value << 7 | c & 0x7F
            if not c & 0x80:
                return value
        raise RansError("rANS: integer too long")


def _symbols_after(r: _Reader, each) -> None:
    """The run-length coded symbol list both coders use: a symbol, then (when the next is one more) a
    count of the ones after it, ended by symbol 0; ``each(symbol)`` is called for each, in order (rANS
    4x8 reads a symbol's frequency there, before the next symbol)."""
    sym = r.byte()
    last = sym
    run = 0
    while True:
        each(sym)
        if run:
            run -= 1
            sym += 1
            if sym > 255:
                raise RansError("rANS: symbol run past 255")
        else:
            sym = r.byte()
            if last < 255 and sym == last + 1:
                run = r.byte()
        last = sym
        if sym == 0:
            return


# ---------------------------------------------------------------------------------------------- 4x8

def _freqs_4x8(r: _Reader) -> list[int]:
    freqs = [0] * 256

    def one(sym: int) -> None:
        f = r.byte()
        if f >= 0x80:
            f = (f & 0x7F) << 8 | r.byte()
        freqs[sym] = f

    _symbols_after(r, one)
    return freqs


def rans4x8(data: bytes, cap: int, tables: Tables | None = None) -> bytes:
    """A rANS 4x8 stream (order byte, compressed and raw sizes, then the order's tables and states)."""
    r = _Reader(data)
    order = r.byte()
    r.u32()                     # its compressed size: the block's size says it
    size = r.u32()
    if size > cap:
        raise RansError("rANS: output past the budget")
    r.tables = tables
    if order == 0:
        return _o0_4x8(r, size)
    if order == 1:
        return _o1_4x8(r, size)
    raise RansError("rANS 4x8: no such order")


def _o0_4x8(r: _Reader, size: int) -> bytes:
    freqs = _freqs_4x8(r)
    states = [r.u32() for _ in range(4)]
    return _symbols(r, size, states, {0: freqs}, TOTFREQ_BITS, order1=False, wide=False)


def _o1_4x8(r: _Reader, size: int) -> bytes:
    contexts: dict[int, list[int]] = {}

    def context(i: int) -> None:
        contexts[i] = _freqs_4x8(r)

    _symbols_after(r, context)
    states = [r.u32() for _ in range(4)]
    return _symbols(r, size, states, contexts, TOTFREQ_BITS, order1=True, wide=False)


def _symbols(r: _Reader, size: int, states: list[int], contexts: dict[int, list[int]], bits: int,
             order1: bool, wide: bool) -> bytes:
    """The symbol loop (``_kernels.rans_symbols``) over each context's frequencies (order 0: one, 0): their
    cumulative sums and the symbol of each of the ``1 << bits`` slots made at once, a row for each context
    there is (a slot past a table's total reads as symbol 0, as htslib's does); refused past ``1 << bits``."""
    if r.tables is not None:
        r.tables.left -= len(contexts)
        if r.tables.left < 0:
            raise RansError("rANS: frequency tables past the bound")
    rows = np.full(256 if order1 else 1, -1, dtype=np.int16)
    rows[np.fromiter(contexts, dtype=np.intp, count=len(contexts))] = np.arange(len(contexts))
    if not contexts or max(max(f) for f in contexts.values()) > 1 << bits:
        raise RansError("rANS: frequencies do not add up")
    freq = np.array(list(contexts.values()), dtype=np.uint32).reshape(len(contexts), 256)
    totals = freq.sum(axis=1)
    if totals.max() > 1 << bits or totals.min() == 0:
        raise RansError("rANS: frequencies do not add up")
    cum = np.cumsum(freq, axis=1, dtype=np.uint32) - freq
    lookup = np.zeros((len(contexts), 1 << bits), dtype=np.uint8)
    lookup[np.arange(1 << bits)[None, :] < totals[:, None]] = np.repeat(
        np.tile(np.arange(256, dtype=np.uint8), len(contexts)), freq.ravel())
    out = bytearray(size)
    at = _kernels.rans_symbols(r.data, r.at, out, np.array(states, dtype=np.uint32), freq.ravel(), cum.ravel(),
                               lookup.ravel(), rows, bits, order1, wide)
    if at < 0:
        raise RansError("rANS: stream cut short, or a symbol with no table")
    r.at = at
    return bytes(out)


# --------------------------------------------------------------------------------------------- Nx16

def ransnx16(data: bytes, size: int, cap: int, tables: Tables | None = None) -> bytes:
    """A rANS Nx16 stream; ``size``: what it makes when it does not say (a CRAM block's raw size)."""
    r = _Reader(data)
    r.tables = tables
    return _nx16(r, size, cap, 0)


def _nx16(r: _Reader, size: int, cap: int, depth: int) -> bytes:
    flags = r.byte()
    if not flags & NOSZ:
        size = r.uint7()
    if size > cap:
        raise RansError("rANS: output past the budget")
    n = 32 if flags & N32 else 4
    if flags & STRIPE:
        return _stripes(r, size, cap, depth)
    pack_size = size
    if flags & PACK:
        symbols = r.take(r.byte())
        size = r.uint7()
        if not symbols or len(symbols) > 16 or size > pack_size:
            raise RansError("rANS: packing of no symbols")
    rle_size = size
    if flags & RLE:
        runs, meta, size = _rle_meta(r, n)
        if size > rle_size:
            raise RansError("rANS: runs longer than their output")
    if flags & CAT:
        out = r.take(size)
    elif flags & ORDER:
        out = _o1_nx16(r, size, n)
    else:
        out = _o0_nx16(r, size, n)
    if flags & RLE:
        out = _unrun(out, runs, meta, rle_size)
    if flags & PACK:
        out = _unpack(out, symbols, pack_size)
    return out


def _freqs_nx16(r: _Reader, bits: int) -> list[int]:
    """Order 0's table: its alphabet, then each symbol's frequency, doubled up to ``1 << bits``."""
    freqs = [0] * 256
    alphabet: list[int] = []
    _symbols_after(r, alphabet.append)
    for s in alphabet:
        freqs[s] = r.uint7()
    return _normalised(freqs, bits)


def _normalised(freqs: list[int], bits: int) -> list[int]:
    """Frequencies written small, doubled up to ``1 << bits`` (their sum a power of two)."""
    total = sum(freqs)
    if not total:
        raise RansError("rANS: no frequencies")
    shift = 0
    while total < 1 << bits:
        total <<= 1
        shift += 1
    return [f << shift for f in freqs] if shift else freqs


def _o0_nx16(r: _Reader, size: int, n: int) -> bytes:
    freqs = _freqs_nx16(r, TOTFREQ_BITS)
    states = [r.u32() for _ in range(n)]
    return _symbols(r, size, states, {0: freqs}, TOTFREQ_BITS, order1=False, wide=True)


def _o1_nx16(r: _Reader, size: int, n: int) -> bytes:
    comp = r.byte()
    bits = comp >> 4
    if not 1 <= bits <= TOTFREQ_BITS:
        raise RansError("rANS: no such table width")
    tables = r
    if comp & 1:
        plain = r.uint7()
        packed = r.take(r.uint7())
        if plain > 1 << 20:
            raise RansError("rANS: tables too large")
        tables = _Reader(_o0_nx16(_Reader(packed, tables=r.tables), plain, 4))
    alphabet: list[int] = []
    _symbols_after(tables, alphabet.append)
    contexts = {}
    for i in alphabet:
        freqs = [0] * 256
        run = 0
        for j in alphabet:
            if run:
                run -= 1
                continue
            f = tables.uint7()
            freqs[j] = f
            if not f:
                run = tables.byte()
        if sum(freqs):
            contexts[i] = _normalised(freqs, bits)
    states = [r.u32() for _ in range(n)]
    return _symbols(r, size, states, contexts, bits, order1=True, wide=True)


def _stripes(r: _Reader, size: int, cap: int, depth: int) -> bytes:
    """STRIPE: byte j of every ``x`` in a stream of its own (each one's size told by the whole's)."""
    if depth >= MAX_DEPTH:
        raise RansError("rANS: stripes nested too deep")
    x = r.byte()
    if not x:
        raise RansError("rANS: no stripes")
    lengths = [r.uint7() for _ in range(x)]
    out = bytearray(size)
    for j in range(x):
        part = size // x + (1 if size % x > j else 0)
        sub = _Reader(r.take(lengths[j]), tables=r.tables)
        got = _nx16(sub, part, cap, depth + 1)
        if len(got) != part:
            raise RansError("rANS: a stripe of another size")
        out[j::x] = got
    return bytes(out)


def _rle_meta(r: _Reader, n: int) -> tuple[set[int], _Reader, int]:
    meta_size = r.uint7()
    size = r.uint7()
    if meta_size & 1:
        meta = _Reader(r.take(meta_size // 2))
    else:
        packed = r.take(r.uint7())
        meta = _Reader(_o0_nx16(_Reader(packed, tables=r.tables), meta_size // 2, n))
    count = meta.byte() or 256
    runs = {meta.byte() for _ in range(count)}
    return runs, meta, size


def _unrun(data: bytes, runs: set[int], meta: _Reader, size: int) -> bytes:
    out = bytearray()
    for s in data:
        if s in runs:
            count = meta.uint7() + 1
            if len(out) + count > size:
                raise RansError("rANS: a run past its output")
            out += bytes([s]) * count
        else:
            out.append(s)
        if len(out) >= size:
            break
    if len(out) != size:
        raise RansError("rANS: runs short of their output")
    return bytes(out)


def _unpack(data: bytes, symbols: bytes, size: int) -> bytes:
    """PACK: 8, 4 or 2 codes a byte (the lowest bits first) for 2, 4 or 16 symbols; one symbol repeated."""
    if len(symbols) == 1:
        return symbols * size
    per = 8 if len(symbols) <= 2 else 4 if len(symbols) <= 4 else 2
    width = 8 // per
    if len(data) * per < size:
        raise RansError("rANS: packed bytes short of their output")
    codes = np.frombuffer(data[: -(-size // per)], dtype=np.uint8)[:, None] >> np.arange(0, 8, width, dtype=np.uint8)
    table = np.zeros(1 << width, dtype=np.uint8)      # a code past the symbols reads as zero
    table[: len(symbols)] = np.frombuffer(symbols, dtype=np.uint8)
    return table[(codes & ((1 << width) - 1)).reshape(-1)[:size]].tobytes()

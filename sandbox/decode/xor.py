"""Repeating-key XOR: text XOR-ed with a key of 2 to 4,096 bytes, undone (label "xor (N-byte key)").

An instrument hides text from every decoder at no cost by XOR-ing it with a short key.  One byte of
key leaves four other symbols for the same bases, which the correlator reads as it is
(``recoded_kmers``); a longer key is another substitution at each position, and no k-mer survives.

Found: a byte agrees with the byte one key length on as often as the text's bytes do (text 6 % and
more, reads 25 %), since both were XOR-ed with the same key byte, and elsewhere about as often as
random bytes (1/256): ``_kernels.lag_matches`` counts the agreement at every lag up to MAX_KEY in the
view's first SAMPLE bytes.  Text agrees with itself at every lag, random or compressed bytes at none.
Undone: each key position's byte histogram is the text's XOR-ed with that position's key byte, so its
XOR-correlation with the first position's (a Walsh-Hadamard transform of 256) peaks at the difference
of the two key bytes, and once more against all positions aligned; what is left is the text XOR-ed
with one byte, the one that makes it most like the text a run holds (``_TEXTLIKE``).  The result is
handed on only if it is text, more like text than the view was, and not a few values over and over
(periodic text and streams of identical blocks fit a key length too).  Linear in the view; the output
is as large as the input (the step's budget).

Longer keys: reads XOR-ed with a key of 100, 300 or 1,000 bytes replayed clean (weighed as ciphertext
sent to an allowed place).  A view that looks random (LONG_MIN_DISTINCT values in its first 256 bytes)
and opens with no compressor's magic is looked at once more, its agreement counted at every lag up to
MAX_LONG_KEY on SCREEN_PAIRS pairs of bytes each (0.14 ms) and, where a lag stands out, on LONG_PAIRS
(0.3 ms), and a key's length judged as a short one's;
it is undone as a short key is, on MIN_PER_POSITION bytes a position at least.

Out of reach: keys longer than 4,096 bytes (or than a 32nd of the view), a key over compressed data
(it stays as random as the data), and keys most of whose bytes are equal (zeros but one: the text
agrees with itself at other lags too, so the key's length does not stand out).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sandbox.decode.base import Budget, Decoder
from sandbox.decode.cab import MAGIC as CAB_MAGIC
from sandbox.decode.codec import BZ2_MAGIC, GZIP_MAGIC, LZ4_MAGIC, XZ_MAGIC, ZSTD_MAGIC
from sandbox.decode.magic import ZIP_LOCAL
from sandbox.decode.png import SIGNATURE as PNG_SIGNATURE
from sandbox.decode.sevenzip import MAGIC as SEVENZIP_MAGIC
from sandbox.index import _kernels

MIN_VIEW = 512            # bytes: a few reads; shorter views give each key position too few bytes
SAMPLE = 2048             # bytes whose agreement at each lag finds the key length
MAX_KEY = 64
MIN_PER_POSITION = 32     # bytes of the sample each position of a key needs (so shorter views, shorter keys)
# Shares of bytes agreeing with the byte a lag on, measured on FASTQ, SAM and VCF under random keys of
# 2 to 64 bytes: at multiples of the key length 0.016 and more on average (VCF's digits agree least;
# FASTQ 0.15), at the other lags 0.004 (99 % under 0.01; keys of bytes under 0x20, which keep text
# printable, 0.02, 98 % under 0.03); text agrees 0.05 and more at every lag (an array of JSON records
# of one length 0.05 beside 0.6 at the record's length, prose 0.07, fixed-width lines 0.1), random
# bytes 0.004 (one lag of 2,000 bytes: 8 sd under 0.015).
MIN_SHARE = 0.015         # at the key length's multiples, on average
MIN_EVERY = 0.006         # at each of them
MIN_MATCHES = 24          # agreements at the multiples in all (random bytes: 2 at one lag of a short view)
MAX_ELSEWHERE = 0.06      # at the other lags, on average
MIN_CONTRAST = 3.0        # between the two
MAX_TRIED = 8             # key lengths tried on a view
# Longer keys (see the module docstring): views of LONG_MIN_VIEW bytes or more whose first 256 hold
# LONG_MIN_DISTINCT values (text under a long key 147 to 162, under a short one fewer; text under 100),
# their agreement at every lag up to MAX_LONG_KEY counted on LONG_PAIRS pairs of bytes
LONG_MIN_VIEW = 8192
LONG_MIN_DISTINCT = 128
LONG_PAIRS = 4096
MAX_LONG_KEY = 4096
# ... after a first look on SCREEN_PAIRS pairs: a lag past MAX_KEY agrees SCREEN_MATCHES times at least
# (random bytes 8 on average at a lag, 24 at one of 4,000 lags in 1.5 % of views; FASTQ under a key
# ~300 at its length's multiples, VCF ~33)
SCREEN_PAIRS = 2048
SCREEN_MATCHES = 24
# Compressed and archived data look random and hold no text under a key: not looked at for a long one
_COMPRESSED = (GZIP_MAGIC[:2], ZSTD_MAGIC, BZ2_MAGIC, XZ_MAGIC[:5], LZ4_MAGIC, ZIP_LOCAL, SEVENZIP_MAGIC[:4],
               PNG_SIGNATURE[:4], b"\xff\xd8\xff", CAB_MAGIC[:4])     # (JPEG's has no decoder)
HISTOGRAM_BYTES = 1 << 18  # bytes whose histograms align the key positions
MIN_PRINTABLE = 0.97      # share of the result that must be text for it to be handed on
# The chance that two bytes of a key position, or of the result, are the same: text's is 0.05 to 0.3
# (FASTA's four bases 0.25), a position of two values half and half has 0.5.
MAX_SAME = 0.4
MIN_DISTINCT = 3          # byte values each key position shows at least
MIN_GAIN = 0.45          # text-likeness (``_TEXTLIKE``) a byte the result gains over the view, on average
_PRINTABLE = np.zeros(256)
_PRINTABLE[[9, 10, 13, *range(32, 127)]] = 1.0
# How likely each byte is in the text a run holds (log weights), to choose the last key byte: text
# XOR-ed with 3, 0x0C or 0x74 is as printable as the text ("ACGT" as "B@DW", "MOKX" or "573 ", tabs and
# line feeds swapped, or line feeds as control bytes).  Bases first; line feeds and tabs (tabs more:
# tab-separated text has more of them than line feeds, and swapped it would win); letters, digits
# and spaces; the punctuation of run files (quality strings, sample sheets); other punctuation;
# control bytes least.  Measured on FASTQ (NovaSeq's binned and MiSeq's full qualities), FASTA, SAM,
# VCF, a sample sheet, JSON and a log: the text wins by 0.09 to 0.67 a byte over the next best.
_TEXTLIKE = np.full(256, -9.0)
_TEXTLIKE[128:] = -6.0
_TEXTLIKE[range(33, 127)] = -2.0
_TEXTLIKE[13] = -3.0
_TEXTLIKE[list(b":,._-=/+@#;|")] = -1.5
_TEXTLIKE[[32, *range(48, 58), *range(65, 91), *range(97, 123)]] = -1.0
_TEXTLIKE[list(b"ACGTN")] = 0.0
_TEXTLIKE[10], _TEXTLIKE[9] = 2.0, 3.0


def key_lengths(data: bytes) -> list[int]:
    """The lengths of a repeating key the view's first bytes fit, shortest first (none: no key, or a
    single byte).  A multiple of the key's length fits too; so may a divisor of it, where two key
    bytes that far apart differ as two common bytes of the text do (":" and "," of quality strings):
    undoing tells them apart (``unkeyed`` takes the one whose result is most like text)."""
    n = min(len(data), SAMPLE + MAX_KEY)
    lags = min(MAX_KEY, n // MIN_PER_POSITION)
    if len(data) < MIN_VIEW or lags < 2:
        return []
    counts = np.empty(lags, dtype=np.int64)
    _kernels.lag_matches(data if len(data) == n else data[:n], counts)
    fits = np.empty(MAX_TRIED, dtype=np.int64)
    found = _kernels.key_fits(counts, n - lags, MIN_SHARE, MIN_EVERY, MIN_MATCHES, MAX_ELSEWHERE, MIN_CONTRAST, fits)
    return fits[:found].tolist() or long_key_length(data)


def long_key_length(data: bytes) -> list[int]:
    """The lengths of a key of more than MAX_KEY bytes the view fits (see the module docstring), or none."""
    if len(data) < LONG_MIN_VIEW or len(set(data[:256])) < LONG_MIN_DISTINCT or data.startswith(_COMPRESSED):
        return []
    lags = min(MAX_LONG_KEY, len(data) // MIN_PER_POSITION, len(data) - LONG_PAIRS)
    if lags <= MAX_KEY:
        return []
    counts = np.empty(lags, dtype=np.int64)
    _kernels.lag_matches(data[:lags + SCREEN_PAIRS], counts)    # a first look on fewer pairs
    if int(counts[MAX_KEY:].max()) < SCREEN_MATCHES:
        return []
    _kernels.lag_matches(data[:lags + LONG_PAIRS], counts)
    fits = np.empty(MAX_TRIED, dtype=np.int64)
    found = _kernels.key_fits(counts, LONG_PAIRS, MIN_SHARE, MIN_EVERY, MIN_MATCHES, MAX_ELSEWHERE, MIN_CONTRAST, fits)
    lengths = [length for length in fits[:found].tolist() if length > MAX_KEY]
    if not lengths:
        return []
    # a multiple of the key's length fits where the text's own lines agree little at one of the key's
    # (SAM's bases against their qualities): its divisors are tried too (``unkeyed`` takes the shortest
    # that undoes it as well)
    first = lengths[0]
    return sorted({*lengths, *(d for d in range(MAX_KEY + 1, first // 2 + 1) if first % d == 0)})


_H16 = np.array([[(-1.0) ** bin(i & j).count("1") for j in range(16)] for i in range(16)])


def _wht(rows: np.ndarray) -> np.ndarray:
    """The Walsh-Hadamard transform of each row of 256 (unnormalised), XOR-correlation made a product:
    the 256 transform is the 16 one on each half byte, two small matrix products."""
    square = rows.astype(np.float64).reshape(len(rows), 16, 16)
    return (_H16 @ square @ _H16).reshape(len(rows), 256)


def xor_correlation(reference: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """c[j, d] = sum over x of reference[x] * rows[j, x ^ d] (times 256)."""
    return _wht(_wht(reference[None, :]) * _wht(rows))


def key_for(sample: np.ndarray, length: int) -> tuple[np.ndarray, float] | None:
    """The key of ``length`` bytes that turns ``sample`` into the most text-like bytes, and how
    text-like they are (``_TEXTLIKE`` a byte); None if the result is not text."""
    positions = np.arange(len(sample)) % length
    hist = np.bincount(positions * 256 + sample, minlength=length * 256).reshape(length, 256)
    share = hist / hist.sum(axis=1, keepdims=True)
    if np.count_nonzero(hist, axis=1).min() < MIN_DISTINCT or float((share * share).sum(axis=1).mean()) > MAX_SAME:
        # positions holding one value, or two: a column or padding (UTF-16's zeros), a stream of
        # identical blocks in two phases (compressed zeros), not text under a key
        return None
    shifts = xor_correlation(hist[0].astype(np.float64), hist).argmax(axis=1)   # key[j] ^ key[0]
    shifts[0] = 0
    # once more, each position against all of them aligned (the text's own histogram, as likelihoods:
    # sharper than the first position's counts, which a short view gives few of)
    pooled = np.bincount(sample ^ shifts[positions].astype(np.uint8), minlength=256)
    shifts = xor_correlation(np.log(pooled + 0.5), hist).argmax(axis=1)
    shifts ^= shifts[0]
    shifted = np.bincount(sample ^ shifts[positions].astype(np.uint8), minlength=256)
    textlike = xor_correlation(_TEXTLIKE, shifted[None, :])[0] / 256
    last = int(textlike.argmax())
    # text, and more like text than the view was: periodic text (base64 of repetitive data) fits a key
    # length too, and undoing it makes nothing more readable; and not a few bytes over and over (a stream
    # of identical blocks has one value at each position, which "undone" is a run of tabs)
    if (float(shifted @ _PRINTABLE[np.arange(256) ^ last]) < MIN_PRINTABLE * len(sample)
            or textlike[last] < float(hist.sum(axis=0) @ _TEXTLIKE) + MIN_GAIN * len(sample)
            or float(shifted @ shifted) > MAX_SAME * len(sample) ** 2):
        return None
    if not shifts.any():
        return None       # one byte over every position: a single-byte key, which the correlator reads through
    return (shifts ^ last).astype(np.uint8), float(textlike[last]) / len(sample)


def xored(data: bytes, key: bytes | np.ndarray) -> bytes:
    """``data`` XOR-ed with ``key`` repeated over it (a repeating key's undoing is its doing)."""
    a = np.frombuffer(data, dtype=np.uint8)
    return (a ^ np.resize(np.frombuffer(key, np.uint8) if isinstance(key, bytes) else key, len(a))).tobytes()


def unkeyed(data: bytes, lengths: list[int]) -> tuple[int, bytes] | None:
    """``data`` with the repeating key undone that makes it most like text, of the ``lengths`` tried
    (the shortest of equals: a multiple of the key's length undoes it as well), and that length."""
    a = np.frombuffer(data, dtype=np.uint8)
    sample = a[:HISTOGRAM_BYTES]
    best: tuple[float, int, np.ndarray] | None = None
    for length in lengths:
        found = key_for(sample, length)
        if found is not None and (best is None or found[1] > best[0] + 1e-9):
            best = found[1], length, found[0]
    if best is None:
        return None
    _, length, key = best
    return length, xored(data, key)


class XorDecoder(Decoder):
    name = "xor"
    unstructured = True
    reapply = False      # the result of undoing one key holds no second one worth the search

    @staticmethod
    def sniff(data: bytes) -> bool:
        return bool(key_lengths(data))

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        lengths = key_lengths(data)
        if lengths and len(data) > budget.remaining:
            budget.exhausted(left=len(data))
            return
        found = unkeyed(data, lengths) if lengths else None
        if found is not None:
            yield f"xor ({found[0]}-byte key)", found[1]

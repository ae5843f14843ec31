"""DNA evidence in a view: which read-sized windows of its ACGT runs are made of the run's k-mers.

A window counts when enough of its distinct k-mers are in the run (exact index: >= MIN_KMERS and
>= MIN_SHARE of them; sampled index: >= SCALED_MIN_KMERS sampled ones).  Two tilings half a window
apart make sure a read anywhere in a long run lies mostly inside one window.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from sandbox.index import _kernels
from sandbox.index.kmers import (
    ADAPTER_KMERS,
    SYMBOL_MODES,
    DnaRuns,
    K,
    _low_entropy_table,
    canonical,
    canonical_at,
    dna_runs,
    kmer_hash,
    patterns,
    sorted_unique,
    symbol_runs,
    two_bit_forms,
    two_bit_runs,
)
from sandbox.index.kmerset import max_hash
from sandbox.index.runindex import SCALED_MIN_KMERS, RunIndex

WINDOW = 200  # k-mer starts per window: one short read (150 bp -> 120 k-mers) and some slack
MIN_KMERS = 20  # distinct matching k-mers a window needs: a 50-base stretch of one read
MIN_SHARE = 0.3  # of the window's informative k-mers: unrelated sequence sharing a few stays out
# Every this many k-mers one is looked up first: any 8 consecutive ones hold a probe, so a read's
# exact 38-base stretch (8 k-mers; MIN_KMERS needs 50 bases) always gets every k-mer looked up.
PROBE_STRIDE = 8
# Every this many k-mers one is asked in its reading-blind form (``recoded_kmers``): a 50-base stretch
# (MIN_KMERS k-mers) of a read written otherwise always holds one.  ACGT letters (most DNA sent is
# not the run's, and each ask is a table miss) are asked half as often: one 70-base stretch of a
# complemented or permuted read holds one, and one found reads the whole view every way.
FORM_STRIDE = 20
FORM_STRIDE_LETTERS = 40


@dataclass
class ViewKmers:
    """The canonical k-mers of one view's DNA runs (positions in the runs' joined buffer)."""

    kmers: np.ndarray
    runs: DnaRuns
    _starts: np.ndarray | None = field(default=None, repr=False)

    @property
    def starts(self) -> np.ndarray:
        """Offset of each k-mer in ``runs.joined``: computed only for a view with hits (most DNA
        sent is not the run's, and then the offsets are never needed)."""
        if self._starts is None:
            self._starts = canonical(self.runs.joined, K)[1]
        return self._starts


def view_kmers(data: bytes) -> ViewKmers | None:
    runs = dna_runs(data, K)
    if not len(runs):
        return None
    return _kmers_of(runs)


def _kmers_of(runs: DnaRuns) -> ViewKmers | None:
    kmers, _ = canonical(runs.joined, K, starts=False)
    if not len(kmers):
        return None
    return ViewKmers(kmers, runs)


# Bases packed four to a byte (two bits each): every byte is four such symbols, so a view is read so
# only where a probe finds the run's bases in it: its first PACKED_PROBE bytes (about two reads) and
# as many in every PACKED_BLOCK after them, at an offset drawn per block from a seed the instrument
# cannot know (reads hidden between fixed probes would be missed), in both bit orders, every
# PACKED_STRIDE-th k-mer's form asked (every PACKED_SAMPLED_STRIDE-th of a sampled index, which holds
# a share of them), in one compiled pass.  Only
# views with PACKED_MIN_HIGH of their first PACKED_HEAD bytes at 0x80 or more are probed (a packed
# base is G or T half the time there; text never is).
TWO_BIT_MODES = {"two-bit codes, high bits first": True, "two-bit codes, low bits first": False}
PACKED_PROBE = 64
PACKED_BLOCK = 8192
PACKED_STRIDE = 40    # three asks inside every 150-base read
PACKED_SAMPLED_STRIDE = 4
PACKED_HEAD = 4096
PACKED_MIN_HIGH = 0.2
PACKED_MIN = 16     # bytes: 64 bases, a window's MIN_KMERS
_SEED = secrets.randbits(63)   # per process: where the probes fall is not the instrument's to know
_MIX = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1


@functools.lru_cache(maxsize=1024)   # views of one size come again and again (body pieces, segments)
def _drawn(n: int) -> int:
    """The ``n``-th number drawn from the process's seed."""
    return (((n + _SEED) * _MIX) & _MASK) >> 33


def _probe_spans(size: int) -> tuple[tuple[int, int], ...]:
    """Where a view of ``size`` bytes is probed for packed bases: its start, and one span in every
    PACKED_BLOCK at an offset of this process's drawing (all of a view of two spans or less)."""
    if size <= 2 * PACKED_PROBE:
        return ((0, size),)
    spans = [(0, PACKED_PROBE)]
    blocks = max(1, size // PACKED_BLOCK)
    for b in range(blocks):
        low = b * PACKED_BLOCK
        room = (size if b == blocks - 1 else low + PACKED_BLOCK) - low - PACKED_PROBE + 1
        at = low + _drawn(b) % room
        spans.append((at, at + PACKED_PROBE))
    return tuple(spans)


def _probe_sample(data: bytes) -> bytes:
    """The bytes of ``data``'s probe spans, joined (all of a view of one span)."""
    spans = _probe_spans(len(data))
    return data if len(spans) == 1 else b"".join(data[a:b] for a, b in spans)


def _packed_in(data: bytes, indexes: Sequence[RunIndex]) -> bool:
    """Whether a probe of ``data`` finds some index's bases packed two bits each in it."""
    if not _maybe_packed(data):
        return False
    sample = _probe_sample(data)
    forms: dict[int, np.ndarray] = {}
    for ix in indexes:
        if len(ix.km):
            stride = PACKED_SAMPLED_STRIDE if ix.km_scale > 1 else PACKED_STRIDE
            if stride not in forms:
                forms[stride] = two_bit_forms(sample, stride)
            if ix.lookup_patterns(forms[stride]).any():
                return True
    return False


_HIGH = bytes(range(0x80, 0x100))


def _maybe_packed(data: bytes) -> bool:
    if len(data) < PACKED_MIN:
        return False
    head = data[:PACKED_HEAD]
    return len(head) - len(head.translate(None, _HIGH)) >= PACKED_MIN_HIGH * len(head)


# Letter runs whose k-mers are not the run's as they are may be bases written twice or three times each
# ("AACCGG"): told by the first REPEATS_SAMPLE letters (REPEATS_SAME of the groups one letter, their
# neighbours as different as bases are), then every second or third letter of each run is read.
STRIDES = (2, 3)
STRIDE_NAMES = {2: "second", 3: "third"}
ORDINALS = ("first", "second", "third")
SAMPLED_RUNS = 8         # letter runs a reading every second or third letter is tried on first
SAMPLED_RUN_MAX = 512    # letters of each
REPEATS_SAMPLE = 512
REPEATS_SAME = 0.9
REPEATS_NEIGHBOURS = 0.6
# Bases among other bytes: a view whose probe spans (``_probe_spans``) are text, at least SCATTERED_MIN_SHARE
# capital A/C/G/T (three of them at least), most not next to another, and not all of base64's or hex's alphabet unless
# far denser in those four letters than those encodings make them (one in 16 or 64), has its capital
# A, C, G, T outside its letter runs read as one run.
SCATTERED_MIN = 64            # letters: a window's MIN_KMERS and more
SCATTERED_MIN_SHARE = 0.015
SCATTERED_DENSE_SHARE = 0.2
SCATTERED_MIN_TEXT = 0.95
SCATTERED_MAX_NEXT = 0.5      # of them followed by another: scattered, not in runs
_CAPITAL_BASES = b"ACGT"
_NOT_CAPITAL_BASES = bytes(b for b in range(256) if b not in _CAPITAL_BASES)
_IS_CAPITAL_BASE = np.zeros(256, dtype=bool)
_IS_CAPITAL_BASE[list(_CAPITAL_BASES)] = True
_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\t\r\n"
_ENCODING_ALPHABET = bytes(range(0x30, 0x3A)) + bytes(range(0x41, 0x5B)) + bytes(range(0x61, 0x7B)) + b"+/=-_\r\n"


def _found_as_read(letters: ViewKmers, indexes: Sequence[RunIndex]) -> bool:
    """Whether every FORM_STRIDE_LETTERS-th k-mer of the letters finds some index's k-mers as it is
    (reads sent as reads: read every other way only where they are not)."""
    sampled = letters.kmers[::FORM_STRIDE_LETTERS]
    return any(len(ix.km) and ix.lookup_kmers(sampled)[0].any() for ix in indexes)


def _run_positions(runs: DnaRuns, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For the first ``n`` places of ``runs.joined``: each one's place in its run, and its run's length
    (a run's N separator sits at its length)."""
    within = int(np.searchsorted(runs.starts, n))       # the runs that start in those places
    reps = np.minimum(runs.lengths[:within] + 1, n)
    rel = np.arange(n) - np.repeat(runs.starts[:within], reps)[:n]
    return rel, np.repeat(runs.lengths[:within], reps)[:n]


def _repeated_stride(runs: DnaRuns) -> int:
    """2 or 3 where the letter runs are bases written that many times each, else 0."""
    n = min(len(runs.joined), REPEATS_SAMPLE)
    joined = runs.joined[:n]
    rel, lengths = _run_positions(runs, n)
    for stride in STRIDES:
        groups = np.flatnonzero((rel % stride == 0) & (rel + stride < lengths))   # a group and one letter after
        groups = groups[groups + stride < n]
        if len(groups) < K:
            continue
        same = np.ones(len(groups), dtype=bool)
        for step in range(1, stride):
            same &= joined[groups] == joined[groups + step]
        if same.mean() >= REPEATS_SAME and (joined[groups] == joined[groups + stride]).mean() <= REPEATS_NEIGHBOURS:
            return stride
    return 0


def _woven_samples(runs: DnaRuns) -> Iterator[tuple[int, int, DnaRuns]]:
    """Every second and every third letter from each start (stride, first, the letters as runs) of
    SAMPLED_RUNS of the runs, SAMPLED_RUN_MAX letters of each at most, drawn from a seed the instrument
    cannot know (a reading of all of them is tried only where it finds the run in these); a window of
    a run starts a multiple of six letters into it (every second or third letter from a given one is
    the same letters in the window as in the run)."""
    picked = range(len(runs)) if len(runs) <= SAMPLED_RUNS else \
        sorted({_drawn(n) % len(runs) for n in range(SAMPLED_RUNS)})
    windows = []
    for run in picked:
        start, length = int(runs.starts[run]), int(runs.lengths[run])
        into = _drawn(run + SAMPLED_RUNS) % (max(length - SAMPLED_RUN_MAX, 0) + 1) // 6 * 6
        windows.append(runs.joined[start + into: start + min(length, into + SAMPLED_RUN_MAX)])
    for stride in STRIDES:
        for first in range(stride):
            parts = [w[first::stride] for w in windows]
            lengths = np.array([len(p) for p in parts], dtype=np.int64)
            starts = np.concatenate(([0], np.cumsum(lengths + 1)[:-1]))
            joined = np.concatenate([x for p in parts for x in (p, _N)])
            yield stride, first, DnaRuns(joined, np.zeros(len(parts), dtype=np.int64), starts, lengths)


def every_nth(runs: DnaRuns, stride: int, first: int = 0) -> DnaRuns:
    """Every ``stride``-th letter of each run from its ``first``, the runs still apart."""
    rel, lengths = _run_positions(runs, len(runs.joined))
    keep = ((rel % stride == first) & (rel < lengths)) | (rel == lengths)     # the run's letters taken, and its N
    taken = np.maximum(runs.lengths - first + stride - 1, 0) // stride
    starts = np.concatenate(([0], np.cumsum(taken + 1)[:-1]))
    ends = runs.offsets + runs.lengths if runs.ends is None else runs.ends
    return DnaRuns(runs.joined[keep].copy(), runs.offsets, starts, taken, ends)


def _scattered_share(data: bytes) -> float:
    """The share of capital A, C, G, T in the probe spans of ``data`` where they are text with those
    letters scattered in it, not an encoding's alphabet (where they are one letter in 16 or 64); else 0."""
    sample = _probe_sample(data)
    if len(sample.translate(None, _PRINTABLE)) > (1 - SCATTERED_MIN_TEXT) * len(sample):
        return 0.0
    capitals = np.frombuffer(sample, dtype=np.uint8)
    capitals = _IS_CAPITAL_BASE[capitals]
    share = capitals.mean() if len(capitals) else 0.0
    if share < SCATTERED_MIN_SHARE or (capitals[1:] & capitals[:-1]).sum() > SCATTERED_MAX_NEXT * capitals.sum() \
            or len(set(sample.translate(None, _NOT_CAPITAL_BASES))) < 3:
        return 0.0      # too few, mostly in runs of them (DNA text: read as runs), or one or two letters (prose's)
    return share if share >= SCATTERED_DENSE_SHARE or sample.translate(None, _ENCODING_ALPHABET) else 0.0


def scattered_bases(data: bytes, runs: DnaRuns | None) -> DnaRuns | None:
    """The capital letters A, C, G, T of ``data`` outside its letter runs, as one run (a base per JSON
    object or CSV row, a quality letter after each base): None where the probe finds too few of them,
    or most of them in the letter runs (reads as reads: ``view_kmers`` reads those)."""
    if len(data) < SCATTERED_MIN:
        return None
    share = _scattered_share(data)
    in_runs = int(runs.lengths.sum()) if runs is not None else 0
    if not share or in_runs >= share * len(data) / 2:
        return None
    if not in_runs:
        joined = data.translate(None, _NOT_CAPITAL_BASES)
    else:
        cuts = [0, *np.column_stack((runs.offsets, runs.ends if runs.ends is not None else
                                     runs.offsets + runs.lengths)).ravel().tolist(), len(data)]
        joined = b"".join(data[a:b].translate(None, _NOT_CAPITAL_BASES) for a, b in zip(cuts[::2], cuts[1::2],
                                                                                         strict=True))
    if len(joined) < SCATTERED_MIN:
        return None
    return _one_run(np.frombuffer(joined, dtype=np.uint8), len(data))


def _one_run(letters: np.ndarray, size: int) -> DnaRuns:
    """``letters`` gathered from a view of ``size`` bytes, as one run spanning it."""
    zero = np.zeros(1, dtype=np.int64)
    return DnaRuns(letters, zero, zero.copy(), np.array([len(letters)], dtype=np.int64),
                   np.array([size], dtype=np.int64))


# Reads sent in pieces shorter than a k-mer, each behind its read's number and offset ("12,48,ACGT..."),
# replayed clean: no k-mer in any piece.  Where a probe of the view is BASES_IN_PIECES or more letters
# A, C, G, T (either case), its runs of PIECE_MIN letters or more and shorter than a k-mer are read
# joined in their order (pieces of one read one after another make its k-mers again).  Shorter runs
# are words ("CAT", "GATTACA") and index sequences as often as pieces of reads.
PIECE_MIN = 12
BASES_IN_PIECES = 0.3
# Views this short are judged whole, not by their probe's spans: 64 bytes cut a piece or two at their
# edges, and four spans of an upload of 20 kB of numbered pieces of 28 fell under the share one time in 12.
PIECES_WHOLE = 64 * 1024
_BASE_LETTERS = b"ACGTacgt"
_IS_BASE_LETTER = np.zeros(256, dtype=bool)
_IS_BASE_LETTER[list(_BASE_LETTERS)] = True
_N = np.frombuffer(b"N", dtype=np.uint8)
_UPPER_BASES = np.frombuffer(bytes.maketrans(b"acgt", b"ACGT"), dtype=np.uint8)
MAX_PIECES_ORDERED = 1 << 16     # pieces put in the order of their numbers (a Python pass each)
KEY_NUMBERS = 2                  # the numbers nearest a piece that order it (a read's, the piece's offset)
_NUMBER = re.compile(rb"\d{1,18}")


def short_runs_joined(data: bytes, runs: DnaRuns | None = None) -> Iterator[tuple[str, DnaRuns]]:
    """The runs of PIECE_MIN to K - 1 letters A, C, G, T of ``data`` joined as one run, in capitals:
    in their order, and where numbers stand before or after them (a read's number and the piece's
    offset, a sequence number), in the order of those (pieces sent shuffled); nothing where the probe
    finds few such letters, or most of them are in ``runs`` (the view's runs a k-mer long), or the
    runs hold fewer than SCATTERED_MIN."""
    if len(data) < SCATTERED_MIN:
        return
    sample = data if len(data) <= PIECES_WHOLE else _probe_sample(data)
    bases = len(sample) - len(sample.translate(None, _BASE_LETTERS))
    if bases < BASES_IN_PIECES * len(sample) or \
            (runs is not None and int(runs.lengths.sum()) >= bases / len(sample) * len(data) / 2):
        return
    starts, ends = _pieces(np.frombuffer(sample, dtype=np.uint8))
    if int((ends - starts).sum()) < BASES_IN_PIECES * len(sample):
        return      # the letters are in runs a k-mer long (DNA text: read as runs) or words
    letters = np.frombuffer(data, dtype=np.uint8)
    starts, ends = _pieces(letters)
    if int((ends - starts).sum()) < SCATTERED_MIN:
        return
    yield "runs of letters shorter than a k-mer, joined", _joined_runs(letters, starts, ends, len(data))
    if len(starts) > MAX_PIECES_ORDERED:
        starts, ends = starts[:MAX_PIECES_ORDERED], ends[:MAX_PIECES_ORDERED]
    gaps = [data[a:b] for a, b in zip(np.concatenate(([0], ends[:-1])).tolist(), starts.tolist(), strict=True)]
    gaps.append(data[int(ends[-1]):int(ends[-1]) + 64])
    numbers = [tuple(int(n) for n in _NUMBER.findall(gap)[-KEY_NUMBERS:]) for gap in gaps]
    for where, keys in (("before", numbers[:-1]), ("after", numbers[1:])):
        numbered = [key for key in keys if key]
        if len(numbered) >= len(keys) // 2 and numbered != sorted(numbered):
            order = np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)
            yield (f"runs of letters shorter than a k-mer, in the order of the numbers {where} them",
                   _joined_runs(letters, starts[order], ends[order], len(data)))


def _pieces(letters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the runs of PIECE_MIN to K - 1 letters A, C, G, T start and end."""
    edges = np.flatnonzero(np.diff(_IS_BASE_LETTER[letters].view(np.int8), prepend=0, append=0))
    starts, ends = edges[::2], edges[1::2]
    keep = (ends - starts >= PIECE_MIN) & (ends - starts < K)
    return starts[keep], ends[keep]


def _joined_runs(letters: np.ndarray, starts: np.ndarray, ends: np.ndarray, size: int) -> DnaRuns:
    lengths = ends - starts
    total = int(lengths.sum())
    at = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths) + np.arange(total)
    return _one_run(_UPPER_BASES[letters[at]], size)


# The 24 ways four symbols can stand for A, C, G, T: the symbols of a run, in their sorted order, read
# as each of these (complement and reverse are among them: a k-mer of a reversed read is the reverse
# complement of the complemented read's, and canonical k-mers are strand-blind).
READINGS = tuple("".join(p) for p in itertools.permutations("ACGT"))
_TABLES = {r: np.frombuffer(bytes.maketrans(b"ACGT", r.encode()), dtype=np.uint8) for r in READINGS}


@dataclass(frozen=True)
class Recoding:
    """How a view's bases were read: which symbols (``SYMBOL_MODES``, or "letters" for ACGT read
    otherwise) and which reading of them (their sorted order as these bases)."""

    symbols: str
    reading: str

    def __str__(self) -> str:
        return f"{self.symbols}, in their order read as {self.reading}"


def recoded_kmers(data: bytes, letters: ViewKmers | None,
                  indexes: Sequence[RunIndex]) -> Iterator[tuple[Recoding, ViewKmers, list[int]]]:
    """The view's bases written otherwise, with the indexes worth matching each reading against: its
    ACGT letters read as other bases (complemented, reversed, permuted; ``letters`` is what
    ``view_kmers`` made of them) or one of each group where they come written two or three times
    each, the capital letters A, C, G and T among other bytes (a base per JSON object or CSV
    row, a quality letter after each), runs of four other symbols (RNA's U, digits, byte codes, spaced or
    UTF-16 letters, BAM's half bytes), and bases packed two bits each, each read all 24 ways.  An instrument writes its
    reads so at no cost; the rig pays a reading-blind lookup per FORM_STRIDE k-mers (``patterns``:
    the same form in any symbols), and reads a run every way only where the run has that form."""
    sources: list[tuple[str, DnaRuns, ViewKmers | None, tuple[str, ...]]] = []
    if letters is not None:
        sources.append(("letters", letters.runs, letters, READINGS[1:]))      # as they are: view_kmers
        if not _found_as_read(letters, indexes):
            stride = _repeated_stride(letters.runs)
            if stride:          # bases written twice or three times each: one of each group read
                sources.append((f"letters, every {STRIDE_NAMES[stride]} one", every_nth(letters.runs, stride), None,
                                READINGS))
            else:               # two or three reads interleaved a base at a time: each read apart
                sources += [(f"letters, every {STRIDE_NAMES[stride]} one from the {ORDINALS[first]}",
                             every_nth(letters.runs, stride, first), None, READINGS)
                            for stride, first, sample in _woven_samples(letters.runs)
                            if _Forms(sample, None).found_in_any(indexes)]
    sources += [(symbols, runs, None, READINGS)
                for symbols, runs in short_runs_joined(data, letters.runs if letters is not None else None)]
    scattered = scattered_bases(data, letters.runs if letters is not None else None)
    if scattered is not None:
        sources.append(("capital letters A, C, G, T between other bytes", scattered, None, READINGS))
    high_first = False
    for mode in SYMBOL_MODES:
        if mode == "half bytes, low first" and not high_first:
            continue        # the same half bytes make a run in either order: none there, none here
        runs = symbol_runs(data, mode)
        high_first = high_first or (mode == "half bytes, high first" and bool(len(runs)))
        if len(runs):
            sources.append((mode, runs, None, READINGS))
    if letters is None and _packed_in(data, indexes):   # (a view of DNA letters is text) each order in full
        sources += [(mode, two_bit_runs(data, high_first), None, READINGS) for mode, high_first in TWO_BIT_MODES.items()]
    for symbols, runs, letters_kmers, readings in sources:
        forms = _Forms(runs, letters_kmers)
        which = [i for i, ix in enumerate(indexes) if len(ix.km) and forms.found_in(ix)]
        if not which:
            continue
        for reading in readings:
            recoded = _kmers_of(dataclasses.replace(runs, joined=_TABLES[reading][runs.joined]))
            if recoded is not None:
                yield Recoding(symbols, reading), recoded, which


class _Forms:
    """The reading-blind forms asked of one source's runs, made once for all the indexes: of every
    FORM_STRIDE-th k-mer (packed where it starts: most runs of symbols are no one's bases, and asking
    costs what the asks cost), of every one for a sampled index (which holds only its sampled
    k-mers); of ``letters``, ACGT already read as they are, every FORM_STRIDE_LETTERS-th."""

    def __init__(self, runs: DnaRuns, letters: ViewKmers | None):
        self.runs = runs
        self.letters = letters
        self._asked: dict[bool, tuple[np.ndarray, np.ndarray]] = {}     # sampled? -> (k-mers, forms)

    def asked(self, sampled: bool) -> tuple[np.ndarray, np.ndarray]:
        if sampled not in self._asked:
            if sampled:
                every = self.letters if self.letters is not None else _kmers_of(self.runs)
                kmers = every.kmers if every is not None else np.empty(0, dtype=np.uint64)
            elif self.letters is not None:
                kmers = self.letters.kmers[::FORM_STRIDE_LETTERS]
            else:
                kmers = canonical_at(self.runs.joined, FORM_STRIDE)
            self._asked[sampled] = kmers, patterns(kmers)
        return self._asked[sampled]

    def found_in_any(self, indexes: Sequence[RunIndex]) -> bool:
        return any(len(ix.km) and self.found_in(ix) for ix in indexes)

    def found_in(self, index: RunIndex) -> bool:
        """Whether the run has the form of some k-mer asked (of letters: one that reading them as
        they are did not find)."""
        kmers, forms = self.asked(index.km_scale > 1)
        hit = index.lookup_patterns(forms)
        if self.letters is None or not hit.any():
            return bool(hit.any())
        return not index.lookup_kmers(kmers[hit])[0].all()


@dataclass
class SequenceHit:
    rows: np.ndarray  # rows of index.km confirmed by a hit window
    windows: int  # hit windows (tiling 0 and 1, counted once per read-sized stretch)
    bases: int  # bases of the view covered by confirmed k-mers
    first: int  # start of the first confirmed k-mer in the joined buffer (for evidence)


def _covered(starts: np.ndarray, ends: np.ndarray, n: int) -> np.ndarray:
    """Mask of the n places inside any of the non-empty ranges [starts, ends), both ascending:
    ranges that overlap or touch the one before are merged first, so each place of the mask is
    one step of a byte-wide running sum."""
    new = np.ones(len(starts), dtype=bool)
    new[1:] = starts[1:] > ends[:-1]
    last = np.append(new[1:], True)
    edges = np.zeros(n + 1, dtype=np.int8)
    edges[starts[new]] = 1
    edges[ends[last]] = -1
    return np.cumsum(edges[:n], dtype=np.int8) > 0


def _looked_up(index: RunIndex, vk: ViewKmers) -> tuple[np.ndarray, np.ndarray]:
    """(found, row in ``index.km`` or -1) of the view's k-mers worth a lookup (rows empty when
    no probe was found).

    A sampled index holds only k-mers whose hash is below its threshold: only those are looked up.
    An exact one is probed every PROBE_STRIDE k-mers first; only near a probe that hits (two
    windows either side) is every k-mer looked up, so unrelated sequence costs one lookup in eight.
    """
    n = len(vk.kmers)
    if index.km_scale > 1:
        near = np.flatnonzero(kmer_hash(vk.kmers) <= max_hash(index.km_scale))
    else:
        probes = np.flatnonzero(index.lookup_kmers(vk.kmers[::PROBE_STRIDE])[0]) * PROBE_STRIDE
        if not len(probes):
            return np.zeros(n, dtype=bool), np.empty(0, dtype=np.int64)
        near = np.flatnonzero(_covered(np.maximum(probes - 2 * WINDOW, 0), np.minimum(probes + 2 * WINDOW + 1, n), n))
    found = np.zeros(n, dtype=bool)
    row_of = np.full(n, -1, dtype=np.int64)
    hit, rows = index.lookup_kmers(vk.kmers[near])
    found[near[hit]] = True
    row_of[near[hit]] = rows
    return found, row_of


def match(index: RunIndex, vk: ViewKmers) -> SequenceHit | None:
    """Read-sized windows of the view made of the run's k-mers (None if there are none).

    The windows are counted by one compiled pass per tiling (``read_windows``: a window is tested
    only when enough of its k-mers were found), so unrelated sequence costs about one prefiltered
    lookup per PROBE_STRIDE k-mers.
    """
    sampled = index.km_scale > 1
    need = SCALED_MIN_KMERS if sampled else MIN_KMERS
    found, row_of = _looked_up(index, vk)
    if np.count_nonzero(found) < need:
        return None
    confirmed = np.empty(len(vk.kmers), dtype=bool)
    windows, bases, first = _kernels.read_windows(
        vk.kmers, vk.starts, vk.runs.starts, found, K, WINDOW, need, MIN_SHARE, int(max_hash(index.km_scale)),
        _low_entropy_table(K), ADAPTER_KMERS, confirmed)
    if first < 0:
        return None
    return SequenceHit(sorted_unique(row_of[confirmed]), windows, bases, first)

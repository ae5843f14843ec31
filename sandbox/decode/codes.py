"""Text written in a few codes of several characters: each code as one symbol (label "codes (...)").

The correlator reads bases written in four other symbols where a symbol is a byte, a character, or a
word between separators (``words``).  Bases written in Morse (``.- -.-. --. -``, a space or a slash
between), as pairs of punctuation (``()[]<>{}``, spaced or not), as pairs of letters run together
(``xqzkwv``) or as three-digit character codes run together (``065067071``) replayed clean: no symbol
was a byte, and no token a word.  A view of few byte values (MAX_DISTINCT_BYTES among its first 256:
text has more) whose lines split, at a separator or every 2 to 4 bytes from each line's start (of the
widths that give fewest codes, the widest), into MAX_CODES codes or fewer (MIN_CODES of them at least
in its first 4 KiB; of MAX_CODE_LENGTH bytes at most, more than one on average, spelled with
MAX_CODE_BYTES byte values at most: words are many, longer and spelled with more letters) is read a
code a symbol: each code its number from 0x80 as codes first appear, line breaks
kept.  A view of bases and line breaks alone is read as it is; of bases and digits, by ``runlength``.

Bases as a pipeline's arrays replayed clean too: a model's one-hot input tensor (float32 or bytes), int
or float codes (an .npy), an audio modem's 16-bit levels; every base several bytes, none a byte.  A
binary view of MIN_BINARY_VIEW bytes or more, of few byte values (none MAX_BYTE_SHARE of them: padding), is
read in numbers of 2, 4, 8 or 16 bytes: the narrowest width whose codes, at the phase that makes fewest,
are two to MAX_CODES kinds, none MAX_SHARE of them, and follow one another freely (``binary_way``); each
its number as above, at C speed (label "codes (N-byte numbers)").
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np

from sandbox.decode import text
from sandbox.decode.base import Budget, Decoder

MAX_DISTINCT_BYTES = 16   # byte values among a view's first 256 (prose and FASTQ: 30-60)
MAX_CODES = 16
MIN_CODES = 96            # codes the sample holds (of two kinds at least: one says nothing)
MAX_CODE_LENGTH = 8
MAX_CODE_BYTES = 12       # byte values the codes are spelled with (Morse: 2; digits: 10)
SAMPLE = 4096
WIDTHS = (2, 3, 4)
SEPARATORS = {b" ": "spaces", b"/": "slashes", b"|": "bars", b",": "commas", b";": "semicolons", b"\t": "tabs"}
BINARY_WIDTHS = (2, 4, 8, 16)
INDEPENDENT = 0.6         # pairs of codes, as a share of the square of their kinds, that make them codes
MAX_SHARE = 0.6           # of the sample's codes one kind may be (bases: a quarter each or so)
MAX_BYTE_SHARE = 0.93     # of the sample's bytes one value may be (int64 codes: 0.91 zeros)
HEADER = 512              # bytes of a binary view's own (an .npy header) its sample is taken past
MIN_BINARY_VIEW = 4096
BINARY_SAMPLE = 1024      # bytes whose codes are counted at each width and phase (a 16-byte code: 64 of them)
CHUNK = 1 << 20           # bytes of binary codes numbered at once
FIRST_ID = 0x80           # codes' numbers: past ASCII, so line breaks stay line breaks
MAX_IDS = 128
_BASES_ONLY = b"ACGTNacgtn\r\n"
_DIGITS = b"0123456789\r\n"
_BASES_AND_DIGITS = _BASES_ONLY + _DIGITS
_LINE = re.compile(rb"[^\r\n]+")


def _way(sample: bytes) -> tuple[bytes, int] | None:
    """How a sample is written in codes: (the separator, 0) or (b"", their width 2-4: of the widths whose
    codes are fewest, the widest); None."""
    lines = _LINE.findall(sample if len(sample) < SAMPLE else sample[:sample.rfind(b"\n") + 1] or sample)
    if not lines:
        return None
    for separator in SEPARATORS:
        if separator not in sample:
            continue
        codes = [c for line in lines for c in line.split(separator) if c]
        if _few(codes) and sum(map(len, codes)) > len(codes):
            return separator, 0
    fewest: tuple[int, int] | None = None
    for width in WIDTHS:
        if any(len(line) % width for line in lines):
            continue
        codes = [line[i:i + width] for line in lines for i in range(0, len(line), width)]
        if _few(codes) and (fewest is None or len(set(codes)) <= fewest[0]):
            fewest = len(set(codes)), width
    return (b"", fewest[1]) if fewest else None


def _few(codes: list[bytes]) -> bool:
    """MIN_CODES codes or more, MAX_CODES kinds of them at most, short, made of MAX_CODE_BYTES byte values
    at most (words are many, longer, and spelled with more letters)."""
    kinds = set(codes)
    return (len(codes) >= MIN_CODES and 2 <= len(kinds) <= MAX_CODES and max(map(len, kinds)) <= MAX_CODE_LENGTH
            and len(set(b"".join(kinds))) <= MAX_CODE_BYTES)


def _tokens(line: bytes, separator: bytes, cut: bool) -> Iterator[bytes]:
    """A line's codes between separators, one at a time (a line of megabytes makes no list); a last one
    the view's end may have cut left out."""
    last = None
    for token in re.finditer(rb"[^" + re.escape(separator) + rb"]+", line):
        if last is not None:
            yield last
        last = token.group()
    if last is not None and not (cut and not line.endswith(separator)):
        yield last


class _Numbers:
    """Codes' numbers from FIRST_ID, as they first appear over the view (MAX_IDS of them at most)."""

    def __init__(self) -> None:
        self.ids: dict[bytes | int, int] = {}
        self.known = np.zeros(0, np.int64)       # the keys of fixed-width codes met, sorted, and their numbers
        self.known_ids = np.zeros(0, np.uint8)

    def number(self, code: bytes | int) -> int | None:
        got = self.ids.get(code)
        if got is None:
            if len(self.ids) >= MAX_IDS:
                return None
            got = self.ids[code] = FIRST_ID + len(self.ids)
        return got

    def of_width(self, line: bytes, width: int) -> bytes | None:
        """A line's codes of ``width`` bytes (2, 3, 4 or 8; a last one cut short left out), at C speed:
        each a number (the key of its bytes) looked up among those met (a handful: a binary search),
        those new to the view numbered in the order they first appear."""
        raw = np.frombuffer(line, np.uint8, count=len(line) - len(line) % width)
        if width == 3:
            triples = raw.reshape(-1, 3).astype(np.int64)
            keys = triples[:, 0] | triples[:, 1] << 8 | triples[:, 2] << 16
        else:
            keys = raw.view(f"<i{width}").astype(np.int64)
        at = np.searchsorted(self.known, keys)
        met = self.known[np.minimum(at, len(self.known) - 1)] == keys if len(self.known) else np.zeros(len(keys), bool)
        if not met.all():
            new = keys[~met]
            kinds, first = np.unique(new, return_index=True)
            for key in kinds[np.argsort(first)].tolist():
                if self.number(key) is None:
                    return None
            self.known = np.array(sorted(k for k in self.ids if isinstance(k, int)), np.int64)
            self.known_ids = np.array([self.ids[k] for k in self.known.tolist()], np.uint8)
            at = np.searchsorted(self.known, keys)
        return self.known_ids[at].tobytes()


def read(data: bytes, separator: bytes, width: int, budget: Budget) -> bytes | None:
    """The view a code a symbol (None where it holds more than MAX_IDS codes: no code)."""
    numbers = _Numbers()
    out = bytearray()
    for match in _LINE.finditer(data):
        cut = match.end() == len(data)          # a last line the view's end may cut: its last code too
        line = match.group()
        if separator:
            for code in _tokens(line, separator, cut):
                got = numbers.number(code)
                if got is None:
                    return None
                out.append(got)
                if len(out) >= budget.remaining:
                    break
        elif len(line) >= width:
            got_line = numbers.of_width(line, width)
            if got_line is None:
                return None
            out += got_line
        if len(out) >= budget.remaining:
            budget.exhausted(left=len(data) - match.start())
            return bytes(out[:budget.remaining])
        if not cut:
            out.append(0x0A)
    return bytes(out)


def _counts(sample: bytes, width: int, phase: int) -> np.ndarray:
    """How often each distinct code of ``width`` bytes (2-32) comes in ``sample`` from ``phase`` on (at C speed)."""
    n = (len(sample) - phase) // width
    raw = np.frombuffer(sample, np.uint8, count=n * width, offset=phase)
    if width <= 8:
        return np.unique(raw.view(f"<u{width}"), return_counts=True)[1]
    words = raw.view("<u8").reshape(-1, width // 8)          # wider: its words hashed together
    keys = words[:, 0].copy()
    for k in range(1, width // 8):
        keys ^= words[:, k] * np.uint64(0x9E3779B97F4A7C15 + 2 * k)
    return np.unique(keys, return_counts=True)[1]


def _kinds(sample: bytes, width: int, phase: int) -> int:
    return len(_counts(sample, width, phase))


def _kinds_by_phase(sample: bytes, width: int) -> np.ndarray:
    """Distinct codes of ``width`` bytes (2-16) at each phase of ``sample``, in one sort: every code at
    every byte a key (16 bytes: its halves hashed together), sorted by phase then key, kinds counted where
    either changes."""
    raw = np.frombuffer(sample, np.uint8)
    n = (len(raw) - width) // width * width
    windows = np.lib.stride_tricks.sliding_window_view(raw, width)[:n].astype(np.uint64)
    shifts = np.arange(min(width, 8), dtype=np.uint64) * np.uint64(8)
    keys = (windows[:, :8] << shifts).sum(axis=1, dtype=np.uint64)
    if width > 8:
        keys ^= (windows[:, 8:] << shifts).sum(axis=1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    phases = np.arange(n) % width
    order = np.lexsort((keys, phases))
    keys, phases = keys[order], phases[order]
    new = np.ones(n, bool)
    new[1:] = (keys[1:] != keys[:-1]) | (phases[1:] != phases[:-1])
    return np.bincount(phases[new], minlength=width)


def binary_way(data: bytes) -> tuple[int, int] | None:
    """(width, phase) of binary codes (numbers of 2-16 bytes: a tensor's one-hot rows, its float or int
    codes, an audio modem's levels) a view is written in, judged on a sample past a header (HEADER bytes
    in, half the view at most): the narrowest width whose codes (at the phase that makes fewest) are two to
    MAX_CODES kinds, none MAX_SHARE of them, and follow one another freely (pairs of them make INDEPENDENT
    of the square of that many kinds: halves of a code, or its zero bytes, do not); None."""
    if len(data) < MIN_BINARY_VIEW:
        return None         # (a tensor's upload is larger; a datagram of a few fields and padding is not one)
    start = min(HEADER, len(data) // 2) // 16 * 16
    sample = data[start:start + BINARY_SAMPLE]
    if not 2 <= len(set(sample[:256])) <= MAX_DISTINCT_BYTES:
        return None
    if np.bincount(np.frombuffer(sample, np.uint8)).max() > MAX_BYTE_SHARE * len(sample):
        return None         # padding (datagrams' zeros joined): codes of eight bytes write 7 zeros in 8 at most
    for width in BINARY_WIDTHS:
        per_phase = _kinds_by_phase(sample, width)
        phase = int(np.argmin(per_phase))
        kinds = int(per_phase[phase])
        if not 2 <= kinds <= MAX_CODES:
            continue
        counts = _counts(sample, width, phase)
        if counts.max() > MAX_SHARE * counts.sum():
            continue        # one code most of the time: a part of a code (a one-hot row's zeros), or padding
        pairs = min(_kinds(sample, 2 * width, phase), _kinds(sample, 2 * width, phase + width))
        if pairs >= INDEPENDENT * kinds * kinds:
            return width, (start + phase) % width
    return None


def read_binary(data: bytes, width: int, phase: int, budget: Budget) -> bytes | None:
    """The view's codes of ``width`` bytes from ``phase``, each its number (None: more than MAX_IDS)."""
    numbers = _Numbers()
    out = bytearray()
    for at in range(phase, len(data), CHUNK):
        piece = data[at:at + CHUNK]       # (CHUNK a multiple of every width: codes never split)
        piece = piece[:len(piece) - len(piece) % width]
        if not piece:
            break
        if width <= 8:
            got = numbers.of_width(piece, width)
            if got is None:
                return None
            out += got
        else:       # sixteen bytes: each code's bytes a key of their own (a dictionary a code, at Python speed)
            for i in range(0, len(piece), width):
                number = numbers.number(piece[i:i + width])
                if number is None:
                    return None
                out.append(number)
        if len(out) >= budget.remaining:
            budget.exhausted(left=len(data) - at)
            return bytes(out[:budget.remaining])
    return bytes(out)


class CodesDecoder(Decoder):
    name = "codes"
    text = True
    unstructured = True
    reapply = False      # its output is numbers, not codes

    @staticmethod
    def sniff(data: bytes) -> bool:
        head = data[:256]
        if len(set(head[:64])) > MAX_DISTINCT_BYTES or len(set(head)) > MAX_DISTINCT_BYTES:
            return binary_way(data) is not None if not text.printable(head[:64]) else False
        if not head.translate(None, _BASES_ONLY):
            return False
        if not text.printable(head):
            return binary_way(data) is not None
        if not head.translate(None, _BASES_AND_DIGITS) and head.translate(None, _DIGITS):
            return False        # bases and counts: run-length's
        return _way(data[:SAMPLE]) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        way = _way(data[:SAMPLE]) if text.printable(data[:256]) else None
        if way is not None:
            separator, width = way
            out = read(data, separator, width, budget)
            if out:
                yield (f"codes ({SEPARATORS[separator]} between)" if separator else f"codes ({width} bytes each)"), out
            return
        binary = binary_way(data)
        if binary is not None:
            width, phase = binary
            out = read_binary(data, width, phase, budget)
            if out:
                yield f"codes ({width}-byte numbers" + (f" from byte {phase})" if phase else ")"), out

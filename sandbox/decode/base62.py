"""base62 and base36: bytes as big numbers, token by token: a whole view only (labels "base62", "base36").

URL shorteners, API keys and many ID schemes write bytes as a number in 62 symbols (digits and both
cases: GMP's order, or small letters first) or 36 (digits and one case): a gzip of reads written so,
32 bytes a token a line, replayed clean (base58's decoder knew only Bitcoin's alphabet, which lacks
0, O, I and l).  A view made only of tokens of an alphabet (between white space and commas), MIN_TOKEN
characters or more, is read token by token as big-endian numbers: base62 where it holds both cases and
a digit (and, in its first KiB, one of 0, O, I, l: or it is base58's), each order (GMP's, digits then
capitals, and "lower-first": digits then small letters) a view of its own (nothing in the text tells
them apart); base36 where it holds one case, a letter past ``f`` (or it is
hex) and a digit base32 has not (0, 1, 8, 9); and, either, nearly as many distinct symbols as uniform
digits show (MIN_VARIETY: identifiers and words repeat theirs).  Leading zero symbols are zero bytes
(as base58's leading 1s); where nearly every token but the last needs one byte length and none more
(a stream cut into pieces; a piece whose first bytes are zeros needs fewer), each is written in it;
where every token's first byte is a one (an encoder's way to keep a piece's leading zeros), it is
dropped.  Tokens longer than MAX_TOKEN (converting a number costs more
than its length) are said not read.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

import numpy as np

from sandbox.decode.base import Budget, Decoder

DIGITS = b"0123456789"
UPPER, LOWER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz"
BASE62 = {"base62": DIGITS + UPPER + LOWER, "lower-first base62": DIGITS + LOWER + UPPER}
MIN_TOKEN = 20            # characters: 15 bytes or so; shorter tokens are words as often
MAX_TOKEN = 1 << 16       # characters of one token (48 kB, ~20 ms): longer ones are said not read
MIN_CHARS = 32            # characters of the view
SAMPLE = 1024
SEPARATORS = b" \t\r\n,;"
STEP = 10                 # symbols combined at C speed (62^10 < 2^63)
MIN_VARIETY = 0.8         # distinct symbols of a sample, as a share of a uniform sample's
DECIDED = 256             # tokens how a view's pieces are written is judged on
PIECES_SHARE = 0.9        # tokens of one byte length among a view's (its last aside): pieces of one size
_SPLIT = re.compile(rb"[\s,;]+")
_NOT_ALNUM = bytes(b for b in range(256) if b not in DIGITS + UPPER + LOWER + SEPARATORS)
_NOT_BASE58 = b"0OIl"     # symbols base58 leaves out


def tokens(data: bytes) -> list[bytes] | None:
    """The view's tokens, when it is made only of letters and digits between separators, each MIN_TOKEN
    long at least (the last may be shorter); None when it is not."""
    if len(data) < MIN_CHARS or data[:64].translate(None, _NOT_ALNUM) != data[:64] or data.translate(None, _NOT_ALNUM) != data:
        return None
    found = [t for t in _SPLIT.split(data.strip()) if t]
    if not found or min(len(t) for t in found[:-1] or found) < MIN_TOKEN:
        return None
    return found


def _values(alphabet: bytes) -> np.ndarray:
    values = np.zeros(256, dtype=np.int64)
    values[np.frombuffer(alphabet, np.uint8)] = np.arange(len(alphabet))
    return values


_VALUES = {name: _values(alphabet) for name, alphabet in (*BASE62.items(), ("base36", DIGITS + UPPER))}
_VALUES["base36"][np.frombuffer(LOWER, np.uint8)] = np.arange(10, 36)


def number(token: bytes, values: np.ndarray, base: int) -> int:
    """The big number ``token`` writes: STEP symbols at a time at C speed, then those pieces joined in
    pairs, level by level (Karatsuba's multiplication on halves: a long token costs far less than
    a symbol at a time, which is quadratic)."""
    digits = values[np.frombuffer(token, np.uint8)]
    digits = np.concatenate((np.zeros(-len(digits) % STEP, np.int64), digits))     # leading zeros: the same number
    pieces = (digits.reshape(-1, STEP) @ base ** np.arange(STEP - 1, -1, -1, dtype=np.int64)).tolist()
    scale = base ** STEP
    while len(pieces) > 1:
        if len(pieces) % 2:
            pieces.insert(0, 0)
        pieces = [high * scale + low for high, low in zip(pieces[::2], pieces[1::2], strict=True)]
        scale *= scale
    return pieces[0] if pieces else 0


def _marked(value: int) -> bool:
    """Whether a number's first byte is a one (how some encoders keep a piece's leading zeros)."""
    return value.bit_length() % 8 == 1


def read(found: list[bytes], values: np.ndarray, base: int, budget: Budget, name: str) -> bytes:
    """The tokens' bytes (see the module docstring), each converted as the budget reaches it (a view of
    megabytes is not converted whole for a budget of a few); how pieces are written (one size, or a one
    before each) judged on the first DECIDED of them."""
    pieces = len(found) - 1 if len(found) > 1 else 1
    first = [number(t, values, base) for t in found[:DECIDED] if len(t) <= MAX_TOKEN]
    # pieces of one size: nearly all need one byte length, none more (one with zero bytes first needs fewer)
    sizes = [(v.bit_length() + 7) // 8 for v in first[:pieces]]
    width, count = Counter(sizes).most_common(1)[0] if sizes else (0, 0)
    if count < PIECES_SHARE * len(sizes) or max(sizes, default=0) > width:
        width = 0
    marked = len(found) > 1 and all(map(_marked, first))
    out = bytearray()
    for n, token in enumerate(found):
        if len(out) >= budget.remaining:
            break
        if len(token) > MAX_TOKEN:
            budget.not_read(f"{name} token of more than {MAX_TOKEN} characters", len(token))
            continue
        value = number(token, values, base)
        size = (value.bit_length() + 7) // 8
        if marked and _marked(value):
            out += value.to_bytes(size, "big")[1:]
        elif width and n < pieces and size <= width:
            out += value.to_bytes(width, "big")
        else:
            out += bytes(len(token) - len(token.lstrip(b"0"))) + value.to_bytes(size, "big")
    return bytes(out[:budget.remaining])


def _varied(sample: bytes, symbols: int) -> bool:
    """Whether ``sample`` shows as many distinct symbols as a big number's digits do (nearly uniform):
    MIN_VARIETY of what ``symbols`` uniform ones would (identifiers and words repeat theirs)."""
    return len(set(sample)) >= MIN_VARIETY * symbols * (1 - (1 - 1 / symbols) ** len(sample))


def _kinds(found: list[bytes]) -> list[str]:
    """The alphabets a view's tokens may be written in (see the module docstring)."""
    sample = b"".join(found[:64])[:SAMPLE]
    has_digit = any(c in DIGITS for c in sample)
    upper, lower = sample.lower() != sample, sample.upper() != sample
    if upper and lower:
        return list(BASE62) if has_digit and any(c in _NOT_BASE58 for c in sample) and _varied(sample, 62) else []
    beyond_hex = sample.lower().translate(None, DIGITS + b"abcdef")
    return ["base36"] if beyond_hex and any(c in b"0189" for c in sample) and _varied(sample, 36) else []


def _sniff(data: bytes, family: str) -> bool:
    if not data.isascii():
        return False
    found = tokens(data[:4096].rpartition(b"\n")[0] or data[:4096])
    return found is not None and any(k.endswith(family) for k in _kinds(found))


def _decode(data: bytes, budget: Budget, family: str) -> Iterator[tuple[str, bytes]]:
    found = tokens(data)
    if found is None:
        return
    if len(found) > 1 and data[-1:] not in SEPARATORS:
        found.pop()         # the view may end inside it: a cut number is another number
    for kind in _kinds(found):
        if kind.endswith(family):
            yield kind, read(found, _VALUES[kind], 36 if family == "base36" else 62, budget, family)


class Base62Decoder(Decoder):
    name = "base62"
    text = True
    unstructured = True
    reapply = False

    @staticmethod
    def sniff(data: bytes) -> bool:
        return _sniff(data, "base62")

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        yield from _decode(data, budget, "base62")


class Base36Decoder(Decoder):
    name = "base36"
    text = True
    unstructured = True
    reapply = False

    @staticmethod
    def sniff(data: bytes) -> bool:
        return _sniff(data, "base36")

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        yield from _decode(data, budget, "base36")

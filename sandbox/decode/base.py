"""What every decoder declares, the output budget one decoding step runs under, and the search
for compressed streams inside other bytes that the stream decoders share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import ClassVar, Protocol

from sandbox.decode import magic as magics
from sandbox.decode.codec import Drained, decompress, keep, lzw, status_label

# Candidate streams tried at offsets > 0: a 3-6 byte magic occurs by chance about once per 16 MiB
# of random bytes or less often, and a framing protocol rarely packs more streams into a payload.
MAX_EMBEDDED = 16
# An embedded candidate cut by the end of the payload (or damaged) counts from this much output:
# after a chance magic, random bytes decode a few hundred bytes at most.
MIN_EMBEDDED_TRUNCATED = 1024


# Where a stream that has no magic (brotli, a raw snappy or LZ4 block) may start behind bytes of the
# sender's own: at once, after a length of 2, 4 or 8 bytes, or after a header of 16
HEADER_SIZES = (0, 2, 4, 8, 16)
LENGTH_SIZES = (2, 4, 8)


def declared_lengths(data: bytes, pos: int, size: int, least: int) -> tuple[int, ...]:
    """The lengths a field of ``size`` bytes at ``pos`` may declare of what follows it (little-endian,
    then big-endian): those of ``least`` bytes or more that fit in the view."""
    field, room = data[pos:pos + size], len(data) - pos - size
    return tuple(dict.fromkeys(n for n in (int.from_bytes(field, "little"), int.from_bytes(field, "big"))
                               if least <= n <= room))


class Budget:
    """Bytes one decoding step may still produce (shared by all outputs of the step).

    The expander subtracts each output as it is taken, so a decoder reads ``remaining`` afresh
    before each member.  A decoder that stops because of the budget calls ``exhausted()`` with the
    input bytes it left undecoded; the expander turns that into a ``LimitHit``.
    """

    __slots__ = ("remaining", "why", "hit", "left", "inflated", "unread", "spans")

    def __init__(self, remaining: int, why: str):
        self.remaining = remaining
        self.why = why  # which limit binds: "expansion ratio 100x" or "total output 256 MiB"
        self.hit: str | None = None
        self.left = 0
        # output bytes decompression made beyond the input it read: what the step's outputs
        # account for of its input is their size less this (a bomb explains only its own bytes)
        self.inflated = 0
        # parts the decoder found but cannot read (a zip member of a method it does not know): what
        # they are and how many bytes, said as not examined so the verdict cannot be clean
        self.unread: list[tuple[str, int]] = []
        # what of its input a structural decoder took apart (headers, members, directories), where it
        # says: the bytes outside are searched as a view of their own (None: the whole input)
        self.spans: list[tuple[int, int]] | None = None

    def exhausted(self, what: str | None = None, left: int = 0) -> None:
        self.hit = what or self.why
        self.left = max(self.left, left)

    def took(self, start: int, end: int) -> None:
        """The input's bytes ``start:end`` belong to the structure (a header, a member, a directory).
        A structural decoder that says this of none leaves the whole input taken apart."""
        if self.spans is None:
            self.spans = []
        if end > start:
            self.spans.append((start, end))

    def not_read(self, what: str, size: int) -> None:
        """A part of the input (``size`` bytes) this decoder knows is there and cannot read: ``what``
        says why, in words of the format (never the part's name, which the instrument chose)."""
        self.unread.append((what, size))


class Decoder(Protocol):
    """One encoding or container format (a class; the registry lists classes).

    ``sniff`` is a cheap content check (magic bytes, alphabet via ``bytes.translate``/``re``);
    ``decode`` yields ``(label, bytes)`` and never raises on bad input: truncated or corrupt
    data yields what was recovered, with "(truncated)"/"(corrupt)" in the label.  Implementations
    subclass this to take the defaults below.
    """

    name: ClassVar[str]
    # "text" decoders skip inputs shorter than Limits.min_text and read ASCII-ish input.
    text: ClassVar[bool] = False
    # A structural decoder (JSON, multipart, form, zip, tar) replaces its input by its parts:
    # when one succeeds, the embedded-run finders (base64/hex runs) skip that view, so a base64
    # value is reached through its JSON path rather than as an anonymous run.
    structural: ClassVar[bool] = False
    # Also searched for inside other bytes (a gzip after a binary header, a base64 run in a log).
    embedded: ClassVar[bool] = False
    # Reads a view only when no structural decoder took it apart: a JSON document or a multipart body
    # is not text under a key or a run of symbols as a whole (its parts are views of their own).
    unstructured: ClassVar[bool] = False
    # False when running on its own output is meaningless (protobuf already walks submessages).
    reapply: ClassVar[bool] = True

    @staticmethod
    def sniff(data: bytes) -> bool: ...

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]: ...


def drain(fmt: str, data: bytes | memoryview, budget: Budget) -> Drained:
    """Decompress a whole stream within ``budget``; a budget stop is recorded on it."""
    return charged(decompress(fmt, data, budget.remaining, budget.why), budget)


def charged(got: Drained, budget: Budget) -> Drained:
    """A stream decompressed within ``budget`` (``budget.remaining`` its cap), charged to it: a budget
    stop recorded, what it made beyond what it read counted."""
    if got.status == "limit":
        budget.exhausted(left=got.left)
    read = got.end if got.status == "ok" and got.end else max(got.end, got.read)
    budget.inflated += max(0, len(got.data) - read)
    return got


def drain_lzw(data: bytes | memoryview, budget: Budget, *, msb: bool, early: bool) -> Drained:
    """LZW codes of 9 to 12 bits with a clear and an end code (PDF's and TIFF's, most significant bit
    first, a width one code ``early``; GIF's of 8-bit pixels, least significant first) within ``budget``."""
    got = lzw(bytes(data), budget.remaining, start_bit=0, msb=msb, max_bits=12, clear=True, eod=True, early=early,
              groups=False)
    if got.status == "limit":
        budget.exhausted(left=got.left)
    budget.inflated += max(0, len(got.data) - got.read)
    return got


def embedded_streams(data: bytes, fmt: str, magic: bytes, header_ok: Callable[[bytes, int], bool],
                     budget: Budget, label: Callable[[bytes, int], str],
                     find: Callable[[bytes, bytes, int], int] = magics.find,
                     most: int = MAX_EMBEDDED,
                     broken: Callable[[bytes, int], str] | None = None,
                     beside: Callable[[str, Drained], Iterator[tuple[str, bytes]]] | None = None,
                     ) -> Iterator[tuple[str, bytes]]:
    """Streams of ``fmt`` at the start of ``data`` or inside it, found by ``magic`` (by ``find``: for
    one of ``magic.MAGICS`` the first from the shared scan, later ones by the same kernel) where
    ``header_ok(data, at)`` agrees, ``most`` of them; labelled ``label(data, at)`` plus "@<offset>"
    away from the start.  Bytes a decoded stream covered are not searched again.  ``broken(data, at)``:
    what a stream the codec finds corrupt is called, said not read with the rest of the view ("" where
    its header may have come by chance): for a format whose corruption is a way to hide (a dictionary
    the rig does not have).  ``beside(label, got)``: what else a stream read holds (a gzip member's
    extra field), yielded after it."""
    at = 0 if header_ok(data, 0) else find(data, magic, 1)
    tried = 0
    while at >= 0 and tried < most and budget.remaining > 0:
        if not header_ok(data, at):
            at = find(data, magic, at + 1)
            continue
        tried += 1
        got = drain(fmt, memoryview(data)[at:] if at else data, budget)
        said = broken(data, at) if broken is not None and got.status == "corrupt" else ""
        if said:            # the rest of the view is said: not searched again
            budget.not_read(said, len(data) - at - got.end)
        if at and got.status in ("truncated", "corrupt"):
            wanted = len(got.data) >= MIN_EMBEDDED_TRUNCATED
        else:
            wanted = keep(got)
        named = label(data, at) + (f"@{at}" if at else "")
        if wanted:
            yield status_label(named, got.status), got.data
        if beside is not None:
            yield from beside(named, got)
        if got.status == "limit" or said:
            return
        at = find(data, magic, at + max(1, got.end))

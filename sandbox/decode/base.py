"""What every decoder declares, and the output budget one decoding step runs under."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar


class Budget:
    """Bytes one decoding step may still produce (shared by all outputs of the step).

    The expander subtracts each output as it is taken, so a decoder reads ``remaining`` afresh
    before each member.  A decoder that stops because of the budget calls ``exhausted()``; the
    expander turns that into a "limit: ..." note.
    """

    __slots__ = ("remaining", "why", "hit")

    def __init__(self, remaining: int, why: str):
        self.remaining = remaining
        self.why = why  # which limit binds: "expansion ratio 100x" or "total output 256 MiB"
        self.hit: str | None = None

    def exhausted(self, what: str | None = None) -> None:
        self.hit = what or self.why


class Decoder:
    """One encoding or container format.

    ``sniff`` is a cheap content check (magic bytes, alphabet via ``bytes.translate``/``re``);
    ``decode`` yields ``(label, bytes)`` and never raises on bad input: truncated or corrupt
    data yields what was recovered, with "(truncated)"/"(corrupt)" in the label.
    """

    name: ClassVar[str]
    # "text" decoders skip inputs shorter than Limits.min_text and read ASCII-ish input.
    text: ClassVar[bool] = False
    # A structural decoder (JSON, multipart, form, zip, tar) replaces its input by its parts:
    # when one succeeds, the embedded-run finders (base64/hex runs) skip that view, so a base64
    # value is reached through its JSON path rather than as an anonymous run.
    structural: ClassVar[bool] = False
    embedded: ClassVar[bool] = False
    # False when running on its own output is meaningless (protobuf already walks submessages).
    reapply: ClassVar[bool] = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        raise NotImplementedError

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        raise NotImplementedError


def mark(name: str, status: str) -> str:
    """Label of a stream output: "gzip", "gzip(truncated)", "gzip(corrupt)"."""
    return name if status in ("ok", "limit") else f"{name}({status})"

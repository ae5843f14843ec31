"""Uncompressed tar archives (ustar, GNU, pax): every regular member, label "tar:<name>".

tar.gz / tar.zst are reached by recursion (gzip -> tar).  Headers are parsed by tarfile on the
in-memory bytes; member data is sliced straight from the input, so a truncated archive still
yields the part of the last member that is there.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator

from sandbox.decode.base import Budget, Decoder

BLOCK = 512
USTAR_AT = 257  # "ustar" magic offset in the header block (POSIX.1-1988)
CHECKSUM = slice(148, 156)


def _checksum_ok(header: bytes) -> bool:
    """v7 tar without the ustar magic: the stored checksum is the byte sum with the field as spaces."""
    field = header[CHECKSUM].split(b"\x00", 1)[0].strip()
    if not field or field.strip(b"01234567"):
        return False
    total = sum(header[:148]) + 8 * 32 + sum(header[156:BLOCK])
    return int(field, 8) == total


def _zeros_from(data: bytes, start: int, end: int) -> int:
    """Where the zero bytes that end ``data[start:end]`` begin."""
    return start + len(data[start:end].rstrip(b"\0"))


def _took(data: bytes, header: int, start: int, end: int, after: int, budget: Budget) -> None:
    """A member's header blocks and data (``start:end``) and the zero padding after them to ``after`` belong
    to the archive; the records of pax or GNU headers before its own (the writer's text: a pax value
    holds anything) and bytes written into the padding do not."""
    if header < start - BLOCK:
        budget.took(header, header + BLOCK)
        budget.took(_zeros_from(data, header + BLOCK, start - BLOCK), start)
    else:
        budget.took(header, start)
    budget.took(start, end)
    budget.took(_zeros_from(data, end, after), after)


class TarDecoder(Decoder):
    name = "tar"
    structural = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        if len(data) < BLOCK:
            return False
        if data[USTAR_AT : USTAR_AT + 5] == b"ustar":
            return True
        return data[0] != 0 and _checksum_ok(data[:BLOCK])

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        try:
            tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
        except (tarfile.TarError, EOFError, OSError, ValueError):
            return
        mv = memoryview(data)
        while True:
            try:
                member = tf.next()
            except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeDecodeError):
                return
            if member is None:
                budget.took(_zeros_from(data, tf.offset, len(data)), len(data))   # the end-of-archive blocks
                return
            start = member.offset_data
            end = start + member.size
            after = min(len(data), start + -(-member.size // BLOCK) * BLOCK if member.isreg() else start)
            _took(data, member.offset, start, min(end, len(data)) if member.isreg() else start, after, budget)
            if not member.isreg() or member.size == 0:
                continue
            cut = min(end, len(data), start + budget.remaining)
            if cut <= start:
                if start < len(data):
                    budget.exhausted()
                return
            label = f"tar:{member.name}"
            if cut < end:
                if cut < len(data):
                    budget.exhausted()
                else:
                    label += "(truncated)"
            yield label, bytes(mv[start:cut])
            if cut < end:
                return

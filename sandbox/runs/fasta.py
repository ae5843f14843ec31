"""FASTA and FASTA.gz (references, assemblies, consensus): sequences in bounded, overlapping pieces."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from .base import RunFile
from .textio import DNA_TABLE, text_chunks

_NAME = re.compile(r"\.(?:fa|fasta|fna|fas|ffn|mfa)(?:\.gz)?$", re.I)
# A chromosome is up to 250 Mb; yield it in 1 MB pieces that overlap by 255 bases so every k-mer with
# k <= 256 is still seen whole.
PIECE = 1 << 20
OVERLAP = 255


class FastaFile(RunFile):
    kind = "fasta"
    platform: ClassVar[str] = ""

    @staticmethod
    def claim(rel: str, head: bytes) -> bool:
        return bool(_NAME.search(rel)) or (head[:1] == b">" and b"\n" in head and not rel.endswith(".csv"))

    @property
    def gz(self) -> bool:
        return self.path.name.lower().endswith(".gz")

    def decoded(self) -> Iterator[bytes]:
        if self.gz:
            yield from text_chunks(self.path, True)

    def reads(self) -> Iterator[bytes]:
        """Chunk-wise scan (no per-line loop; single-line chromosomes are fine): '>' at a line start
        opens a header, everything else is sequence with line breaks removed."""
        buf = bytearray()
        in_header, at_line_start = False, True
        for block in text_chunks(self.path, self.gz):
            pos, n = 0, len(block)
            while pos < n:
                if in_header:
                    nl = block.find(b"\n", pos)
                    if nl < 0:
                        break
                    in_header, at_line_start, pos = False, True, nl + 1
                    continue
                if at_line_start and block[pos] == 62:  # '>'
                    if buf:
                        yield bytes(buf).translate(DNA_TABLE)
                        buf.clear()
                    in_header = True
                    continue
                gt = block.find(b"\n>", pos)
                end = n if gt < 0 else gt + 1
                buf += block[pos:end].translate(None, b"\n\r \t")
                while len(buf) >= PIECE + OVERLAP:
                    yield bytes(buf[: PIECE + OVERLAP]).translate(DNA_TABLE)
                    del buf[:PIECE]
                at_line_start, pos = block[end - 1] == 10, end
        if buf:
            yield bytes(buf).translate(DNA_TABLE)

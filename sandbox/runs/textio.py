"""Streaming helpers shared by the text formats: gzip-transparent chunk reads and DNA normalisation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from isal import igzip

from .base import RunFileError

GZIP_MAGIC = b"\x1f\x8b"
# Decompressed bytes per chunk: large enough that per-chunk Python overhead vanishes, small enough
# to keep a reader's memory flat on a multi-GB FASTQ.gz.
CHUNK = 4 << 20

# Longest line a line-based reader buffers: ultra-long nanopore reads reach ~4 Mb, so 64 MB is a wide
# margin; a newline-free garbage file stops here instead of filling memory.
MAX_LINE = 64 << 20

# Upper-case ACGT, everything else that is a letter becomes N (IUPAC codes, U, '.', '-').
_DNA = bytearray(b"N" * 256)
for _c in b"ACGT":
    _DNA[_c] = _c
    _DNA[_c + 32] = _c
_DNA[10] = 10  # newline survives, so batches can be translated joined and split again
DNA_TABLE = bytes(_DNA)


def is_gzip(path: Path | str, head: bytes) -> bool:
    return head[:2] == GZIP_MAGIC or str(path).endswith(".gz")


def text_chunks(path: Path, gz: bool, chunk: int | None = None) -> Iterator[bytes]:
    """The file's (decompressed) bytes in chunks; igzip is ISA-L, ~3x zlib's speed, multi-member safe."""
    opener = igzip.open if gz else open
    size = chunk or CHUNK
    with opener(path, "rb") as fh:
        while block := fh.read(size):
            yield block


def lines(path: Path, gz: bool) -> Iterator[list[bytes]]:
    """Complete lines (without newline) in batches; a last line without newline comes last."""
    carry = b""
    for block in text_chunks(path, gz):
        parts = (carry + block).split(b"\n")
        carry = parts.pop()
        if len(carry) > MAX_LINE:
            raise RunFileError(f"line longer than {MAX_LINE} bytes")
        yield parts
    if carry:
        yield [carry]


def dna(seqs: list[bytes]) -> list[bytes]:
    """Upper-case ACGTN copies of sequences, in two C passes over the batch."""
    if not seqs:
        return []
    joined = b"\n".join(seqs)
    if not joined.translate(None, b"ACGTN\n"):  # already clean (Illumina FASTQ): keep the objects
        return seqs
    return joined.translate(DNA_TABLE, b"\r \t").split(b"\n")

"""Illumina CBCL (NovaSeq, NextSeq 2000, iSeq): per-cycle, per-surface files of gzip'd tile blocks."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from .base import RunFileError
from .tiles import CycleFile, cycle_files, cycle_of, first_cycle, tile_reads

_NAME = re.compile(r"\.cbcl$")
# Header, little-endian, as the Illumina BCL Convert / bcl2fastq v2.20 docs describe it.
FIXED = struct.Struct("<HIBBI")  # version, header size, bits per basecall, bits per qscore, bins
BIN = struct.Struct("<II")  # q-bin number -> q-score
TILE = struct.Struct("<IIIIB")  # tile, clusters, uncompressed size, compressed size, non-PF excluded
# A real header has at most a few thousand tiles (NovaSeq S4: 3,744 per file); past that it is garbage.
MAX_TILES = 100_000

# Largest inflated tile block accepted: a NovaSeq X tile (~10M clusters) is ~5 MB at 4 bits a call;
# a header claiming more is corrupt or a decompression bomb.
MAX_BLOCK = 64 << 20

# Nibble (2 low bits base, 2 high bits q-bin) -> ASCII base; nibble 0 is the no-call, as a 0 byte is in
# BCL (checked against bambi's barcode file: q-bin 0 with a C/G/T call is still that base).
_NIB = np.frombuffer(b"NCGT" + b"ACGT" * 3, dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class TileBlock:
    tile: int
    clusters: int
    uncompressed: int
    compressed: int
    pf_excluded: bool
    offset: int


def read_header(path: Path) -> tuple[int, list[TileBlock]]:
    """(bits per q-score, tile blocks with their file offsets); a bad header raises RunFileError."""
    with open(path, "rb") as fh:
        fixed = fh.read(FIXED.size)
        if len(fixed) < FIXED.size:
            raise RunFileError("CBCL shorter than its fixed header")
        version, header_size, bits_call, bits_q, nbins = FIXED.unpack(fixed)
        if bits_call != 2 or bits_q not in (1, 2, 4, 6) or nbins > 64:
            raise RunFileError(f"CBCL header not understood (version {version}, bits {bits_call}/{bits_q}, "
                               f"{nbins} bins)")
        fh.seek(FIXED.size + nbins * BIN.size)
        raw = fh.read(4)
        if len(raw) < 4:
            raise RunFileError("CBCL header truncated")
        (ntiles,) = struct.unpack("<I", raw)
        if ntiles > MAX_TILES:
            raise RunFileError(f"CBCL header claims {ntiles} tiles")
        recs = fh.read(ntiles * TILE.size)
        if len(recs) < ntiles * TILE.size:
            raise RunFileError("CBCL tile table truncated")
        if FIXED.size + nbins * BIN.size + 4 + ntiles * TILE.size != header_size:
            raise RunFileError(f"CBCL header size {header_size} does not match its tables")
        size = path.stat().st_size
    blocks, offset = [], header_size
    for tile, clusters, unc, comp, excl in TILE.iter_unpack(recs):
        if unc > MAX_BLOCK or clusters > 2 * MAX_BLOCK:
            raise RunFileError(f"CBCL tile {tile} claims {unc} bytes / {clusters} clusters")
        blocks.append(TileBlock(tile, clusters, unc, comp, bool(excl), offset))
        offset += comp
    if offset > size:
        raise RunFileError(f"CBCL tile blocks need {offset} bytes, file has {size}")
    return bits_q, blocks


def inflate(path: Path, block: TileBlock) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(block.offset)
        comp = fh.read(block.compressed)
    # Stream-inflate and trust the tile table's sizes: real CBCLs (e.g. NovaSeq RTA 3, bambi test data)
    # record a compressed size one byte short of the gzip member, cutting its trailer.
    data = zlib.decompressobj(wbits=31).decompress(comp, block.uncompressed + 1)
    if len(data) != block.uncompressed:
        raise RunFileError(f"CBCL tile {block.tile}: {len(data)} bytes inflated, header says {block.uncompressed}")
    return data


def bases(data: bytes, clusters: int) -> np.ndarray:
    """ASCII bases of a 4-bit-per-call block (first cluster in the low nibble)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    nib = np.empty(arr.size * 2, dtype=np.uint8)
    nib[0::2] = arr & 0x0F
    nib[1::2] = arr >> 4
    return _NIB[nib[:clusters]]


class CbclFile(CycleFile):
    kind = "cbcl"
    platform: ClassVar[str] = "illumina"

    name_pattern = _NAME

    def tiles(self) -> list[TileBlock]:
        bits_q, blocks = read_header(self.path)
        if bits_q != 2:
            raise RunFileError(f"CBCL with {bits_q}-bit q-scores is not decoded (4-bit calls only)")
        return blocks

    def decoded(self) -> Iterator[bytes]:
        for block in self.tiles():
            yield inflate(self.path, block)

    def reads(self) -> Iterator[bytes]:
        """Per-cluster sequences of each tile across all cycles; only the first cycle's file yields."""
        if not first_cycle(self.path, (self.path.name,)):
            return
        cycles = cycle_files(self.path, (self.path.name,))
        if not cycles or cycle_of(self.path) != min(cycles):
            return
        first = min(cycles)
        ncycles = max(cycles) - first + 1
        for block in self.tiles():
            stored = min(block.clusters, block.uncompressed * 2)
            def load(c: int, start: int, stop: int, tile: int = block.tile,
                     cache: dict[int, np.ndarray] = {}) -> np.ndarray | None:  # noqa: B006 - per-tile cache
                path = cycles.get(first + c)
                if path is None:
                    return None
                if c not in cache:
                    match = [b for b in read_header(path)[1] if b.tile == tile]
                    if not match:
                        return None
                    cache.clear()
                    cache[c] = bases(inflate(path, match[0]), match[0].clusters)
                return cache[c][start:stop]

            yield from tile_reads(stored, ncycles, load, self.read_cycles)

    def check(self) -> None:
        read_header(self.path)

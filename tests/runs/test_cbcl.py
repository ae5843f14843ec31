"""CBCL: header, tile blocks, and reads across 318 cycles checked against bambi's barcode files."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import pytest

from sandbox.runs import scan_run
from sandbox.runs.cbcl import read_header

BAMBI = "illumina/170407_A00103_0049_AH2CLFDMXX_bambi_subset"
CALLS = "Data/Intensities/BaseCalls"


@pytest.fixture(scope="module")
def scan(shared_data: Path):
    return scan_run(shared_data / BAMBI)


def test_header_by_hand(shared_data: Path):
    path = shared_data / BAMBI / CALLS / "L001/C1.1/L001_1.cbcl"
    data = path.read_bytes()
    version, header_size, bits_call, bits_q, nbins = struct.unpack_from("<HIBBI", data)
    assert (version, header_size, bits_call, bits_q, nbins) == (1, 65, 2, 2, 4)
    bits, blocks = read_header(path)
    assert bits == 2 and len(blocks) == 1
    b = blocks[0]
    assert (b.tile, b.clusters, b.uncompressed, b.offset) == (1101, 28, 14, 65)


@pytest.mark.parametrize("surface, tile", [(1, 1101), (2, 1102)])
def test_reads_match_bambi_barcodes(scan, shared_data: Path, surface: int, tile: int):
    """bambi's s_1_<tile>_barcode.txt.gz lists each pass-filter cluster's index read (cycles 152-167)."""
    first = next(f for f in scan.files if f.rel == f"{CALLS}/L001/C1.1/L001_{surface}.cbcl")
    reads = list(first.reads())
    assert len(reads) == 28 and {len(r) for r in reads} == {318}
    flags = (shared_data / BAMBI / CALLS / f"L001/s_1_{tile}.filter").read_bytes()[12:]
    passing = [r for r, flag in zip(reads, flags, strict=True) if flag & 1]
    lines = gzip.open(shared_data / BAMBI / CALLS / f"s_1_{tile}_barcode.txt.gz", "rt").read().splitlines()
    barcodes = [line.split("\t")[0].replace(".", "N").encode() for line in lines]
    assert len(passing) == len(barcodes) == 25
    assert [r[151:167] for r in passing] == barcodes


def test_decoded_is_the_inflated_tile_block(scan, shared_data: Path):
    f = next(f for f in scan.files if f.rel == f"{CALLS}/L001/C7.1/L001_2.cbcl")
    data = (shared_data / BAMBI / f.rel).read_bytes()
    assert b"".join(f.decoded()) == zlib.decompressobj(wbits=31).decompress(data[65:])
    assert list(f.reads()) == []  # only the first cycle's file yields the tile's reads


def test_corrupt_block_and_header(tmp_path: Path, shared_data: Path):
    run = tmp_path / "run"
    for c in (1, 2):
        src = shared_data / BAMBI / CALLS / f"L001/C{c}.1/L001_1.cbcl"
        dst = run / CALLS / f"L001/C{c}.1/L001_1.cbcl"
        dst.parent.mkdir(parents=True)
        dst.write_bytes(src.read_bytes())
    c2 = run / CALLS / "L001/C2.1/L001_1.cbcl"
    c2.write_bytes(c2.read_bytes()[:70] + b"\x00" * 30)
    scan = scan_run(run)
    first = next(f for f in scan.files if f.rel.endswith("C1.1/L001_1.cbcl"))
    assert list(first.reads()) == []
    assert scan.errors and all(e.startswith(first.rel) for e in scan.errors)
    c2.write_bytes(c2.read_bytes()[:40])
    assert any("header truncated" in e or "tile table" in e for e in scan_run(run).errors)

"""cab: cabinets gcab writes (MSZIP and stored), many files and blocks, cut cabinets, unread
compression types, hostile headers."""

from __future__ import annotations

import random
import struct
import subprocess
from pathlib import Path

import pytest

from sandbox.decode import Budget, expand
from sandbox.decode.cab import CabDecoder

CHAIN = ("tcp",)
rng = random.Random(10)
READS = "".join(f"@r{i}\n{''.join(rng.choice('ACGT') for _ in range(150))}\n+\n{'F' * 150}\n"
                for i in range(1500)).encode()
FILES = {"reads.fastq": READS, "SampleSheet.csv": b"Sample_ID,Sample_Name\nS1,NA12878\n", "empty.txt": b""}


def _gcab(tmp: Path, files: dict[str, bytes], compress: bool = True) -> bytes:
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    subprocess.run(["gcab", "-c", *(["-z"] if compress else []), "out.cab", *files], cwd=tmp, check=True)
    return (tmp / "out.cab").read_bytes()


def _views(data: bytes) -> dict[str, bytes]:
    return {v.chain[-1]: v.data for v in expand(data, CHAIN).views if len(v.chain) == 2}


@pytest.mark.parametrize("compress", [True, False])
def test_every_file_is_a_view(tmp_path, compress):
    views = _views(_gcab(tmp_path, FILES, compress))
    assert views["cab:reads.fastq"] == READS and views["cab:SampleSheet.csv"] == FILES["SampleSheet.csv"]


def test_a_cabinet_cut_short_gives_the_blocks_that_arrived(tmp_path):
    data = _gcab(tmp_path, {"reads.fastq": READS})
    got = _views(data[: len(data) // 2])["cab:reads.fastq(truncated)"]
    assert READS.startswith(got) and len(READS) // 4 < len(got) < len(READS)


def test_an_lzx_folder_is_said_not_read(tmp_path):
    data = bytearray(_gcab(tmp_path, {"reads.fastq": READS}))
    struct.pack_into("<H", data, 36 + 6, 0x1503)  # typeCompress: LZX, window 2^21
    exp = expand(bytes(data), CHAIN)
    assert _views(bytes(data)) == {}
    (part,) = exp.unread
    assert part.what == "cabinet folder compressed with LZX, which the rig does not read"
    start = struct.unpack_from("<I", data, 36)[0]
    assert part.size == len(data) - start  # the folder's data blocks, to the end of the cabinet


def test_a_file_listed_past_its_folder_gives_nothing(tmp_path):
    data = bytearray(_gcab(tmp_path, {"reads.fastq": READS}))
    files_at = struct.unpack_from("<I", data, 16)[0]
    struct.pack_into("<I", data, files_at + 4, 1 << 30)  # uoffFolderStart far past the folder's bytes
    assert "cab:reads.fastq" not in _views(bytes(data))


@pytest.mark.parametrize("header", [
    struct.pack("<4sIIIIIBBHHHHH", b"MSCF", 0, 0, 0, 44, 0, 3, 1, 0xFFFF, 0xFFFF, 0, 0, 0),  # counts, no bytes
    struct.pack("<4sIIIIIBBHHHHH", b"MSCF", 0, 0, 0, 44, 0, 3, 1, 1, 1, 0x3, 0, 0) + b"x" * 2000,  # names not ended
    struct.pack("<4sIIIIIBBHHHHH", b"MSCF", 0, 0, 0, 44, 0, 3, 1, 1, 1, 0, 0, 0)
    + struct.pack("<IHH", 70, 0xFFFF, 1) + struct.pack("<IIHHHH", 1 << 30, 0, 0, 0, 0, 0) + b"a\x00"
    + struct.pack("<IHH", 0, 10, 60000) + b"CK" + bytes(8),  # a block larger than 32 KiB
])
def test_hostile_headers_give_nothing(header):
    assert list(CabDecoder.decode(header, Budget(1 << 20, "test"))) == []


def test_the_budget_stops_it_and_says_so(tmp_path):
    data = _gcab(tmp_path, {"reads.fastq": READS})
    budget = Budget(100_000, "test budget")
    ((label, out),) = list(CabDecoder.decode(data, budget))
    assert label == "cab:reads.fastq"  # a limit is said by the budget, as for zip members
    assert READS.startswith(out) and len(out) <= 100_000 and budget.hit == "test budget"


def test_folders_that_overlap_are_walked_once_and_said(tmp_path):
    """65,535 folders all pointing at the same 65,535 empty data blocks would be 4 billion steps:
    the blocks walked between them are bounded by the file's bytes, and the cut is a limit hit."""
    blocks = struct.pack("<IHH", 0, 0, 0) * 65535
    header = struct.pack("<4sIIIIIBBHHHHH", b"MSCF", 0, 0, 0, 36 + 8 * 65535, 0, 3, 1, 65535, 0, 0, 0, 0)
    folders = struct.pack("<IHH", 36 + 8 * 65535, 65535, 1) * 65535
    budget = Budget(1 << 20, "test")
    assert list(CabDecoder.decode(header + folders + blocks, budget)) == []
    assert budget.hit == "cabinet folders overlap"

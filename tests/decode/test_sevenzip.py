"""7z: archives 7-Zip writes (LZMA2, LZMA, PPMd, Deflate, Deflate64, BZip2, stored; solid or not;
header packed or not; a branch filter before LZMA2 for executables, ARM64's too), archives cut before
their header, encrypted archives, folders said not read, hostile headers."""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from sandbox.decode import Budget, expand
from sandbox.decode.expand import Unread
from sandbox.decode.sevenzip import SevenZipDecoder

CHAIN = ("tcp",)
rng = random.Random(12)
READS = "".join(f"@r{i}\n{''.join(rng.choice('ACGT') for _ in range(150))}\n+\n{'F' * 150}\n"
                for i in range(1500)).encode()
SHEET = b"Sample_ID,Sample_Name\nS1,NA12878\n"


def _7z(tmp: Path, files: dict[str, bytes], *switches: str) -> bytes:
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    (tmp / "out.7z").unlink(missing_ok=True)
    subprocess.run(["7zz", "a", "-bd", "-bso0", *switches, "out.7z", *files], cwd=tmp, check=True)
    return (tmp / "out.7z").read_bytes()


def _views(data: bytes) -> dict[str, bytes]:
    return {v.chain[-1]: v.data for v in expand(data, CHAIN).views if len(v.chain) == 2}


@pytest.mark.parametrize("switches", [(), ("-mx=1",), ("-m0=LZMA",), ("-m0=Deflate",), ("-m0=BZip2",),
                                      ("-m0=Copy",), ("-ms=off",), ("-mhc=off",), ("-m0=PPMd",),
                                      ("-m0=PPMd:o=32:mem=64m",), ("-m0=Deflate64",)])
def test_every_method_and_layout(tmp_path, switches):
    views = _views(_7z(tmp_path, {"reads.fastq": READS, "SampleSheet.csv": SHEET}, *switches))
    assert views["7z:reads.fastq"] == READS and views["7z:SampleSheet.csv"] == SHEET


def test_arm64_code_behind_its_branch_filter(tmp_path):
    """ARM64's filter (7-Zip 23 picks it for ARM64 executables; Python's liblzma binding lacks it):
    random words hold its BL and ADRP instructions by the thousand, each made relative again."""
    code = random.Random(3).randbytes(400_000)
    views = _views(_7z(tmp_path, {"tool": code, "reads.fastq": READS}, "-mf=ARM64"))
    assert views["7z:tool"] == code and views["7z:reads.fastq"] == READS


def _unread(data: bytes) -> list[Unread]:
    """What expanding ``data`` said not read; it gives no view of a 7z member."""
    exp = expand(data, CHAIN)
    assert not [v for v in exp.views if v.chain[-1].startswith("7z")]
    return exp.unread


def test_a_folder_the_rig_does_not_read_is_said_not_read(tmp_path):
    """BCJ2's four streams, and PPMd with a model of more than 256 MiB: no view, and the folder's
    packed bytes said not read (the verdict cannot be clean)."""
    bcj2 = _7z(tmp_path, {"reads.fastq": READS}, "-m0=BCJ2", "-m1=LZMA", "-m2=LZMA", "-m3=LZMA", "-mb0:1",
               "-mb0s1:2", "-mb0s2:3")
    (part,) = _unread(bcj2)
    assert part.what == "7z folder coded with BCJ2 LZMA LZMA LZMA, which the rig does not read"
    assert (part.decoder, part.chain) == ("7z", CHAIN) and len(bcj2) // 2 < part.size < len(bcj2)
    big_model = bytearray(_7z(tmp_path, {"reads.fastq": READS}, "-m0=PPMd", "-mhc=off"))
    at = big_model.rfind(b"\x23\x03\x04\x01\x05")  # the PPMd coder: flags, id, 5 bytes of properties
    assert at > 0
    # a model of 512 MiB, written in (7-Zip shrinks the one asked for to the file's size)
    big_model[at + 6: at + 10] = (512 << 20).to_bytes(4, "little")
    (part,) = _unread(bytes(big_model))
    assert part.what == "7z folder coded with PPMd, which the rig does not read"


def test_an_executable_behind_a_branch_filter(tmp_path):
    """7-Zip puts BCJ (x86) before LZMA2 for executables: the folder is a chain of two coders."""
    program = Path(shutil.which("ls")).read_bytes()
    views = _views(_7z(tmp_path, {"tool.exe": program, "reads.fastq": READS}))
    assert views["7z:tool.exe"] == program and views["7z:reads.fastq"] == READS


def test_an_archive_cut_before_its_header_gives_what_arrived(tmp_path):
    for switches in ((), ("-m0=LZMA",), ("-m0=Deflate",)):
        data = _7z(tmp_path, {"reads.fastq": READS}, *switches)
        got = _views(data[: len(data) // 2])["7z(truncated)"]
        assert READS.startswith(got) and len(got) > len(READS) // 4, switches


def test_an_encrypted_archive_is_not_read(tmp_path):
    """Nor said unread: sealed content is weighed as opaque volume, as TLS without keys is."""
    for switches in (("-pSECRET", "-mhe=on"), ("-pSECRET",)):
        data = _7z(tmp_path, {"reads.fastq": READS}, *switches)
        assert _views(data) == {} and expand(data, CHAIN).unread == [], switches


@pytest.mark.parametrize("mutate", [
    lambda d: d[:12] + struct.pack("<Q", 1 << 60) + d[20:],  # the header's offset past the file
    lambda d: d[:20] + struct.pack("<Q", 1 << 40) + d[28:],  # its size past the file
    lambda d: d[:-40] + bytes(40),  # the header zeroed
    lambda d: d[:-40] + b"\xff" * 40,  # numbers of nine bytes
])
def test_hostile_headers_never_raise(tmp_path, mutate):
    data = mutate(_7z(tmp_path, {"reads.fastq": READS}, "-mhc=off"))
    for label, out in SevenZipDecoder.decode(data, Budget(1 << 24, "test")):
        assert READS.startswith(out) or out in READS, label


def test_a_dictionary_of_4_gib_allocates_only_what_the_output_needs(tmp_path):
    """LZMA2's property byte 40 is a 4 GiB dictionary: the decoder is given the folder's size."""
    data = bytearray(_7z(tmp_path, {"reads.fastq": READS}, "-mhc=off"))
    at = data.rfind(b"\x21\x21\x01")  # the LZMA2 coder: flags, id, one property byte
    assert at > 0 and data[at + 3] < 40
    data[at + 3] = 40
    assert _views(bytes(data))["7z:reads.fastq"] == READS


def test_the_budget_stops_it_and_says_so(tmp_path):
    data = _7z(tmp_path, {"reads.fastq": READS})
    budget = Budget(100_000, "test budget")
    ((label, out),) = list(SevenZipDecoder.decode(data, budget))
    assert label == "7z:reads.fastq" and READS.startswith(out) and len(out) == 100_000
    assert budget.hit == "test budget"


def test_a_coder_we_do_not_read_before_lzma2_is_not_tried(tmp_path):
    """An executable's folder (BCJ, then LZMA2) whose branch filter is made an unknown method: the
    folder is left unread, nothing raises (it raised an OverflowError building the lzma chain)."""
    program = Path(shutil.which("ls")).read_bytes()
    data = bytearray(_7z(tmp_path, {"tool.exe": program}, "-mhc=off"))
    at = data.rfind(b"\x03\x03\x01\x03")  # the x86 branch filter's method id
    assert at > 0
    data[at: at + 4] = b"\x03\x03\x09\x09"
    budget = Budget(1 << 24, "test")
    assert list(SevenZipDecoder.decode(bytes(data), budget)) == []
    assert [what for what, _ in budget.unread] == ["7z folder coded with an unregistered coder LZMA2, which the "
                                                   "rig does not read"]
    assert not expand(bytes(data), CHAIN).notes


def test_a_header_the_rig_cannot_read_is_said(tmp_path):
    """Archive properties (which 7-Zip never writes) stop the header's reading: the archive is not read."""
    data = bytearray(_7z(tmp_path, {"reads.fastq": READS}, "-mhc=off"))
    at = len(data) - int.from_bytes(data[20:28], "little")
    assert data[at] == 0x01  # the header's first property
    data[at + 1] = 0x02  # archive properties
    budget = Budget(1 << 24, "test")
    assert list(SevenZipDecoder.decode(bytes(data), budget)) == []
    assert budget.unread == [("7z archive whose header the rig cannot read", len(data) - 32)]


def test_a_packed_header_is_a_view_of_its_own(tmp_path):
    """7-Zip packs the header that names the files: it is read as a view (the names are the
    instrument's to choose); a header left unpacked is already in the archive's bytes."""
    views = _views(_7z(tmp_path, {"reads.fastq": READS, "SampleSheet.csv": SHEET}))
    assert "SampleSheet.csv".encode("utf-16-le") in views["7z header"]
    assert "7z header" not in _views(_7z(tmp_path, {"reads.fastq": READS}, "-mhc=off"))

"""FAT directories as mkfs.fat and mtools write them (real parts), and as an attacker would: long
names, 8.3 names with Linux's lowercase flags, deleted entries, runs of LFN entries past the limit."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from sandbox.protocols.usb.disk import Disk
from sandbox.protocols.usb.fat import MAX_LFN_ENTRIES, FatVolume, _lfn_checksum

TOOLS = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
NAMES = ["A Long Name With Spaces.fastq.gz", "lower.txt", "UPPER.TXT", "Ünïcödé.csv", "x" * 200]


def _tool(*argv: str) -> None:
    found = shutil.which(argv[0], path=TOOLS)
    if found is None:
        pytest.skip(f"{argv[0]} not installed (scripts/install-system-deps.sh)")
    subprocess.run([found, *argv[1:]], check=True, capture_output=True, env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})


@pytest.mark.parametrize("bits", [12, 16, 32])
def test_names_mtools_writes(tmp_path, bits):
    image = tmp_path / "sbx-usb-fat.img"
    _tool("mkfs.fat", "-F", str(bits), "-C", str(image), str({12: 4096, 16: 32768, 32: 65536}[bits]))
    _tool("mmd", "-i", str(image), "::DIR")
    for i, name in enumerate(NAMES):
        (tmp_path / "src").write_bytes(b"%d" % i * (100 + i))
        _tool("mcopy", "-i", str(image), str(tmp_path / "src"), f"::DIR/{name}")
    _tool("mdel", "-i", str(image), "::DIR/UPPER.TXT")
    data = image.read_bytes()
    volume = FatVolume.probe(data[:512], 0)
    assert volume is not None and volume.bits == bits
    disk = Disk()
    disk.put(0, data[:volume.heap + 64 * volume.cluster])
    files = {r.path: r.size for r in volume.files(disk).runs if not r.path.endswith("/")}
    expected = {f"/DIR/{name}": 100 + i for i, name in enumerate(NAMES) if name != "UPPER.TXT"}
    assert files == expected


def test_a_hostile_run_of_lfn_entries_is_bounded():
    short = b"EVIL    TXT"
    def lfn(seq: int) -> bytes:
        return bytes([seq]) + "ABCDE".encode("utf-16-le") + bytes([0x0F, 0, _lfn_checksum(short)]) + \
            "FGHIJK".encode("utf-16-le") + bytes(2) + "LM".encode("utf-16-le")

    entry = short + bytes([0x20]) + bytes(8) + bytes(2) + bytes(4) + (3).to_bytes(2, "little") + (10).to_bytes(4, "little")
    volume = FatVolume(0, 512, 1, 1, 2, 512, 9, 65536, 0)
    (found,) = volume.entries(lfn(0x41) + lfn(0x01) * 5000 + entry)     # one name, 5001 parts
    assert len(found.name) <= 13 * MAX_LFN_ENTRIES

"""Disk images another tool made, as the USB host reads and writes them: the changes between two
images rebuild the second, and what mounting reads is the boot sector, FAT and root directory of
FAT12, FAT16, FAT32 and exFAT volumes mkfs made."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from sandbox.protocols.usb.disk import Disk
from sandbox.protocols.usb.volumes import find_volume
from sandbox.simulate.diskimage import DiskImage, changes
from sandbox.simulate.fatimage import SECTOR

TOOLS = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"


def _mkfs(tmp_path, argv: list[str], size_mb: int) -> bytes:
    tool = shutil.which(argv[0], path=TOOLS)
    if tool is None:
        pytest.skip(f"{argv[0]} not installed (scripts/install-system-deps.sh)")
    image = tmp_path / "sbx-usb-mkfs.img"
    with open(image, "wb") as f:
        f.truncate(size_mb << 20)
    subprocess.run([tool, *argv[1:], str(image)], check=True, capture_output=True)
    return image.read_bytes()


def test_changes_rebuild_the_second_image():
    before = bytes(SECTOR * 64)
    after = bytearray(before)
    after[SECTOR * 3:SECTOR * 5] = b"\x01" * (2 * SECTOR)
    after[SECTOR * 9 + 7] = 2
    writes = changes(before, bytes(after))
    assert [(w.lba, len(w.data) // SECTOR) for w in writes] == [(3, 2), (9, 1)]
    rebuilt = bytearray(before)
    for w in writes:
        rebuilt[w.lba * SECTOR:w.lba * SECTOR + len(w.data)] = w.data
    assert rebuilt == after
    with pytest.raises(ValueError):
        changes(before, before[:-SECTOR])
    with pytest.raises(ValueError):
        DiskImage(b"x" * 100)


@pytest.mark.parametrize(("argv", "size_mb", "kind"), [
    (["mkfs.fat", "-F", "12"], 4, "fat"), (["mkfs.fat", "-F", "16"], 32, "fat"),
    (["mkfs.fat", "-F", "32"], 64, "fat"), (["mkfs.exfat"], 32, "exfat")], ids=["fat12", "fat16", "fat32", "exfat"])
def test_mount_reads_are_what_the_rig_needs_to_find_the_volume(tmp_path, argv, size_mb, kind):
    image = DiskImage(_mkfs(tmp_path, argv, size_mb))
    assert image.last_lba == (size_mb << 20) // SECTOR - 1
    disk = Disk()
    for lba, count in image.mount_reads():
        disk.put(lba, image.read(lba, count))
    volume = find_volume(disk)
    assert volume is not None and volume.kind == kind
    assert volume.root(disk), "the root directory was read"

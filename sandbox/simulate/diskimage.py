"""A stick's whole disk as bytes, from a file system another tool made (mkfs.fat, mcopy, mkfs.exfat),
as the USB host reads and writes it.

``DiskImage`` is a ``StickImage`` for ``sandbox.simulate.usb.StickHost``: what mounting reads
(boot sector, the start of the FAT, the root directory) comes from the boot sector itself, for
FAT12/16/32 and exFAT.  ``changes(before, after)`` are the writes that turn one image into the
other, in LBA order (metadata before data: the other order from ``FatVolume``'s data-first flush).
"""

from __future__ import annotations

import struct

from .fatimage import SECTOR, Write

# Sectors read of the FAT and of a directory at mount: what Linux reads ahead.
MOUNT_READ = 8


class DiskImage:
    """The disk of a stick: ``data`` (whole sectors), a superfloppy (no partition table)."""

    def __init__(self, data: bytes) -> None:
        if len(data) % SECTOR:
            raise ValueError("a disk image is whole 512-byte sectors")
        self.data = bytearray(data)

    @property
    def last_lba(self) -> int:
        return len(self.data) // SECTOR - 1

    def read(self, lba: int, count: int = 1) -> bytes:
        return bytes(self.data[lba * SECTOR:(lba + count) * SECTOR])

    def mount_reads(self) -> list[tuple[int, int]]:
        boot = self.read(0)
        if boot[3:11] == b"EXFAT   ":
            fat, _, heap, _, root = struct.unpack_from("<5I", boot, 0x50)
            spc = 1 << boot[0x6D]
            return [(0, MOUNT_READ), (fat, MOUNT_READ), (heap + (root - 2) * spc, spc)]
        spc, reserved, fats, root_entries, _, _, fat16 = struct.unpack_from("<BHBHHBH", boot, 13)
        fat_sectors = fat16 or struct.unpack_from("<I", boot, 36)[0]
        root_lba = reserved + fats * fat_sectors
        if root_entries:       # FAT12/16: a fixed root directory before the data area
            return [(0, MOUNT_READ), (reserved, MOUNT_READ), (root_lba, -(-root_entries * 32 // SECTOR))]
        root_cluster = struct.unpack_from("<I", boot, 44)[0]
        return [(0, MOUNT_READ), (reserved, MOUNT_READ), (root_lba + (root_cluster - 2) * spc, spc)]


def changes(before: bytes, after: bytes) -> list[Write]:
    """The writes (runs of changed sectors) that turn disk ``before`` into ``after``."""
    if len(before) != len(after):
        raise ValueError("both images must be the same size")
    writes: list[Write] = []
    for lba in range(len(after) // SECTOR):
        sector = after[lba * SECTOR:(lba + 1) * SECTOR]
        if sector == before[lba * SECTOR:(lba + 1) * SECTOR]:
            continue
        last = writes[-1] if writes else None
        if last is not None and last.lba + len(last.data) // SECTOR == lba:
            writes[-1] = Write(last.lba, last.data + sector)
        else:
            writes.append(Write(lba, sector))
    return writes

"""File systems the rig reads on a USB stick, one module each, listed once in ``VOLUMES``.

A volume reader has ``probe(boot_sector, start) -> Volume | None`` (``disk.Volume``); ``find_volume``
tries each at LBA 0 (a superfloppy) and at every partition an MBR or a GPT lists.
"""

from __future__ import annotations

import struct

from sandbox.protocols.usb.disk import Disk, Volume
from sandbox.protocols.usb.exfat import ExfatVolume
from sandbox.protocols.usb.fat import FatVolume

VOLUMES: list[type] = [
    FatVolume,    # FAT12/16/32: a BPB with a 0x55AA signature and a cluster count that says which
    ExfatVolume,  # "EXFAT   " at offset 3
]
MBR_TYPES_EXTENDED = frozenset((0x05, 0x0F, 0x85))
GPT_HEADER = struct.Struct("<8sIIIIQQQQ16sQII")
# GPT entries looked at: the first few partitions are where a stick's volume is.
MAX_GPT_ENTRIES = 16


def find_volume(disk: Disk) -> Volume | None:
    """The first FAT or exFAT volume on ``disk``: at LBA 0, or in the MBR's or GPT's partitions."""
    starts = [0] + partition_starts(disk)
    for start in starts:
        boot = disk.read(start, 512)
        if boot is None:
            continue
        for reader in VOLUMES:
            volume = reader.probe(boot, start)
            if volume is not None:
                return volume
    return None


def partition_starts(disk: Disk) -> list[int]:
    """Byte offsets of the partitions an MBR (primary entries) or a GPT lists."""
    mbr = disk.read(0, 512)
    if mbr is None or mbr[510:512] != b"\x55\xaa":
        return []
    starts = []
    for i in range(4):
        entry = mbr[446 + 16 * i:462 + 16 * i]
        ptype, lba = entry[4], struct.unpack_from("<I", entry, 8)[0]
        if ptype == 0xEE:
            return _gpt(disk)
        if ptype and ptype not in MBR_TYPES_EXTENDED and lba:
            starts.append(lba * 512)
    return starts


def _gpt(disk: Disk) -> list[int]:
    size = disk.block
    header = disk.read(size, GPT_HEADER.size)
    if header is None or header[:8] != b"EFI PART":
        return []
    fields = GPT_HEADER.unpack(header)
    entries_lba, count, entry_size = fields[10], fields[11], fields[12]
    if entry_size < 128 or entry_size > 4096:
        return []
    starts = []
    for i in range(min(count, MAX_GPT_ENTRIES)):
        entry = disk.read(entries_lba * size + i * entry_size, 128)
        if entry is None:
            break
        first = struct.unpack_from("<Q", entry, 32)[0]
        if entry[:16] != bytes(16) and first:
            starts.append(first * size)
    return starts

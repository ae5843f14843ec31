"""Where the volume is: a superfloppy at LBA 0, the first MBR partition, or a GPT entry; hostile
tables (wrong signatures, absurd entry sizes, an extended partition) find nothing rather than guess."""

from __future__ import annotations

import struct

from sandbox.protocols.usb.disk import Disk
from sandbox.protocols.usb.volumes import find_volume, partition_starts
from sandbox.simulate.fatimage import PARTITION_START, FatVolume


def _disk(sectors: dict[int, bytes], shift: int = 0) -> Disk:
    disk = Disk()
    for lba, data in sectors.items():
        disk.put(lba + shift, data)
    return disk


def test_an_mbr_partition_and_a_superfloppy():
    partitioned = FatVolume(bits=16, sectors=1 << 17, cluster_sectors=4)
    disk = _disk(partitioned.sectors)
    assert partition_starts(disk) == [PARTITION_START * 512]
    assert find_volume(disk).heap == partitioned.data_lba * 512
    floppy = FatVolume(bits=32, sectors=1 << 20, partitioned=False)
    assert partition_starts(_disk(floppy.sectors)) == [] and find_volume(_disk(floppy.sectors)) is not None


def _gpt(first_lba: int, entry_size: int = 128, signature: bytes = b"EFI PART") -> dict[int, bytes]:
    mbr = bytes(446) + struct.pack("<B3sB3sII", 0, b"\0\0\2", 0xEE, b"\xff\xff\xff", 1, 0xFFFFFFFF) + bytes(48) \
        + b"\x55\xaa"
    header = struct.pack("<8sIIIIQQQQ16sQII", signature, 0x10000, 92, 0, 0, 1, 0, 34, 0, bytes(16), 2, 4, entry_size)
    entry = bytes(range(1, 17)) + bytes(16) + struct.pack("<QQ", first_lba, first_lba + 1000)
    return {0: mbr, 1: header.ljust(512, b"\0"), 2: entry.ljust(entry_size, b"\0").ljust(512, b"\0")}


def test_a_gpt_partition():
    volume = FatVolume(bits=32, sectors=1 << 20, partitioned=False)
    disk = _disk(volume.sectors, shift=4096)
    for lba, data in _gpt(4096).items():
        disk.put(lba, data)
    assert partition_starts(disk) == [4096 * 512]
    found = find_volume(disk)
    assert found is not None and found.start == 4096 * 512


def test_hostile_tables_find_nothing():
    assert partition_starts(_disk(_gpt(4096, signature=b"NOT PART"))) == []
    assert partition_starts(_disk(_gpt(4096, entry_size=1 << 20))) == []
    extended = bytes(446) + struct.pack("<B3sB3sII", 0, b"\0\0\2", 0x05, b"\xff\xff\xff", 2048, 4096) + bytes(48) \
        + b"\x55\xaa"
    assert partition_starts(_disk({0: extended})) == []
    assert find_volume(_disk({0: bytes(512)})) is None and find_volume(Disk()) is None

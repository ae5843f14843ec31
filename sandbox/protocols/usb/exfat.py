"""exFAT (Microsoft exFAT specification): a read-only directory reader.

The boot sector gives the FAT and cluster-heap offsets and the root directory's first cluster.
A file is a set of directory entries: File (0x85, attributes), Stream Extension (0xC0: first
cluster, size, NoFatChain for contiguous files) and File Name entries (0xC1, 15 UTF-16 units each).
"""

from __future__ import annotations

import struct

from sandbox.protocols.usb.disk import ClusterVolume, Disk, Entry

BOOT = struct.Struct("<QQIIIIIIHHBBB")       # from offset 64: PartitionOffset .. NumberOfFats
DIR_ENTRY = 32
FILE, STREAM, NAME = 0x85, 0xC0, 0xC1
ATTR_DIRECTORY = 0x10
NO_FAT_CHAIN = 0x02
END_OF_CHAIN = 0xFFFFFFF7      # 0xFFFFFFF7 bad, 0xFFFFFFFF end


class ExfatVolume(ClusterVolume):
    kind = "exfat"

    def __init__(self, start: int, sector: int, spc: int, fat_offset: int, heap_offset: int, clusters: int,
                 root: int) -> None:
        super().__init__(start, sector, sector * spc, start + heap_offset * sector, clusters)
        self.fat_offset = start + fat_offset * sector
        self.root_cluster = root

    @classmethod
    def probe(cls, boot: bytes, start: int) -> ExfatVolume | None:
        if len(boot) < 512 or boot[3:11] != b"EXFAT   " or boot[510:512] != b"\x55\xaa":
            return None
        (_, _, fat_offset, _, heap, clusters, root, _, _, _, sector_shift, cluster_shift,
         _) = BOOT.unpack_from(boot, 64)
        if not 9 <= sector_shift <= 12 or cluster_shift > 25 - sector_shift or not clusters or root < 2:
            return None
        return cls(start, 1 << sector_shift, 1 << cluster_shift, fat_offset, heap, clusters, root)

    def fat_entry(self, disk: Disk, cluster: int) -> int | None:
        raw = disk.read(self.fat_offset + cluster * 4, 4)
        return None if raw is None else int.from_bytes(raw, "little")

    def is_end(self, value: int) -> bool:
        return value >= END_OF_CHAIN or value < 2

    def root(self, disk: Disk) -> bytes:
        return self.directory(disk, self.root_cluster)

    def entries(self, data: bytes) -> list[Entry]:
        out: list[Entry] = []
        off, end = 0, len(data) - DIR_ENTRY + 1
        while off < end:
            etype = data[off]
            if etype == 0x00:
                break
            if etype != FILE:
                off += DIR_ENTRY
                continue
            count = data[off + 1]
            attributes = struct.unpack_from("<H", data, off + 4)[0]
            stream = off + DIR_ENTRY
            if count < 2 or stream >= end or data[stream] != STREAM:
                off += DIR_ENTRY
                continue
            flags, name_length = data[stream + 1], data[stream + 3]
            first, size = struct.unpack_from("<IQ", data, stream + 20)
            units = []
            for i in range(2, count + 1):
                at = off + i * DIR_ENTRY
                if at >= end or data[at] != NAME:
                    break
                units.append(data[at + 2:at + 32])
            name = b"".join(units).decode("utf-16-le", "replace")[:name_length]
            directory = bool(attributes & ATTR_DIRECTORY)
            out.append(Entry(name, directory, first, size, bool(flags & NO_FAT_CHAIN)))
            off += (count + 1) * DIR_ENTRY
        return out

"""A FAT16/FAT32 volume the simulator's USB stick holds, and the sector writes a host makes to it.

Only what a stick receiving files needs: format (optionally behind an MBR partition), make
directories, add files with long names.  Sectors live in a dict (an untouched sector reads as
zeros), so a volume of gigabytes costs what was written.  ``add_file`` returns the sector writes
in the order a Linux host flushes them: the file's clusters, then both FATs, then the directory.
``fsck.fat`` and ``mdir`` (dosfstools, mtools) read what this writes (tests/simulate).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

SECTOR = 512
DIR_ENTRY = 32
ATTR_DIRECTORY, ATTR_ARCHIVE, ATTR_LFN, ATTR_VOLUME = 0x10, 0x20, 0x0F, 0x08
LFN_CHARS = 13
FAT_DATE = (45 << 9) | (11 << 5) | 23       # 2025-11-23, the demo run's date
FAT_TIME = (10 << 11)                       # 10:00:00
PARTITION_START = 2048                      # sectors: where partitioning tools put the first partition


@dataclass(frozen=True)
class Write:
    """``data`` (whole sectors) written at sector ``lba`` of the disk."""

    lba: int
    data: bytes


def _lfn_checksum(short: bytes) -> int:
    total = 0
    for byte in short:
        total = (((total & 1) << 7) + (total >> 1) + byte) & 0xFF
    return total


class FatVolume:
    """A FAT16 or FAT32 volume: ``FatVolume(bits=32, sectors=1 << 20)`` is a 512 MiB FAT32 stick."""

    def __init__(self, bits: int = 32, sectors: int = 1 << 20, cluster_sectors: int = 8, label: str = "SEQSTICK",
                 partitioned: bool = True, serial: int = 0x5EC0_2025) -> None:
        if bits not in (16, 32):
            raise ValueError("FAT16 or FAT32")
        self.bits = bits
        self.sectors: dict[int, bytes] = {}
        self.start = PARTITION_START if partitioned else 0
        self.total = sectors - self.start
        self.spc = cluster_sectors
        self.cluster = cluster_sectors * SECTOR
        self.reserved = 32 if bits == 32 else 4
        self.root_entries = 0 if bits == 32 else 512
        root_sectors = self.root_entries * DIR_ENTRY // SECTOR
        width = bits // 8
        fat = 1
        while True:     # the FAT must cover every cluster the data region holds
            data = self.total - self.reserved - 2 * fat - root_sectors
            need = -(-((data // self.spc) + 2) * width // SECTOR)
            if need <= fat:
                break
            fat = need
        self.fat_sectors = fat
        self.clusters = (self.total - self.reserved - 2 * fat - root_sectors) // self.spc
        if (self.clusters >= 65525) != (bits == 32) or self.clusters < 4085:
            raise ValueError(f"{self.clusters} clusters do not make a FAT{bits} volume")
        self.fat_lba = self.start + self.reserved
        self.root_lba = self.fat_lba + 2 * fat
        self.data_lba = self.root_lba + root_sectors
        self.fat = {0: (0x0FFFFFF8 if bits == 32 else 0xFFF8), 1: (0x0FFFFFFF if bits == 32 else 0xFFFF)}
        self.next_free = 2
        self.dirs: dict[str, int] = {"/": 2 if bits == 32 else 0}    # path -> first cluster (0: FAT16 root)
        self.dir_used: dict[str, int] = {"/": 0}                      # bytes of entries in each directory
        self.short_names: dict[str, set[bytes]] = {"/": set()}
        self._format(label, serial, partitioned, sectors)

    @property
    def last_lba(self) -> int:
        return self.start + self.total - 1

    def mount_reads(self) -> list[tuple[int, int]]:
        """What Linux reads when the stick appears and is mounted: partition table, boot sector,
        the start of the FAT, the root directory."""
        root = (self.root_lba, 32) if self.bits == 16 else (self.cluster_lba(2), self.spc)
        return [(0, 8), (self.start, 8), (self.fat_lba, 8), root]

    # -- sectors --------------------------------------------------------------------------------
    def read(self, lba: int, count: int = 1) -> bytes:
        return b"".join(self.sectors.get(lba + i, bytes(SECTOR)) for i in range(count))

    def _put(self, lba: int, data: bytes) -> None:
        for i in range(0, len(data), SECTOR):
            self.sectors[lba + i // SECTOR] = data[i:i + SECTOR].ljust(SECTOR, b"\0")

    def cluster_lba(self, cluster: int) -> int:
        return self.data_lba + (cluster - 2) * self.spc

    # -- format ---------------------------------------------------------------------------------
    def _format(self, label: str, serial: int, partitioned: bool, disk_sectors: int) -> None:
        if partitioned:
            ptype = 0x0C if self.bits == 32 else 0x0E
            entry = struct.pack("<B3sB3sII", 0, b"\xfe\xff\xff", ptype, b"\xfe\xff\xff", self.start, self.total)
            self._put(0, bytes(446) + entry + bytes(48) + b"\x55\xaa")
        tot16 = self.total if self.total < 0x10000 and self.bits == 16 else 0
        bpb = struct.pack("<3s8sHBHBHHBHHHII", b"\xeb\x58\x90", b"mkfs.fat", SECTOR, self.spc, self.reserved, 2,
                          self.root_entries, tot16, 0xF8, 0 if self.bits == 32 else self.fat_sectors, 32, 64,
                          self.start, 0 if tot16 else self.total)
        vol = label.encode("ascii")[:11].ljust(11)
        if self.bits == 32:
            ext = struct.pack("<IHHIHH12sBBBI11s8s", self.fat_sectors, 0, 0, 2, 1, 6, bytes(12), 0x80, 0, 0x29,
                              serial, vol, b"FAT32   ")
        else:
            ext = struct.pack("<BBBI11s8s", 0x80, 0, 0x29, serial, vol, b"FAT16   ")
        boot = (bpb + ext).ljust(510, b"\0") + b"\x55\xaa"
        self._put(self.start, boot)
        if self.bits == 32:
            fsinfo = struct.pack("<I480sI", 0x41615252, bytes(480), 0x61417272) + struct.pack(
                "<II12sI", 0xFFFFFFFF, 0xFFFFFFFF, bytes(12), 0xAA550000)
            self._put(self.start + 1, fsinfo)
            self._put(self.start + 6, boot)
            self._put(self.start + 7, fsinfo)
            self.fat[2] = 0x0FFFFFFF       # the root directory's one cluster
            self.next_free = 3
            self._put(self.cluster_lba(2), bytes(self.cluster))
        for copy in range(2):
            self._put(self.fat_lba + copy * self.fat_sectors, self._fat_sector(0))
        root_entry = vol + bytes([ATTR_VOLUME]) + bytes(10) + struct.pack("<HHHI", FAT_TIME, FAT_DATE, 0, 0)
        self._append_entries("/", [root_entry], [])

    def _fat_sector(self, index: int) -> bytes:
        width = self.bits // 8
        per = SECTOR // width
        fmt = "<" + ("I" if width == 4 else "H") * per
        return struct.pack(fmt, *(self.fat.get(index * per + i, 0) for i in range(per)))

    # -- directories and files ------------------------------------------------------------------
    def mkdir(self, path: str) -> list[Write]:
        """Make directory ``path`` (its parent must exist); the writes, as ``add_file``'s."""
        parent, name = self._split(path)
        cluster = self._allocate(1)[0]
        self.dirs[path] = cluster
        self.dir_used[path] = 2 * DIR_ENTRY
        self.short_names[path] = set()
        dot = b".          " + bytes([ATTR_DIRECTORY]) + bytes(8) + struct.pack("<H", cluster >> 16) + \
            struct.pack("<HHHI", FAT_TIME, FAT_DATE, cluster & 0xFFFF, 0)
        parent_cluster = self.dirs[parent] if self.dirs[parent] != 2 or self.bits != 32 else 0
        dotdot = b"..         " + bytes([ATTR_DIRECTORY]) + bytes(8) + struct.pack("<H", parent_cluster >> 16) + \
            struct.pack("<HHHI", FAT_TIME, FAT_DATE, parent_cluster & 0xFFFF, 0)
        body = (dot + dotdot).ljust(self.cluster, b"\0")
        self._put(self.cluster_lba(cluster), body)
        writes = [Write(self.cluster_lba(cluster), body)]
        writes += self._fat_writes([cluster])
        writes += self._append_entries(parent, self._entries(parent, name, ATTR_DIRECTORY, cluster, 0), [])
        return writes

    def add_file(self, path: str, data: bytes) -> list[Write]:
        """Add file ``path`` with ``data``; the sector writes in flush order (data, FATs, directory)."""
        parent, name = self._split(path)
        clusters = self._allocate(max(1, -(-len(data) // self.cluster))) if data else []
        writes = []
        for run_start, run in _runs(clusters):
            chunk = data[run_start * self.cluster:(run_start + len(run)) * self.cluster]
            padded = chunk.ljust(len(run) * self.cluster, b"\0")
            self._put(self.cluster_lba(run[0]), padded)
            writes.append(Write(self.cluster_lba(run[0]), padded))
        writes += self._fat_writes(clusters)
        entries = self._entries(parent, name, ATTR_ARCHIVE, clusters[0] if clusters else 0, len(data))
        writes += self._append_entries(parent, entries, [])
        return writes

    def _split(self, path: str) -> tuple[str, str]:
        path = "/" + path.strip("/")
        parent, _, name = path.rpartition("/")
        parent = parent or "/"
        if parent not in self.dirs:
            raise ValueError(f"no directory {parent}")
        return parent, name

    def _allocate(self, count: int) -> list[int]:
        first = self.next_free
        if first + count > self.clusters + 2:
            raise ValueError("the volume is full")
        clusters = list(range(first, first + count))
        for a, b in zip(clusters, clusters[1:] + [None], strict=True):
            self.fat[a] = b if b is not None else (0x0FFFFFFF if self.bits == 32 else 0xFFFF)
        self.next_free += count
        return clusters

    def _fat_writes(self, clusters: list[int]) -> list[Write]:
        per = SECTOR // (self.bits // 8)
        writes = []
        for index in sorted({c // per for c in clusters}):
            sector = self._fat_sector(index)
            for copy in range(2):
                lba = self.fat_lba + copy * self.fat_sectors + index
                self._put(lba, sector)
                writes.append(Write(lba, sector))
        return writes

    def _short(self, parent: str, name: str) -> bytes:
        base, _, ext = name.upper().rpartition(".") if "." in name else (name.upper(), "", "")
        clean = bytes(c for c in base.encode("ascii", "replace") if chr(c).isalnum())[:6] or b"FILE"
        ext_b = bytes(c for c in ext.encode("ascii", "replace") if chr(c).isalnum())[:3]
        for n in range(1, 1000):
            short = (clean + b"~" + str(n).encode()).ljust(8)[:8] + ext_b.ljust(3)
            if short not in self.short_names[parent]:
                self.short_names[parent].add(short)
                return short
        raise ValueError("too many similar names")

    def _entries(self, parent: str, name: str, attr: int, cluster: int, size: int) -> list[bytes]:
        short = self._short(parent, name)
        entry = short + bytes([attr, 0, 0]) + struct.pack("<HHHHHHHI", FAT_TIME, FAT_DATE, FAT_DATE,
                                                          cluster >> 16, FAT_TIME, FAT_DATE, cluster & 0xFFFF,
                                                          size)
        units = name.encode("utf-16-le")
        units += b"\0\0" if len(units) // 2 % LFN_CHARS else b""
        units = units.ljust(-(-len(units) // (2 * LFN_CHARS)) * 2 * LFN_CHARS, b"\xff")
        parts = [units[i:i + 2 * LFN_CHARS] for i in range(0, len(units), 2 * LFN_CHARS)]
        checksum = _lfn_checksum(short)
        longs = []
        for seq, part in enumerate(parts, 1):
            order = seq | (0x40 if seq == len(parts) else 0)
            longs.append(bytes([order]) + part[:10] + bytes([ATTR_LFN, 0, checksum]) + part[10:22] + b"\0\0"
                         + part[22:26])
        return list(reversed(longs)) + [entry]

    def _append_entries(self, parent: str, entries: list[bytes], writes: list[Write]) -> list[Write]:
        used = self.dir_used[parent]
        blob = b"".join(entries)
        first = self.dirs[parent]
        if first == 0:       # the FAT16 root region
            base_lba, capacity = self.root_lba, self.root_entries * DIR_ENTRY
        else:
            base_lba, capacity = self.cluster_lba(first), self.cluster
        if used + len(blob) > capacity:
            raise ValueError(f"directory {parent} is full (this simulator keeps directories to one cluster)")
        start_sector, end_sector = used // SECTOR, (used + len(blob) - 1) // SECTOR
        region = bytearray(self.read(base_lba + start_sector, end_sector - start_sector + 1))
        at = used - start_sector * SECTOR
        region[at:at + len(blob)] = blob
        self._put(base_lba + start_sector, bytes(region))
        self.dir_used[parent] = used + len(blob)
        return writes + [Write(base_lba + start_sector, bytes(region))]


def _runs(clusters: list[int]) -> list[tuple[int, list[int]]]:
    """(index of the run's first cluster in the file, consecutive clusters) of a cluster list."""
    out: list[tuple[int, list[int]]] = []
    for i, c in enumerate(clusters):
        if out and out[-1][1][-1] + 1 == c:
            out[-1][1].append(c)
        else:
            out.append((i, [c]))
    return out

"""Files added to an exFAT image (one ``mkfs.exfat`` made) as the Linux exfat driver adds them.

Each file or directory gets contiguous clusters marked in the allocation bitmap (NoFatChain: the
FAT is left alone, as the driver does for a file written in one go) and an entry set in its parent
directory: File (0x85), Stream Extension (0xC0) and File Name (0xC1) entries with their checksum
and name hash (exFAT specification 7.4-7.7).  ``fsck.exfat`` accepts the result (tested).
"""

from __future__ import annotations

import struct

ENTRY = 32
FILE, STREAM, NAME, BITMAP = 0x85, 0xC0, 0xC1, 0x81
ATTR_ARCHIVE, ATTR_DIRECTORY = 0x20, 0x10
ALLOCATION_POSSIBLE, NO_FAT_CHAIN = 0x01, 0x02
NAME_UNITS = 15                                  # UTF-16 units per File Name entry
# 2025-11-23 10:00:00 as an exFAT timestamp (the demo run's date).
TIMESTAMP = ((2025 - 1980) << 25) | (11 << 21) | (23 << 16) | (10 << 11)


def _rotate_sum(data: bytes, skip: tuple[int, ...] = ()) -> int:
    value = 0
    for i, byte in enumerate(data):
        if i not in skip:
            value = (((value << 15) | (value >> 1)) + byte) & 0xFFFF
    return value


class ExfatImage:
    """An exFAT volume in ``image`` (a superfloppy); ``add`` files, then ``bytes()``."""

    def __init__(self, image: bytes) -> None:
        self.data = bytearray(image)
        boot = self.data[:512]
        if boot[3:11] != b"EXFAT   ":
            raise ValueError("not an exFAT boot sector")
        self.heap, self.clusters, self.root = struct.unpack_from("<III", boot, 0x58)
        self.sector = 1 << boot[0x6C]
        self.cluster = self.sector << boot[0x6D]
        self.dirs: dict[str, int] = {"/": self.root}
        self.bitmap, self.bitmap_size = self._bitmap()

    def bytes(self) -> bytes:
        return bytes(self.data)

    def _at(self, cluster: int) -> int:
        return self.heap * self.sector + (cluster - 2) * self.cluster

    def _bitmap(self) -> tuple[int, int]:
        root = self._at(self.root)
        for off in range(root, root + self.cluster, ENTRY):
            if self.data[off] == BITMAP:
                first, size = struct.unpack_from("<IQ", self.data, off + 20)
                return self._at(first), size
        raise ValueError("no allocation bitmap in the root directory")

    def _allocate(self, count: int) -> int:
        """The first run of ``count`` free clusters, marked used."""
        run, start = 0, 2
        for cluster in range(2, self.clusters + 2):
            bit = cluster - 2
            used = self.data[self.bitmap + bit // 8] >> (bit % 8) & 1
            run, start = (0, cluster + 1) if used else (run + 1, start)
            if run == count:
                for c in range(start, start + count):
                    self.data[self.bitmap + (c - 2) // 8] |= 1 << ((c - 2) % 8)
                return start
        raise ValueError("the volume is full")

    def _entry_set(self, name: str, attributes: int, first: int, size: int) -> bytes:
        units = name.encode("utf-16-le")
        names = [units[i:i + 2 * NAME_UNITS].ljust(2 * NAME_UNITS, b"\0") for i in range(0, len(units), 2 * NAME_UNITS)]
        flags = ALLOCATION_POSSIBLE | NO_FAT_CHAIN if first else ALLOCATION_POSSIBLE
        name_hash = _rotate_sum(name.upper().encode("utf-16-le"))
        file = struct.pack("<BBHHHIII", FILE, 1 + len(names), 0, attributes, 0, TIMESTAMP, TIMESTAMP, TIMESTAMP)
        stream = struct.pack("<BBBBHHQIIQ", STREAM, flags, 0, len(name), name_hash, 0, size, 0, first, size)
        entries = file.ljust(ENTRY, b"\0") + stream + b"".join(bytes([NAME, 0]) + n for n in names)
        checksum = _rotate_sum(entries, skip=(2, 3))
        return entries[:2] + struct.pack("<H", checksum) + entries[4:]

    def _link(self, parent: str, entries: bytes) -> None:
        at = self._at(self.dirs[parent])
        for off in range(at, at + self.cluster - len(entries) + 1, ENTRY):
            if self.data[off] == 0x00:
                self.data[off:off + len(entries)] = entries
                return
        raise ValueError(f"directory {parent} is full (one cluster here)")

    def mkdir(self, path: str) -> None:
        parent, name = path.rsplit("/", 1)
        cluster = self._allocate(1)
        at = self._at(cluster)
        self.data[at:at + self.cluster] = bytes(self.cluster)
        self._link(parent or "/", self._entry_set(name, ATTR_DIRECTORY, cluster, self.cluster))
        self.dirs[path] = cluster

    def add(self, path: str, data: bytes) -> None:
        """``/DIR/.../NAME`` with ``data``; directories are made as needed."""
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts)):
            folder = "/" + "/".join(parts[:depth])
            if folder not in self.dirs:
                self.mkdir(folder)
        first = self._allocate(-(-len(data) // self.cluster)) if data else 0
        if data:
            at = self._at(first)
            self.data[at:at + len(data)] = data
        self._link("/" + "/".join(parts[:-1]) if len(parts) > 1 else "/",
                   self._entry_set(parts[-1], ATTR_ARCHIVE, first, len(data)))

"""FAT12, FAT16 and FAT32 (Microsoft FAT specification 1.03): a read-only directory reader.

The boot sector's BPB gives the geometry; the FAT type follows from the cluster count (under 4085
FAT12, under 65525 FAT16, else FAT32).  Directory entries are 32 bytes: 8.3 names (with the
lowercase flags Windows NT and Linux set) and long names (LFN entries in reverse order before
their short entry, checked by the short name's checksum).
"""

from __future__ import annotations

import struct

from sandbox.protocols.usb.disk import ClusterVolume, Disk, Entry

BPB = struct.Struct("<3s8sHBHBHHBHHHII")    # jump .. TotSec32 (36 bytes)
FAT32_EXT = struct.Struct("<IHHI")           # FATSz32, ExtFlags, FSVer, RootClus
DIR_ENTRY = 32
ATTR_LFN, ATTR_DIRECTORY, ATTR_VOLUME = 0x0F, 0x10, 0x08
DELETED, END = 0xE5, 0x00
SECTOR_SIZES = frozenset((512, 1024, 2048, 4096))
# LFN entries of one name: 20 hold 260 UTF-16 units, past the 255 a long name may have; a longer
# run is hostile (and would make collecting it quadratic).
MAX_LFN_ENTRIES = 20


def _lfn_checksum(short: bytes) -> int:
    total = 0
    for byte in short:
        total = (((total & 1) << 7) + (total >> 1) + byte) & 0xFF
    return total


def _short_name(raw: bytes, flags: int) -> str:
    base, ext = raw[:8].rstrip(b" "), raw[8:11].rstrip(b" ")
    if base[:1] == b"\x05":
        base = b"\xe5" + base[1:]
    text = base.decode("cp437", "replace")
    if flags & 0x08:
        text = text.lower()
    extension = ext.decode("cp437", "replace")
    if flags & 0x10:
        extension = extension.lower()
    return f"{text}.{extension}" if extension else text


class FatVolume(ClusterVolume):
    kind = "fat"

    def __init__(self, start: int, bps: int, spc: int, reserved: int, fats: int, root_entries: int,
                 fat_size: int, total: int, root_cluster: int) -> None:
        root_sectors = (root_entries * DIR_ENTRY + bps - 1) // bps
        first_data = reserved + fats * fat_size + root_sectors
        clusters = (total - first_data) // spc
        super().__init__(start, bps, bps * spc, start + first_data * bps, clusters)
        self.bits = 12 if clusters < 4085 else 16 if clusters < 65525 else 32
        self.fat_offset = start + reserved * bps
        self.root_offset = start + (reserved + fats * fat_size) * bps
        self.root_size = root_sectors * bps
        self.root_cluster = root_cluster

    @classmethod
    def probe(cls, boot: bytes, start: int) -> FatVolume | None:
        if len(boot) < 512 or boot[510:512] != b"\x55\xaa" or boot[0] not in (0xEB, 0xE9):
            return None
        (_, _, bps, spc, reserved, fats, root_entries, tot16, _, fat16, _, _, _, tot32) = BPB.unpack_from(boot)
        if bps not in SECTOR_SIZES or not spc or spc & (spc - 1) or not reserved or fats not in (1, 2):
            return None
        fat_size, root_cluster = fat16, 0
        if not fat16:
            fat_size, _, _, root_cluster = FAT32_EXT.unpack_from(boot, 36)
        total = tot16 or tot32
        if not fat_size or not total:
            return None
        volume = cls(start, bps, spc, reserved, fats, root_entries, fat_size, total, root_cluster)
        if volume.clusters <= 0 or (volume.bits == 32) != (fat16 == 0):
            return None
        return volume

    def fat_entry(self, disk: Disk, cluster: int) -> int | None:
        if self.bits == 12:
            raw = disk.read(self.fat_offset + cluster * 3 // 2, 2)
            if raw is None:
                return None
            value = int.from_bytes(raw, "little")
            return value >> 4 if cluster & 1 else value & 0xFFF
        width = self.bits // 8
        raw = disk.read(self.fat_offset + cluster * width, width)
        if raw is None:
            return None
        value = int.from_bytes(raw, "little")
        return value & 0x0FFFFFFF if width == 4 else value

    def is_end(self, value: int) -> bool:
        end = {12: 0xFF7, 16: 0xFFF7, 32: 0x0FFFFFF7}[self.bits]
        return value >= end or value < 2

    def root(self, disk: Disk) -> bytes:
        if self.bits == 32:
            return self.directory(disk, self.root_cluster)
        data = disk.read(self.root_offset, self.root_size)
        if data is not None:
            return data
        parts = []          # the root region sector by sector, up to the first never seen
        for off in range(0, self.root_size, self.sector):
            part = disk.read(self.root_offset + off, self.sector)
            if part is None:
                break
            parts.append(part)
        return b"".join(parts)

    def entries(self, data: bytes) -> list[Entry]:
        out: list[Entry] = []
        long_parts: list[str] = []
        checksum = -1
        for off in range(0, len(data) - DIR_ENTRY + 1, DIR_ENTRY):
            e = data[off:off + DIR_ENTRY]
            first, attr = e[0], e[11]
            if first == END:
                break
            if first == DELETED:
                long_parts, checksum = [], -1
                continue
            if attr & 0x3F == ATTR_LFN:
                if first & 0x40:
                    long_parts, checksum = [], e[13]
                if e[13] == checksum and len(long_parts) < MAX_LFN_ENTRIES:
                    chars = e[1:11] + e[14:26] + e[28:32]
                    long_parts.insert(0, chars.decode("utf-16-le", "replace"))
                continue
            if attr & ATTR_VOLUME:
                long_parts, checksum = [], -1
                continue
            name = _short_name(e[:11], e[12])
            if long_parts and checksum == _lfn_checksum(e[:11]):
                name = "".join(long_parts).split("\0", 1)[0]
            long_parts, checksum = [], -1
            if name in (".", ".."):
                continue
            cluster = (struct.unpack_from("<H", e, 20)[0] << 16 if self.bits == 32 else 0) | \
                struct.unpack_from("<H", e, 26)[0]
            size = struct.unpack_from("<I", e, 28)[0]
            out.append(Entry(name, bool(attr & ATTR_DIRECTORY), cluster, 0 if attr & ATTR_DIRECTORY else size))
        return out

"""What a mass-storage device's blocks say, as far as the capture shows them.

``Disk`` keeps the blocks the host read or wrote that a file-system reader may need (partition
tables, boot sectors, FATs, directories), bounded; a ``Volume`` found on it
(``sandbox.protocols.usb.volumes``) lists its files as a ``FileMap``, which maps the byte offsets
of written data to file names.  Everything here is hostile input: bounded, total, never raises.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

# Bytes of blocks kept for file-system metadata: a FAT32 stick of 64 GB has a 8 MiB FAT; more is
# dropped oldest first (file names then degrade to block numbers, nothing else is lost).
MAX_KEPT_BYTES = 32 << 20


class Disk:
    """Sparse blocks of one logical unit, by LBA; ``block`` bytes each."""

    def __init__(self, block: int = 512) -> None:
        self.block = block
        self.blocks: OrderedDict[int, bytes] = OrderedDict()
        self.kept = 0
        self.version = 0        # bumped whenever a kept block changes

    def put(self, lba: int, data: bytes) -> None:
        """Keep ``data`` (whole blocks from ``lba`` on)."""
        size = self.block
        for i in range(len(data) // size):
            self._put(lba + i, data[i * size:(i + 1) * size])

    def _put(self, lba: int, block: bytes) -> None:
        old = self.blocks.pop(lba, None)
        if old is not None:
            self.kept -= len(old)
            if old == block:
                self.blocks[lba] = old
                self.kept += len(old)
                return
        self.blocks[lba] = block
        self.kept += len(block)
        self.version += 1
        while self.kept > MAX_KEPT_BYTES and self.blocks:
            _, dropped = self.blocks.popitem(last=False)
            self.kept -= len(dropped)

    def read(self, offset: int, length: int) -> bytes | None:
        """``length`` bytes at byte ``offset`` of the disk, or None when any block of them is unknown."""
        size = self.block
        first, last = offset // size, (offset + length - 1) // size
        if last - first > (MAX_KEPT_BYTES // size):
            return None
        parts = []
        for lba in range(first, last + 1):
            block = self.blocks.get(lba)
            if block is None:
                return None
            parts.append(block)
        joined = b"".join(parts)
        start = offset - first * size
        return joined[start:start + length]


@dataclass(slots=True)
class Run:
    """``count`` clusters from ``first`` on hold bytes of ``path`` from ``offset`` on."""

    first: int
    count: int
    path: str
    offset: int
    size: int          # the file's size: bytes past it in its last cluster are slack


class Volume(Protocol):
    """A file system found on a Disk: maps disk byte offsets to (file, offset in file)."""

    kind: str          # "fat" or "exfat" (the chain label prefix)
    start: int         # byte offset of the volume on the disk

    def in_data(self, offset: int) -> bool: ...

    def files(self, disk: Disk) -> FileMap: ...


class FileMap:
    """Cluster runs of every file a volume's directories list, for looking written bytes up."""

    def __init__(self, heap: int, cluster: int, runs: list[Run]) -> None:
        self.heap = heap            # disk byte offset of cluster 2
        self.cluster = cluster      # bytes per cluster
        self.runs = sorted(runs, key=lambda r: r.first)
        self.firsts = [r.first for r in self.runs]

    def locate(self, offset: int) -> tuple[Run, int] | None:
        """The run holding disk byte ``offset`` and the file offset there, or None."""
        if offset < self.heap:
            return None
        cluster, within = divmod(offset - self.heap, self.cluster)
        cluster += 2
        i = bisect.bisect_right(self.firsts, cluster) - 1
        if i < 0:
            return None
        run = self.runs[i]
        if cluster >= run.first + run.count:
            return None
        return run, run.offset + (cluster - run.first) * self.cluster + within

    def pieces(self, offset: int, data: bytes) -> list[tuple[Run | None, int, bytes]]:
        """``data`` written at disk byte ``offset`` cut where the file it belongs to changes:
        (run or None, file offset or disk offset, bytes), slack past a file's end left out."""
        out: list[tuple[Run | None, int, bytes]] = []
        pos, end = 0, len(data)
        while pos < end:
            here = offset + pos
            found = self.locate(here)
            if found is None:
                step = min(end - pos, self.cluster - (here - self.heap) % self.cluster if here >= self.heap
                           else self.heap - here)
                out.append((None, here, data[pos:pos + step]))
                pos += step
                continue
            run, at = found
            run_end = self.heap + (run.first - 2 + run.count) * self.cluster
            step = min(end - pos, run_end - here)
            useful = max(0, min(step, run.size - at))
            if useful:
                out.append((run, at, data[pos:pos + useful]))
            pos += step
        return out


@dataclass(slots=True)
class Entry:
    """One directory entry: a file or a subdirectory."""

    name: str
    directory: bool
    first: int          # first cluster (0: none allocated)
    size: int           # bytes (directories: 0 when the format does not say)
    contiguous: bool = False    # exFAT NoFatChain: the clusters follow each other, no FAT chain


# Directory levels walked, entries listed per volume, clusters followed per chain: a stick holding a
# run folder has a few levels and thousands of files; a deeper or larger tree is hostile.
MAX_DEPTH = 16
MAX_ENTRIES = 100_000
MAX_CHAIN = 1 << 20
MAX_PATH = 1024
# Bytes of one directory followed when its size is not given: FAT allows 65536 entries of 32 bytes.
MAX_DIRECTORY = 2 << 20


class ClusterVolume:
    """What FAT and exFAT share: clusters in a heap, chains in a FAT, a tree of directories.

    A subclass sets the geometry and implements ``fat_entry(disk, cluster)`` (the next cluster, or
    None when the FAT sector holding it was never seen), ``is_end(value)``, ``root()`` and
    ``entries(data)``.  Where a FAT sector is unknown, the chain is taken to go on contiguously
    (files written to a fresh stick are): a guess the label cannot be wrong by more than the file.
    """

    kind = "fat"

    def __init__(self, start: int, sector: int, cluster: int, heap: int, clusters: int) -> None:
        self.start = start          # disk byte offset of the volume
        self.sector = sector
        self.cluster = cluster      # bytes per cluster
        self.heap = heap            # disk byte offset of cluster 2
        self.clusters = clusters    # clusters in the heap
        self.root_cluster = 0       # first cluster of the root directory when it lives in the heap

    def in_data(self, offset: int) -> bool:
        return self.heap <= offset < self.heap + self.clusters * self.cluster

    def cluster_offset(self, cluster: int) -> int:
        return self.heap + (cluster - 2) * self.cluster

    def chain(self, disk: Disk, first: int, limit: int, contiguous: bool = False) -> list[int]:
        """Clusters of a chain from ``first``, at most ``limit``."""
        return list(self._clusters(disk, first, limit, contiguous))

    def _clusters(self, disk: Disk, first: int, limit: int, contiguous: bool) -> Iterator[int]:
        cluster = first
        seen: set[int] = set()
        while 2 <= cluster < self.clusters + 2 and len(seen) < min(limit, MAX_CHAIN) and cluster not in seen:
            yield cluster
            seen.add(cluster)
            nxt = None if contiguous else self.fat_entry(disk, cluster)
            if nxt is None:
                cluster += 1
            elif self.is_end(nxt):
                break
            else:
                cluster = nxt

    def directory(self, disk: Disk, first: int, size: int = 0, contiguous: bool = False) -> bytes:
        """A directory's bytes as far as they are known (a cluster never seen ends it)."""
        limit = -(-(size or MAX_DIRECTORY) // self.cluster)
        parts = []
        for cluster in self._clusters(disk, first, limit, contiguous):
            data = disk.read(self.cluster_offset(cluster), self.cluster)
            if data is None:    # hosts write a directory sector by sector: the known ones still count
                at = self.cluster_offset(cluster)
                for off in range(0, self.cluster, self.sector):
                    sector = disk.read(at + off, self.sector)
                    if sector is None:
                        break
                    parts.append(sector)
                break
            parts.append(data)
        return b"".join(parts)

    def files(self, disk: Disk) -> FileMap:
        runs: list[Run] = []
        budget = [MAX_ENTRIES]
        root = self.root(disk)
        if self.root_cluster:       # a root directory in the heap (FAT32, exFAT) is named too
            self._add(runs, self.chain(disk, self.root_cluster, -(-len(root) // self.cluster) or 1), "/", len(root))
        self._walk(disk, root, "/", 0, runs, budget, {self.root_cluster})
        return FileMap(self.heap, self.cluster, runs)

    def _walk(self, disk: Disk, data: bytes, path: str, depth: int, runs: list[Run], budget: list[int],
              visited: set[int]) -> None:
        for entry in self.entries(data):
            if budget[0] <= 0:
                return
            budget[0] -= 1
            name = entry.name.replace("/", "\\")
            full = (path + name)[:MAX_PATH]
            if entry.directory:
                if entry.first and entry.first not in visited and depth < MAX_DEPTH:
                    visited.add(entry.first)
                    body = self.directory(disk, entry.first, entry.size, entry.contiguous)
                    self._add(runs, self.chain(disk, entry.first, -(-len(body) // self.cluster) or 1,
                                               entry.contiguous), full + "/", len(body))
                    self._walk(disk, body, full + "/", depth + 1, runs, budget, visited)
            elif entry.first and entry.size:
                needed = -(-entry.size // self.cluster)
                self._add(runs, self.chain(disk, entry.first, needed, entry.contiguous), full, entry.size)

    def _add(self, runs: list[Run], clusters: list[int], path: str, size: int) -> None:
        """Fold a file's clusters into runs of consecutive clusters."""
        offset = 0
        i = 0
        while i < len(clusters):
            j = i
            while j + 1 < len(clusters) and clusters[j + 1] == clusters[j] + 1:
                j += 1
            runs.append(Run(clusters[i], j - i + 1, path, offset, size))
            offset += (j - i + 1) * self.cluster
            i = j + 1

    # -- what a format says -------------------------------------------------------------------------
    def fat_entry(self, disk: Disk, cluster: int) -> int | None:
        raise NotImplementedError

    def is_end(self, value: int) -> bool:
        raise NotImplementedError

    def root(self, disk: Disk) -> bytes:
        raise NotImplementedError

    def entries(self, data: bytes) -> list[Entry]:
        raise NotImplementedError

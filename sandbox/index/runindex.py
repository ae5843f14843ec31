"""``RunIndex``: what the correlator knows about one run folder (``sandbox.index.cache`` keeps it).

Arrays are memory-mapped when loaded from the cache, so several large runs cost page cache, not RAM.
Fingerprints are 64-bit hashes, but the packed k-mers are read sequence: an index is private data.
"""

from __future__ import annotations

import math
import mmap
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sandbox.safetext import MAX_SHOWN, safe_text

from . import _kernels, kmers, variants, winnow

FORMAT_VERSION = 8  # bump when the arrays, the hashing or what is read changes: old caches are rebuilt
STREAMS = ("raw", "decoded")
ARRAYS = ("fp_hash", "fp_loc", "fp_off", "km", "km_sid", "var_key", "var_sid", "var_pos")
CONFIDENCE = 0.999  # detection-floor probability stated for a sampled index
BLOOM_MAX_BITS = 28  # prefilter cap: 32 MiB, ~14% full at the 40M k-mer budget
SCALED_MIN_KMERS = 2  # sampled k-mers a view needs to count as a sequence match in a sampled index
LOOKUP_STEP = 1 << 15  # bucket edges per numpy pass while the directory is built
DIR_PER_BUCKET = 4  # mean table rows per directory bucket: a few halving steps in one cache line
DIR_MAX_BITS = 22  # directory cap: 16 MiB of uint32 (~10 rows per bucket at the 40M k-mer budget)


@dataclass
class IndexedFile:
    rel: str
    size: int
    kind: str
    samples: list[str]
    raw_len: int = 0
    decoded_len: int = 0
    reads: int = 0

    def stream_len(self, stream: int) -> int:
        return self.raw_len if stream == 0 else self.decoded_len


@dataclass
class RunIndex:
    run_id: str
    path: Path
    platform: str
    samples: list[dict[str, str]]
    files: list[IndexedFile]
    identifiers: list[dict[str, Any]]
    errors: list[str]
    fp_hash: np.ndarray  # sorted uint64 fingerprint hashes
    fp_loc: np.ndarray  # uint32: file id * 2 + stream (0 raw, 1 decoded)
    fp_off: np.ndarray  # uint64 offset of the k-gram in that stream
    km: np.ndarray  # sorted canonical k-mers (uint64)
    km_sid: np.ndarray  # uint32 sample-set id per k-mer
    sample_sets: list[list[str]]
    fp_scale: int = 1
    km_scale: int = 1
    reads: int = 0
    bases: int = 0
    build_seconds: float = 0.0
    cached: bool = False
    notes: list[str] = field(default_factory=list)  # about this copy (a cache in doubt), not the run
    stats: dict[str, Any] = field(default_factory=dict)
    # variant records (``sandbox.index.variants``): sorted keys, the sample-set id of each, and the
    # sorted distinct positions
    var_key: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))
    var_sid: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint32))
    var_pos: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))
    variants: int = 0  # variant records read (a record with two alternate alleles is two variants' keys)
    var_scale: int = 1  # 1/scale of the variant keys kept when past their budget
    # lookup structures of the sorted tables (``_sorted``), made on first use; init=False so
    # ``replace()`` rebuilds them
    _tables: dict[str, _SortedTable | None] = field(default_factory=dict, init=False, repr=False, compare=False)
    _fp_dir: _Directory | None = field(default=None, init=False, repr=False, compare=False)
    _fp_bloom: tuple[np.ndarray, int] = field(default=(np.zeros(1, np.uint8), 3), init=False, repr=False,
                                              compare=False)

    @property
    def sample_ids(self) -> list[str]:
        return [s["sample_id"] for s in self.samples]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def prepare(self) -> None:
        """Build the lookup structures now and fault in every page of the tables (a cached index is
        memory-mapped): a live session's first leak then waits for neither (a run of 40 M fingerprints
        takes ~0.8 s to build them, and its tables are read from the disk on first use)."""
        self.lookup_fingerprints(np.zeros(1, dtype=np.uint64))
        for name in ("km", "patterns", "var_key", "var_pos"):
            self._sorted(name)
        for table in (self.fp_hash, self.fp_loc, self.fp_off, self.km, self.km_sid, self.var_key, self.var_sid,
                      self.var_pos):
            flat = np.asarray(table).reshape(-1)
            if flat.size:
                step = max(1, mmap.PAGESIZE // flat.itemsize)
                np.add.reduce(flat[::step], dtype=np.uint64)     # reads one element a page

    def lookup_fingerprints(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For query hashes: (query index, index row start, row end) of every hash present."""
        hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
        table = np.asarray(self.fp_hash)
        if not len(table) or not len(hashes):
            return tuple(np.empty(0, dtype=np.int64) for _ in range(3))  # type: ignore[return-value]
        if self._fp_dir is None:
            self._fp_dir = _Directory.build(table)
            self._fp_bloom = bloom_filter(table)
        hit, lo, hi = (np.empty(len(hashes), dtype=np.int64) for _ in range(3))
        n = _kernels.ranges(table, self._fp_dir.starts, self._fp_dir.shift, *self._fp_bloom, hashes, hit, lo, hi)
        return hit[:n], lo[:n], hi[:n]

    def lookup_kmers(self, kmers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mask of query k-mers present, their rows in ``km``): the Bloom bitmap rejects most absent
        k-mers with one memory read, the rest are found through the bucket directory."""
        return self._lookup_sorted("km", kmers)

    def lookup_patterns(self, forms: np.ndarray) -> np.ndarray:
        """Mask of query forms (``kmers.patterns``) that some evidence k-mer of the run has: bases
        written in other symbols, reversed or complemented, are worth reading every way only then."""
        return self._lookup_sorted("patterns", forms)[0]

    def lookup_positions(self, values: np.ndarray) -> np.ndarray:
        """Mask of query numbers that are the position of some variant record of the run."""
        return self._lookup_sorted("var_pos", values)[0]

    def position_bloom(self) -> tuple[np.ndarray, int]:
        """The Bloom bitmap of ``var_pos`` and its bits (``bloom_filter``; empty: no variants)."""
        table = self._sorted("var_pos")
        return table.bloom if table is not None else (np.empty(0, np.uint8), 0)

    def lookup_variants(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mask of query keys (``variants.variant_keys``) of the run's variants, their rows in ``var_key``)."""
        return self._lookup_sorted("var_key", keys)

    def _sorted(self, name: str) -> _SortedTable | None:
        """A sorted table with its lookup structures, made on first use (None when it is empty):
        ``km``, ``var_key``, ``var_pos``, or "patterns", the reading-blind forms of the evidence k-mers."""
        if name not in self._tables:
            if name == "patterns":
                km = np.asarray(self.km)
                values = kmers.sorted_unique(kmers.patterns(km[kmers.evidence_mask(km)]))
            else:
                values = np.asarray(getattr(self, name))
            self._tables[name] = _SortedTable(values, _Directory.build(values), bloom_filter(values)) if len(
                values) else None
        return self._tables[name]

    def _lookup_sorted(self, name: str, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mask of queries present in table ``name``, their rows in it)."""
        queries = np.ascontiguousarray(queries, dtype=np.uint64)
        found = np.zeros(len(queries), dtype=bool)
        table = self._sorted(name) if len(queries) else None
        if table is None:
            return found, np.empty(0, dtype=np.int64)
        rows = np.empty(len(queries), dtype=np.int64)
        n = _kernels.lookup(table.values, table.directory.starts, table.directory.shift, *table.bloom, queries,
                            found, rows)
        return found, rows[:n]

    def sample_kmer_totals(self) -> dict[str, int]:
        """Distinct k-mers per sample (of the possibly sampled set), for "share of a sample" figures."""
        counts = np.bincount(self.km_sid, minlength=len(self.sample_sets))
        totals: dict[str, int] = {}
        for sid, n in enumerate(counts.tolist()):
            for s in self.sample_sets[sid]:
                totals[s] = totals.get(s, 0) + n
        return totals

    def detection_floor(self) -> dict[str, Any]:
        """What is guaranteed to be found: exact floors, or the sampled ones at CONFIDENCE."""
        if self.fp_scale == 1:
            byte_floor = winnow.GUARANTEE
        else:
            per = -math.log1p(-1.0 / self.fp_scale) * winnow.DENSITY
            byte_floor = math.ceil(-math.log(1 - CONFIDENCE) / per)
        if self.km_scale == 1:
            bases = None
        else:
            lam = _poisson_floor(SCALED_MIN_KMERS, CONFIDENCE)  # sampled k-mers expected in the stretch
            bases = math.ceil(lam * self.km_scale) + kmers.K - 1
        text = _floor_text(byte_floor, bases, self.fp_scale, self.km_scale)
        found = None
        if self.variants:
            found = variants.MIN_VARIANTS if self.var_scale == 1 else math.ceil(
                _poisson_floor(variants.MIN_VARIANTS, CONFIDENCE) * self.var_scale)
            text += (f"; any {found} of its variant records, however written, are found" if self.var_scale == 1 else
                     f"; variant records sampled 1/{self.var_scale}: {found} of them, however written, are found "
                     f"with probability >= {CONFIDENCE:.1%}")
        return {
            "exact": self.fp_scale == 1 and self.km_scale == 1 and self.var_scale == 1, "confidence": CONFIDENCE,
            "bytes": byte_floor, "fp_scale": self.fp_scale,
            "sequence_bases": bases, "km_scale": self.km_scale, "variants": found, "var_scale": self.var_scale,
            "text": text,
        }

    def summary(self) -> str:
        floor = self.detection_floor()
        kinds: dict[str, int] = {}
        for f in self.files:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
        lines = [
            # the run id, folder and file names are the instrument's: escaped as traffic strings are
            f"run {safe_text(self.run_id)} ({self.platform}) at {safe_text(str(self.path), MAX_SHOWN)}",
            f"  files: {len(self.files)} ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}), "
            f"{self.total_bytes / 1e6:.1f} MB",
            f"  samples: {len(self.samples)}; identifiers: {len(self.identifiers)}",
            f"  reads: {self.reads} ({self.bases} bases); k-mers: {len(self.km)}; "
            f"byte fingerprints: {len(self.fp_hash)}; variant records: {self.variants}",
            f"  detection floor: {floor['text']}",
            f"  index {'reused from cache' if self.cached else f'built in {self.build_seconds:.1f} s'}",
        ]
        if self.errors:
            lines.append(f"  {len(self.errors)} problem(s); first: {safe_text(self.errors[0], MAX_SHOWN)}")
        return "\n".join(lines)

    # --- persistence (the files and their MAC: sandbox.index.cache) ------------------------------
    def to_meta(self) -> dict[str, Any]:
        """Everything but the arrays, as JSON-ready values."""
        return {
            "run_id": self.run_id, "path": str(self.path), "platform": self.platform,
            "samples": self.samples, "files": [asdict(f) for f in self.files],
            "identifiers": self.identifiers, "errors": self.errors, "sample_sets": self.sample_sets,
            "fp_scale": self.fp_scale, "km_scale": self.km_scale, "reads": self.reads,
            "bases": self.bases, "build_seconds": self.build_seconds, "stats": self.stats,
            "variants": self.variants, "var_scale": self.var_scale,
        }

    @classmethod
    def from_meta(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> RunIndex:
        """The cached index from ``to_meta()`` values and its ARRAYS."""
        return cls(
            run_id=meta["run_id"], path=Path(meta["path"]), platform=meta["platform"],
            samples=meta["samples"], files=[IndexedFile(**f) for f in meta["files"]],
            identifiers=meta["identifiers"], errors=meta["errors"], sample_sets=meta["sample_sets"],
            fp_scale=meta["fp_scale"], km_scale=meta["km_scale"], reads=meta["reads"],
            bases=meta["bases"], build_seconds=meta["build_seconds"], stats=meta.get("stats", {}),
            variants=meta["variants"], var_scale=meta["var_scale"], cached=True, **arrays,
        )


def bloom_filter(table: np.ndarray) -> tuple[np.ndarray, int]:
    """One bit per hash bucket of the table's values (a one-hash Bloom filter, ~6% full) and its
    bits: most absent queries are rejected by one memory read instead of a search."""
    bits = int(min(BLOOM_MAX_BITS, max(16, math.ceil(math.log2(max(1, len(table)) * 16)))))
    bitmap = np.zeros(1 << (bits - 3), dtype=np.uint8)
    _kernels.bloom(table, bits, bitmap)
    return bitmap, bits


@dataclass(frozen=True)
class _SortedTable:
    """A sorted table of distinct uint64 values and what finds a query in it quickly."""

    values: np.ndarray
    directory: _Directory
    bloom: tuple[np.ndarray, int]


@dataclass(frozen=True)
class _Directory:
    """Where each bucket of the top value bits starts in the sorted table: a query is then searched
    only among its ~DIR_PER_BUCKET neighbours (a cache line or two) instead of by ~22 binary-search
    probes spread over the whole table; two adjacent 4-byte reads locate the bucket."""

    starts: np.ndarray  # uint32 row where each bucket starts, then len(table)
    shift: int  # bucket of a value: value >> shift (values above the top bucket: the last one)

    @classmethod
    def build(cls, table: np.ndarray) -> _Directory:
        if len(table) >= 1 << 32:
            raise ValueError(f"index table of {len(table)} rows: the lookup directory holds < 2**32")
        want = max(1, math.ceil(math.log2(max(2, len(table) / DIR_PER_BUCKET))))
        top = int(table[-1]).bit_length()
        shift = max(0, top - min(DIR_MAX_BITS, want))
        buckets = 1 << max(0, top - shift)
        starts = np.empty(buckets + 1, dtype=np.uint32)
        for at in range(0, buckets, LOOKUP_STEP):
            end = min(buckets, at + LOOKUP_STEP)
            edges = np.arange(at, end, dtype=np.uint64) << np.uint64(shift)
            starts[at:end] = np.searchsorted(table, edges)
        starts[-1] = len(table)
        return cls(starts, shift)


def _poisson_floor(m: int, confidence: float) -> float:
    """Smallest mean lambda with P(Poisson(lambda) >= m) >= confidence (bisection)."""
    lo, hi = 0.0, 1000.0
    for _ in range(60):
        mid = (lo + hi) / 2
        tail = sum(math.exp(-mid) * mid**i / math.factorial(i) for i in range(m))
        lo, hi = (mid, hi) if 1 - tail < confidence else (lo, mid)
    return hi


def _floor_text(byte_floor: int, bases: int | None, fp_scale: int, km_scale: int) -> str:
    if fp_scale == 1:
        text = f"exact: any leaked fragment >= {byte_floor} bytes of any run file is found"
    else:
        text = (f"sampled 1/{fp_scale}: leaked fragments >= {byte_floor / 1024:.0f} KB are found with "
                f"probability >= {CONFIDENCE:.1%}")
    if bases is None:
        text += "; every read is indexed (a single read is found)"
    else:
        size = f"{bases / 1000:.0f} kb" if bases >= 10_000 else f"{bases} bases"
        text += (f"; k-mers sampled 1/{km_scale}: >= {size} of read sequence is found "
                 f"with probability >= {CONFIDENCE:.1%}")
    return text

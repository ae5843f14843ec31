"""What a run-format reader gives the index: metadata, samples, and per-file content.

A reader never loads a whole file: ``raw``, ``decoded`` and ``reads`` stream.
"""

from __future__ import annotations

import functools
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

# What a corrupt or truncated file raises inside the C-backed libraries we use (gzip/isal, zlib,
# struct, pysam, h5py, pod5/pyarrow): it ends that file's stream with an error string, never more.
DATA_ERRORS: tuple[type[BaseException], ...] = (
    OSError, EOFError, ValueError, zlib.error, struct.error, KeyError, IndexError, RuntimeError,
)

# Bytes of a file's start handed to ``claim``: enough for every magic number and text header we test.
HEAD_BYTES = 4096


class RunFileError(ValueError):
    """A run file's content is not what its format says; the message is one line."""


def _guarded(method: Callable) -> Callable:
    """Wrap a streaming method so that a corrupt file ends the stream and leaves an error string."""

    @functools.wraps(method)
    def stream(self, *args, **kwargs):
        try:
            yield from method(self, *args, **kwargs)
        except DATA_ERRORS as exc:
            line = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
            self.errors.append(f"{self.rel}: {method.__name__}: {line}")

    return stream


_STREAMS = ("raw", "decoded", "reads", "read_batches", "identifiers", "variants")
# Reads per batch from the default read_batches(): amortises per-read Python overhead for the index.
READ_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class Sample:
    sample_id: str
    name: str = ""
    project: str = ""
    lane: str = ""
    index: str = ""
    index2: str = ""


@dataclass(frozen=True, slots=True)
class Identifier:
    """A string that says who or what was sequenced (sample, run, flowcell, instrument, project)."""

    value: str
    kind: str
    samples: tuple[str, ...] = ()


@dataclass(slots=True)
class RunMeta:
    run_id: str = ""
    platform: str = ""
    instrument: str = ""
    flowcell: str = ""
    samples: list[Sample] = field(default_factory=list)
    identifiers: list[Identifier] = field(default_factory=list)
    experiment: str = ""
    # RunInfo.xml read structure: (read number, cycles, is index read), and the flowcell's lane count.
    read_cycles: list[tuple[int, int, bool]] = field(default_factory=list)
    lane_count: int = 0

    def add_identifier(self, value: str, kind: str, samples: tuple[str, ...] = ()) -> None:
        """Record an identifier once (same value and kind), ignoring empty values."""
        value = value.strip()
        if value and not any(i.value == value and i.kind == kind for i in self.identifiers):
            self.identifiers.append(Identifier(value, kind, samples))

    def add_sample(self, sample: Sample) -> None:
        """Record a sample once per (sample_id, lane), so multi-lane sheets keep every lane."""
        if not any(s.sample_id == sample.sample_id and s.lane == sample.lane for s in self.samples):
            self.samples.append(sample)

    def sample_ids(self) -> list[str]:
        return list(dict.fromkeys(s.sample_id for s in self.samples))


class RunFile:
    """One file of a run folder as the index sees it.

    Subclasses (one per format) override what they can do; the defaults treat the
    file as plain bytes, which is right for any file no format claims.
    """

    kind = "bytes"
    platform: ClassVar[str] = ""  # "illumina" / "nanopore" for formats only one platform writes
    # Metadata files (run info, parameters, sample sheets) fill RunMeta before samples are assigned;
    # lower runs first so the sample sheet sees the run info.
    meta_order: ClassVar[int] = 0

    def __init__(self, root: Path, path: Path, samples: tuple[str, ...] = ()):
        self.root = root
        self.path = path
        self.rel = path.relative_to(root).as_posix()
        self.size = path.stat().st_size
        self.samples = samples
        self.errors: list[str] = []  # problems met while streaming (one line each), filled lazily

    def __init_subclass__(cls, **kwargs) -> None:
        """Every format's streams get the same error guard, so formats only write the happy path."""
        super().__init_subclass__(**kwargs)
        for name in _STREAMS:
            if name in cls.__dict__:
                setattr(cls, name, _guarded(cls.__dict__[name]))

    @staticmethod
    def claim(rel: str, head: bytes) -> bool:
        """True if this format reads the file at ``rel`` whose first bytes are ``head``."""
        return True

    def contribute(self, meta: RunMeta) -> None:
        """Metadata formats add run id, samples and identifiers to the run's meta (others: nothing)."""

    def check(self) -> None:
        """Cheap scan-time validation (headers against file size); raises RunFileError when corrupt.
        Formats whose corruption shows only when streamed leave it to their streams."""

    def assign_samples(self, meta: RunMeta) -> tuple[str, ...]:
        """Which samples this file belongs to; the default reads the path (lane, sample folders)."""
        return samples_from_path(self.rel, meta)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.rel!r} {self.size}B samples={len(self.samples)}>"

    def raw(self, chunk: int = 1 << 20) -> Iterator[bytes]:
        """The file's bytes as stored."""
        with open(self.path, "rb") as fh:
            while block := fh.read(chunk):
                yield block

    def decoded(self) -> Iterator[bytes]:
        """The content another program would send if it unpacked the file (empty if none)."""
        return iter(())

    def reads(self) -> Iterator[bytes]:
        """DNA sequences held in the file, as upper-case ACGTN bytes."""
        return iter(())

    def read_batches(self) -> Iterator[list[bytes]]:
        """The same sequences as reads(), in lists (formats that parse in batches hand theirs over)."""
        batch: list[bytes] = []
        for read in self.reads():
            batch.append(read)
            if len(batch) >= READ_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def identifiers(self) -> Iterator[Identifier]:
        return iter(())

    def variants(self) -> Iterator[tuple[int, str, tuple[str, ...]]]:
        """Variant records held in the file: (1-based position, reference allele, alternate alleles)."""
        return iter(())



for _name in _STREAMS:
    setattr(RunFile, _name, _guarded(RunFile.__dict__[_name]))


_LANE_RE = re.compile(r"(?:^|/)L(\d{3})(?:/|_)|(?:^|/)s_(\d+)_\d+[._]")


def lane_of(rel: str) -> str:
    """Lane number ("1") named by an Illumina path (``L001/``, ``s_1_1101.bcl``, ``L001_2.cbcl``)."""
    lanes = [a or b for a, b in _LANE_RE.findall(rel)]
    return str(int(lanes[-1])) if lanes else ""


def lane_samples(meta: RunMeta, lane: str) -> tuple[str, ...]:
    """Sample IDs sequenced on a lane (a sheet row with no Lane column is on every lane)."""
    return tuple(dict.fromkeys(s.sample_id for s in meta.samples if not s.lane or not lane or s.lane == lane))


_BARCODE = re.compile(r"^(?:barcode\d+|unclassified)$", re.I)


def samples_from_path(rel: str, meta: RunMeta) -> tuple[str, ...]:
    """Samples a path names: a folder or file-name token equal to a sample ID or name."""
    if not meta.samples:
        return ()
    parts = rel.split("/")
    barcodes = {p.lower() for p in parts if _BARCODE.match(p)}
    if barcodes:  # nanopore demultiplexed output: fastq_pass/barcode01/..., a sheet row per barcode
        return tuple(dict.fromkeys(s.sample_id for s in meta.samples if s.index.lower() in barcodes))
    tokens = set(parts[:-1])
    tokens.add(parts[-1].split(".")[0])
    tokens |= {t.removeprefix("Sample_") for t in tokens}
    found = [
        s.sample_id for s in meta.samples
        if s.sample_id in tokens or s.sample_id.removeprefix("Sample_") in tokens or (s.name and s.name in tokens)
    ]
    return tuple(dict.fromkeys(found))

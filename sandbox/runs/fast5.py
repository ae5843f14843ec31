"""Oxford Nanopore FAST5 (HDF5), single- and multi-read: embedded basecalls and tracking ids."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING, ClassVar

from .base import Identifier, RunFile, RunMeta, samples_from_path
from .ont import MAX_READ_IDS, contribute_tracking, tracking_identifiers
from .textio import DNA_TABLE

if TYPE_CHECKING:
    import h5py

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _attrs(group) -> dict[str, str]:
    return {k: _text(v) for k, v in group.attrs.items()} if group is not None else {}


class Fast5File(RunFile):
    kind = "fast5"
    platform: ClassVar[str] = "nanopore"
    meta_order: ClassVar[int] = 50

    @staticmethod
    def claim(rel: str, head: bytes) -> bool:
        return ".fast5" in rel.lower() or head.startswith(HDF5_MAGIC) and "nanopore" in rel.lower()

    def _reads(self, fh: h5py.File) -> Iterator[tuple[str, h5py.Group, h5py.Group]]:
        """(read id, read group holding Analyses, group holding tracking_id) for each read."""
        if "Raw" in fh and "UniqueGlobalKey" in fh:  # single-read layout
            for grp in fh["Raw/Reads"].values():
                yield _text(grp.attrs.get("read_id", b"")), fh, fh["UniqueGlobalKey"]
            return
        for name, grp in fh.items():
            if name.startswith("read_"):
                yield _text(grp["Raw"].attrs.get("read_id", name[5:])) if "Raw" in grp else name[5:], grp, grp

    def fastq_records(self) -> Iterator[bytes]:
        """Embedded FASTQ text of every read's latest 1D basecall (template strand)."""
        import h5py  # imported by the runs that have FAST5 files: every other start is faster

        with h5py.File(self.path, "r") as fh:
            for _, grp, _ in self._reads(fh):
                analyses = grp.get("Analyses")
                if analyses is None:
                    continue
                calls = sorted(k for k in analyses if k.startswith("Basecall_1D"))
                if calls and (fq := analyses[calls[-1]].get("BaseCalled_template/Fastq")) is not None:
                    value = fq[()]
                    yield value if isinstance(value, bytes) else _text(value).encode()

    def decoded(self) -> Iterator[bytes]:
        for rec in self.fastq_records():
            yield rec if rec.endswith(b"\n") else rec + b"\n"

    def reads(self) -> Iterator[bytes]:
        for rec in self.fastq_records():
            lines = rec.split(b"\n", 2)
            if len(lines) > 1 and lines[1]:
                yield lines[1].strip().translate(DNA_TABLE)

    def tags(self) -> dict[str, str]:
        """The first read's tracking_id + context_tags (one file holds one acquisition)."""
        import h5py

        with h5py.File(self.path, "r") as fh:
            for _, _, holder in self._reads(fh):
                tags = _attrs(holder.get("context_tags"))
                tags.update(_attrs(holder.get("tracking_id")))
                return tags
        return {}

    def read_ids(self) -> list[str]:
        import h5py

        with h5py.File(self.path, "r") as fh:
            return [rid for rid, _, _ in islice(self._reads(fh), MAX_READ_IDS)]

    def identifiers(self) -> Iterator[Identifier]:
        yield from tracking_identifiers(self.tags().items(), self.samples)
        for rid in self.read_ids():
            yield Identifier(rid, "read_id", self.samples)

    def contribute(self, meta: RunMeta) -> None:
        contribute_tracking(meta, self.tags())

    def assign_samples(self, meta: RunMeta) -> tuple[str, ...]:
        """Barcode / sample folder if the path names one, else the sample_id MinKNOW recorded."""
        known = set(meta.sample_ids())
        own = tuple(s for s in [v for k, v in self.tags().items() if k == "sample_id"] if s in known)
        return samples_from_path(self.rel, meta) or own

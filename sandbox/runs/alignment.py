"""BAM, CRAM and SAM (aligned or unaligned, Illumina or nanopore basecaller output) via pysam."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

from isal import igzip

from .base import Identifier, RunFile, RunFileError, RunMeta, samples_from_path
from .hts import htslib, quiet

if TYPE_CHECKING:
    import pysam
from .textio import DNA_TABLE

_NAME = re.compile(r"\.(?:bam|cram|sam)$", re.I)
_MAGIC = (b"\x1f\x8b", b"CRAM")
# Read-group tags that say who was sequenced, where and with which library / flowcell lane.
RG_KINDS = {"SM": "sample", "LB": "library", "PU": "flowcell", "ID": "read_group"}
# Dorado / MinKNOW put run metadata into the read group's DS as key=value words.
_DS_KV = re.compile(r"\b(runid|flowcell|sample_id|device_id)=(\S+)")
DS_KINDS = {"runid": "run_id", "flowcell": "flowcell", "sample_id": "sample", "device_id": "instrument"}
# Secondary and supplementary alignments repeat a primary read's bases (or carry none).
SKIP_FLAGS = 0x100 | 0x800


class AlignmentFileReader(RunFile):
    kind = "alignment"
    platform: ClassVar[str] = ""

    @staticmethod
    def claim(rel: str, head: bytes) -> bool:
        return bool(_NAME.search(rel))

    @property
    def fmt(self) -> str:
        return self.path.suffix.lower().lstrip(".")

    def _open(self) -> pysam.AlignmentFile:
        mode = {"bam": "rb", "cram": "rc", "sam": "r"}[self.fmt]
        return htslib().AlignmentFile(str(self.path), mode, check_sq=False)

    def read_groups(self) -> list[dict]:
        with quiet(), self._open() as fh:
            return list(fh.header.to_dict().get("RG", []))

    def decoded(self) -> Iterator[bytes]:
        if self.fmt == "bam":  # BGZF is multi-member gzip
            with igzip.open(self.path, "rb") as fh:
                while block := fh.read(1 << 20):
                    yield block

    def reads(self) -> Iterator[bytes]:
        with quiet(), self._open() as fh:
            try:
                for rec in fh.fetch(until_eof=True):
                    if rec.flag & SKIP_FLAGS:
                        continue
                    seq = rec.query_sequence
                    if seq:
                        yield seq.encode("ascii").translate(DNA_TABLE)
            except OSError as exc:
                if self.fmt == "cram":
                    raise RunFileError(f"CRAM sequences not decoded ({exc}); its reference is not available "
                                       "locally (set REF_PATH to a reference cache)") from None
                raise

    def identifiers(self) -> Iterator[Identifier]:
        seen = set()
        for rg in self.read_groups():
            sample = (rg["SM"],) if rg.get("SM") else ()
            items = [(str(rg[t]), kind) for t, kind in RG_KINDS.items() if rg.get(t)]
            items += [(v, DS_KINDS[k]) for k, v in _DS_KV.findall(str(rg.get("DS", "")))]
            for value, kind in items:
                if (value, kind) not in seen:
                    seen.add((value, kind))
                    yield Identifier(value, kind, sample)

    def assign_samples(self, meta: RunMeta) -> tuple[str, ...]:
        """Read-group SM tags; without them the path (nanopore bam_pass/barcode01/, sample folders)."""
        names = [str(rg["SM"]) for rg in self.read_groups() if rg.get("SM")]
        return map_names(names, meta) if names else samples_from_path(self.rel, meta)


def map_names(names: list[str], meta: RunMeta) -> tuple[str, ...]:
    """Sample names found in a file, as the run's sample IDs where the sheet knows them."""
    out = []
    for name in names:
        hit = [s.sample_id for s in meta.samples if name in (s.sample_id, s.name)]
        out.extend(hit or [name])
    return tuple(dict.fromkeys(out))

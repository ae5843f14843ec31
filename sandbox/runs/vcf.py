"""VCF and VCF.gz / BCF: sample columns are the samples, records the variants; no reads (alleles are
not reads)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from isal import igzip

from .alignment import map_names
from .base import Identifier, RunFile, RunMeta
from .hts import htslib, quiet

_NAME = re.compile(r"\.(?:vcf|vcf\.gz|vcf\.bgz|bcf|gvcf|gvcf\.gz|g\.vcf\.gz)$", re.I)


class VcfFile(RunFile):
    kind = "vcf"
    platform: ClassVar[str] = ""

    @staticmethod
    def claim(rel: str, head: bytes) -> bool:
        return bool(_NAME.search(rel)) or head.startswith(b"##fileformat=VCF")

    def sample_names(self) -> list[str]:
        with quiet(), htslib().VariantFile(str(self.path)) as fh:
            return list(fh.header.samples)

    def decoded(self) -> Iterator[bytes]:
        with open(self.path, "rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
        if gz:
            with igzip.open(self.path, "rb") as fh:
                while block := fh.read(1 << 20):
                    yield block

    def variants(self) -> Iterator[tuple[int, str, tuple[str, ...]]]:
        with quiet(), htslib().VariantFile(str(self.path)) as fh:
            for rec in fh:
                yield rec.pos, rec.ref or "", rec.alts or ()

    def identifiers(self) -> Iterator[Identifier]:
        for name in self.sample_names():
            yield Identifier(name, "sample", (name,))

    def assign_samples(self, meta: RunMeta) -> tuple[str, ...]:
        return map_names(self.sample_names(), meta)

"""MinKNOW sample sheet CSV (flow_cell_id/position_id, kit, sample_id, experiment_id, barcode, alias)."""

from __future__ import annotations

import csv
import io
from typing import ClassVar

from .base import RunFile, RunFileError, RunMeta, Sample

# MinKNOW sheets list at most a few hundred barcodes; 4 MB is far past any real one.
MAX_SHEET = 4 << 20


class NanoporeSheetFile(RunFile):
    kind = "nanopore_samplesheet"
    platform: ClassVar[str] = "nanopore"
    meta_order: ClassVar[int] = 40

    @staticmethod
    def claim(rel: str, head: bytes) -> bool:
        if not rel.lower().endswith(".csv"):
            return False
        first = head.split(b"\n", 1)[0].lower()
        return (b"flow_cell_id" in first or b"position_id" in first) and (b"kit" in first or b"sample_id" in first)

    def contribute(self, meta: RunMeta) -> None:
        data = self.path.read_bytes()[: MAX_SHEET + 1]
        if len(data) > MAX_SHEET:
            raise RunFileError(f"nanopore sample sheet larger than {MAX_SHEET} bytes")
        try:
            rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig", "replace"), newline="")))
        except csv.Error as exc:
            raise RunFileError(f"nanopore sample sheet is not CSV: {exc}") from None
        if not rows:
            raise RunFileError("nanopore sample sheet has no rows")
        meta.platform = "nanopore"
        for row in rows:
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            barcode, alias, sample = row.get("barcode", ""), row.get("alias", ""), row.get("sample_id", "")
            sid = alias or sample
            if sid:
                meta.add_sample(Sample(sid, alias or sample, row.get("experiment_id", ""), "", barcode))
                meta.add_identifier(sid, "sample", (sid,))
            for key, kind in (("sample_id", "sample"), ("experiment_id", "experiment"),
                              ("flow_cell_id", "flowcell")):
                meta.add_identifier(row.get(key, ""), kind)
            meta.flowcell = meta.flowcell or row.get("flow_cell_id", "")
            meta.experiment = meta.experiment or row.get("experiment_id", "")

    def assign_samples(self, meta: RunMeta) -> tuple[str, ...]:
        return tuple(meta.sample_ids())

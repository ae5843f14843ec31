"""Oxford Nanopore POD5 (raw signal, Arrow IPC): read ids and run info; no base calls inside."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import ClassVar

from .base import Identifier, RunFile, RunMeta, samples_from_path
from .ont import MAX_READ_IDS, contribute_tracking, tracking_identifiers

POD5_MAGIC = b"\x8bPOD\r\n\x1a\n"


class Pod5File(RunFile):
    kind = "pod5"
    platform: ClassVar[str] = "nanopore"
    meta_order: ClassVar[int] = 50

    @staticmethod
    def claim(rel: str, head: bytes) -> bool:
        return rel.lower().endswith(".pod5") or head.startswith(POD5_MAGIC)

    def run_infos(self) -> list[dict[str, str]]:
        """Every acquisition's run info as flat key -> value (tracking id and context tags merged)."""
        import pod5  # lazily: it pulls in pyarrow and pandas (~0.8 s) that most runs never need

        with pod5.Reader(self.path) as reader:
            table = reader.run_info_table.read_all().to_pylist()
        out = []
        for row in table:
            flat = {k: v for k, v in row.items() if isinstance(v, str) and v}
            for key in ("tracking_id", "context_tags"):
                for k, v in row.get(key) or []:
                    if v and not flat.get(k):
                        flat[k] = v
            out.append(flat)
        return out

    def read_ids(self) -> Iterator[str]:
        import pod5  # lazily: it pulls in pyarrow and pandas (~0.8 s) that most runs never need

        with pod5.Reader(self.path) as reader:
            yield from reader.read_ids

    def identifiers(self) -> Iterator[Identifier]:
        for info in self.run_infos():
            yield from tracking_identifiers(info.items(), self.samples)
        for rid in islice(self.read_ids(), MAX_READ_IDS):
            yield Identifier(rid, "read_id", self.samples)

    def contribute(self, meta: RunMeta) -> None:
        for info in self.run_infos():
            contribute_tracking(meta, info)

    def assign_samples(self, meta: RunMeta) -> tuple[str, ...]:
        """Barcode / sample folder if the path names one, else the sample_id MinKNOW recorded."""
        known = set(meta.sample_ids())
        own = tuple(s for s in [v for info in self.run_infos() for k, v in info.items() if k == "sample_id"] if s in known)
        return samples_from_path(self.rel, meta) or own

"""Illumina InterOp metrics (InterOp/*.bin): run-level binary tables, indexed as bytes of the whole run."""

from __future__ import annotations

from typing import ClassVar

from .base import RunFile, RunMeta


class InterOpFile(RunFile):
    kind = "interop"
    platform: ClassVar[str] = "illumina"

    @staticmethod
    def claim(rel: str, head: bytes) -> bool:
        parts = rel.split("/")
        return rel.endswith(".bin") and "InterOp" in parts[:-1]

    def assign_samples(self, meta: RunMeta) -> tuple[str, ...]:
        return tuple(meta.sample_ids())

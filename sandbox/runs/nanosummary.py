"""MinKNOW final_summary_*.txt: key=value run summary (instrument, flow cell, sample, acquisition id)."""

from __future__ import annotations

from typing import ClassVar

from .base import RunFile, RunFileError, RunMeta
from .ont import contribute_tracking

# A final summary is ~1 KB of key=value lines; anything past 1 MB is not one.
MAX_SUMMARY = 1 << 20
# final_summary keys -> the tracking-id names the other nanopore readers use.
KEYS = {"instrument": "device_id", "acquisition_run_id": "acquisition_id", "protocol_run_id": "protocol_run_id",
        "flow_cell_id": "flow_cell_id", "sample_id": "sample_id", "protocol_group_id": "protocol_group_id"}


class NanoporeSummaryFile(RunFile):
    kind = "nanopore_summary"
    platform: ClassVar[str] = "nanopore"
    meta_order: ClassVar[int] = 45

    @staticmethod
    def claim(rel: str, head: bytes) -> bool:
        name = rel.rsplit("/", 1)[-1]
        return name.startswith("final_summary") and name.endswith(".txt")

    def tags(self) -> dict[str, str]:
        data = self.path.read_bytes()[: MAX_SUMMARY + 1]
        if len(data) > MAX_SUMMARY:
            raise RunFileError(f"final summary larger than {MAX_SUMMARY} bytes")
        pairs = (line.split("=", 1) for line in data.decode("utf-8", "replace").splitlines() if "=" in line)
        tags = {KEYS[k.strip()]: v.strip() for k, v in pairs if k.strip() in KEYS}
        if not tags:
            raise RunFileError("final summary has none of instrument, flow_cell_id, sample_id, acquisition_run_id")
        return tags

    def contribute(self, meta: RunMeta) -> None:
        contribute_tracking(meta, self.tags())

    def assign_samples(self, meta: RunMeta) -> tuple[str, ...]:
        return tuple(meta.sample_ids())  # run-level summary

"""Illumina RunInfo.xml: run id, instrument, flowcell, read structure and lanes."""

from __future__ import annotations

import re
from typing import ClassVar

from .base import RunFile, RunFileError, RunMeta
from .xmlmeta import load_xml, text


class RunInfoFile(RunFile):
    kind = "runinfo"
    platform: ClassVar[str] = "illumina"
    meta_order: ClassVar[int] = 10

    @staticmethod
    def claim(rel: str, head: bytes) -> bool:
        return rel.rsplit("/", 1)[-1].lower() == "runinfo.xml"

    def contribute(self, meta: RunMeta) -> None:
        root = load_xml(self.path)
        run = root.find(".//Run")
        if run is None:
            raise RunFileError("RunInfo.xml has no <Run> element")
        meta.platform = "illumina"
        meta.run_id = meta.run_id or run.get("Id", "")
        meta.instrument = meta.instrument or text(run, "Instrument")
        meta.flowcell = meta.flowcell or text(run, "Flowcell")
        for value, kind in ((run.get("Id", ""), "run_id"), (text(run, "Instrument"), "instrument"),
                            (text(run, "Flowcell"), "flowcell")):
            meta.add_identifier(value, kind)
        meta.read_cycles = [
            (int(r.get("Number", "0")), int(r.get("NumCycles", "0")), r.get("IsIndexedRead", "N") == "Y")
            for r in run.iter("Read")
        ]
        layout = run.find("FlowcellLayout")
        if layout is not None and layout.get("LaneCount", "").isdigit():
            meta.lane_count = int(layout.get("LaneCount", "0"))
        if not meta.flowcell and (m := re.search(r"_[AB]?([A-Z0-9-]{9,})$", meta.run_id)):
            meta.flowcell = m.group(1)

    def assign_samples(self, meta: RunMeta) -> tuple[str, ...]:
        return tuple(meta.sample_ids())  # run-level metadata: it describes every sample

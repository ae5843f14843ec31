"""Nanopore tracking tags: identifier kinds, placeholders dropped, barcode sheets keep their aliases."""

from __future__ import annotations

from sandbox.runs.base import RunMeta, Sample
from sandbox.runs.ont import contribute_tracking, tracking_identifiers


def test_tracking_identifiers_kinds_and_placeholders():
    tags = {"run_id": "a08e", "sample_id": "no_sample", "flow_cell_id": "", "device_id": "MN12345",
            "asic_temp": "35.0", "protocol_group_id": "EXP"}
    assert [(i.value, i.kind) for i in tracking_identifiers(tags.items())] == [
        ("a08e", "run_id"), ("MN12345", "instrument"), ("EXP", "experiment")]


def test_contribute_keeps_barcode_sheet_samples():
    meta = RunMeta(samples=[Sample("patient_1", index="barcode01")])
    contribute_tracking(meta, {"run_id": "r", "sample_id": "batch_7", "flow_cell_id": "FAL1"})
    assert meta.sample_ids() == ["patient_1"] and (meta.run_id, meta.flowcell, meta.platform) == ("r", "FAL1", "nanopore")
    meta = RunMeta()
    contribute_tracking(meta, {"sample_id": "batch_7"})
    assert meta.sample_ids() == ["batch_7"]

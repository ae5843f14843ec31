from __future__ import annotations

from sandbox.index.identifiers import is_evidence, run_identifiers
from sandbox.runs import RunMeta, Sample


def test_generic_values_are_not_evidence():
    for v in ("S1", "NA", "Sample", "test", "Sample_1", "sample-12", "2024", "1101", "Lane1", "Undetermined", ""):
        assert not is_evidence(v), v
    for v in ("PT1000-Biopsy", "HMTFYDRXX", "M04034", "123456", "ZetaTrial-Batch7"):
        assert is_evidence(v), v


def test_run_identifiers_dedupes_and_attributes():
    meta = RunMeta(run_id="230825_M04034_0043_000000000-L6NVV", instrument="M04034", flowcell="000000000-L6NVV")
    meta.add_sample(Sample("Sample_1", "Liver-Donor-7", "ProjX123"))
    meta.add_sample(Sample("Sample_2", "Kidney-Donor-7", "ProjX123"))
    meta.add_identifier("M04034", "instrument")
    ids = {i["value"]: i for i in run_identifiers(meta)}
    assert set(ids) == {"230825_M04034_0043_000000000-L6NVV", "M04034", "000000000-L6NVV", "Liver-Donor-7",
                        "Kidney-Donor-7", "ProjX123"}
    assert ids["ProjX123"]["samples"] == ["Sample_1", "Sample_2"] and ids["Liver-Donor-7"]["samples"] == ["Sample_1"]

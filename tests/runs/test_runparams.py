"""RunParameters.xml / runParameters.xml: experiment, consumable RFIDs and lots, run ids, users."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.runs import scan_run

from .conftest import copy_into


@pytest.mark.parametrize("run, expected", [
    ("170407_A00103_0049_AH2CLFDMXX_bambi_subset",
     {("Sanger_360pM", "experiment"), ("VY0008225-TMP", "consumable"), ("20147717", "consumable"),
      ("3788937", "run_id"), ("A00103", "instrument")}),
    ("230825_M04034_0043_000000000-L6NVV",
     {("MS3500199-300V2", "consumable"), ("20770331", "consumable"), ("kfortmann@illumina.com", "user"),
      ("Pillar MultiCancer DNA RNA 25AUG2023", "experiment"), ("M04034", "instrument")}),
    ("170726_D00118_0303_BCB1TVANXX", {("CWASHACXX", "consumable"), ("sbsuser", "user")}),
])
def test_identifiers_from_every_instrument_family(shared_data: Path, run_dir: Path, run: str, expected: set):
    src = next((shared_data / "illumina" / run).glob("[Rr]unParameters.xml"))
    copy_into(src, run_dir)  # keeps the file's own spelling (runParameters.xml on HiSeq/MiSeq)
    scan = scan_run(run_dir)
    assert scan.files[0].kind == "runparameters"
    kinds = {(i.value, i.kind) for i in scan.meta.identifiers}
    assert expected <= kinds
    assert not any(v in ("true", "false", "1") for v, _ in kinds)


def test_run_parameters_alone_give_run_id_and_flowcell(shared_data: Path, run_dir: Path):
    copy_into(shared_data / "illumina/200624_A00834_0183_BHMTFYTINY/RunParameters.xml", run_dir)
    meta = scan_run(run_dir).meta
    assert (meta.run_id, meta.flowcell, meta.experiment) == (
        "200624_A00834_0183_BHMTFYDRXX", "HMTFYDRXX", "Clinical2_A1_DVT_SP_SampleSheet")

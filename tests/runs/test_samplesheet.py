"""Illumina sample sheets: v1 [Data], v2 [BCLConvert_Data] / [Cloud_Data], lanes, projects, errors."""

from __future__ import annotations

from pathlib import Path

from sandbox.runs import scan_run

from .conftest import copy_into

V2_CLOUD = """[Header]
FileFormatVersion,2
RunName,Onco_Run_17
[BCLConvert_Settings]
SoftwareVersion,3.9.3
[BCLConvert_Data]
Sample_ID,Index,Index2
Pt-0042-T,AAGGTTCC,GGTTAACC
Pt-0042-N,TTCCAAGG,CCAATTGG
[Cloud_Data]
Sample_ID,ProjectName,LibraryName,LibraryPrepKitName
Pt-0042-T,Oncology_2023,Lib-0042-T,IlluminaDNAPrep
Pt-0042-N,Oncology_2023,Lib-0042-N,IlluminaDNAPrep
"""


def test_v1_hiseq_sheet_lanes_and_projects(shared_data: Path, run_dir: Path):
    copy_into(shared_data / "illumina/170726_D00118_0303_BCB1TVANXX/SampleSheet.csv", run_dir)
    meta = scan_run(run_dir).meta
    assert len(meta.samples) == 32 and meta.sample_ids()[:2] == ["Sample_1", "Sample_2"]
    s7 = next(s for s in meta.samples if s.sample_id == "Sample_7")
    assert (s7.lane, s7.index, s7.index2, s7.project) == ("2", "GAGATTCC", "ATAGAGGC", "Project1")
    project4 = next(i for i in meta.identifiers if i.value == "Project4")
    assert project4.kind == "project" and len(project4.samples) == 16
    assert not any(i.value == "7" for i in meta.identifiers)  # numeric sample names are not evidence
    assert any(i.value == "Hiseq-2500-dual-index" and i.kind == "experiment" for i in meta.identifiers)


def test_v2_bclconvert_sheet_keeps_each_lane(shared_data: Path, run_dir: Path):
    copy_into(shared_data / "illumina/200624_A00834_0183_BHMTFYTINY/SampleSheet.csv", run_dir)
    scan = scan_run(run_dir)
    assert [(s.sample_id, s.lane) for s in scan.meta.samples] == [
        ("Sample_14574-Qiagen-IndexSet1-SP-Lane1", "1"), ("Sample_14575-Qiagen-IndexSet1-SP-Lane1", "1"),
        ("Sample_14574-Qiagen-IndexSet1-SP-Lane2", "2"), ("Sample_14575-Qiagen-IndexSet1-SP-Lane2", "2"),
    ]
    assert scan.files[0].samples == tuple(scan.meta.sample_ids())


def test_v2_cloud_data_adds_projects_and_libraries(run_dir: Path):
    (run_dir / "SampleSheet.csv").write_text(V2_CLOUD)
    meta = scan_run(run_dir).meta
    assert meta.sample_ids() == ["Pt-0042-T", "Pt-0042-N"]
    kinds = {(i.value, i.kind) for i in meta.identifiers}
    assert {("Oncology_2023", "project"), ("Lib-0042-T", "library"), ("Onco_Run_17", "experiment")} <= kinds
    assert meta.experiment == "Onco_Run_17"


def test_sheet_without_data_section_is_an_error(run_dir: Path):
    (run_dir / "SampleSheet.csv").write_text("[Header]\nIEMFileVersion,4\n[Reads]\n151\n")
    scan = scan_run(run_dir)
    assert scan.errors == ["SampleSheet.csv: RunFileError: sample sheet has no [Data] or [*_Data] section"]
    assert scan.meta.samples == []

"""scan_run over every real run folder and loose file in shared data, and the folder-level contract."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import h5py
import pod5
import pysam
import pytest

from sandbox.runs import RunFile, RunFolderError, scan_run

from .conftest import copy_into, drain

RUN_IDS = {
    "170407_A00103_0049_AH2CLFDMXX_bambi_subset": "170407_A00103_0049_AH2CLFDMXX",
    "170726_D00118_0303_BCB1TVANXX": "170726_D00118_0303_BCB1TVANXX",
    "200624_A00834_0183_BHMTFYTINY": "200624_A00834_0183_BHMTFYDRXX",
    "230825_M04034_0043_000000000-L6NVV": "230825_M04034_0043_000000000-L6NVV",
    "illuminate_MiSeq_130412_M00612_0070_000000000-A3GJA": "130412_M00612_0070_000000000-A3GJA",
}


def _sheet_ids(path: Path) -> list[str]:
    """Sample_IDs read straight from the CSV (independent of the reader): rows after the data header."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.split(",")[0] in ("[Data]", "[BCLConvert_Data]"))
    header = lines[start + 1].split(",")
    col = header.index("Sample_ID")
    return list(dict.fromkeys(line.split(",")[col] for line in lines[start + 2:] if line.strip(",")))


@pytest.mark.parametrize("name", sorted(RUN_IDS) + ["picard_125T125T_hiseq_bcl"])
def test_every_illumina_folder(shared_data: Path, name: str):
    folder = shared_data / "illumina" / name
    scan = scan_run(folder)
    out = drain(scan)
    assert scan.errors == []
    n_files = sum(1 for p in folder.rglob("*") if p.is_file())
    assert len(scan.files) == n_files
    meta = scan.meta
    if name in RUN_IDS:
        assert meta.platform == "illumina"
        assert meta.run_id == RUN_IDS[name]
        assert meta.instrument == meta.run_id.split("_")[1]
        assert any(i.kind == "run_id" and i.value == meta.run_id for i in meta.identifiers)
    sheet = folder / "SampleSheet.csv"
    if sheet.exists():
        assert meta.sample_ids() == _sheet_ids(sheet)
        interop = [f for f in scan.files if f.kind == "interop"]
        assert all(f.samples == tuple(meta.sample_ids()) for f in interop)
    for f in scan.files:
        assert out[f.rel]["raw"] == f.size


def test_loose_nanopore_files_each_in_a_run_folder(shared_data: Path, tmp_path: Path):
    for src in sorted((shared_data / "nanopore").iterdir()):
        run = tmp_path / src.name
        copy_into(src, run)
        scan = scan_run(run)
        out = drain(scan)
        assert scan.errors == [], src.name
        assert scan.meta.platform == ("unknown" if src.suffix == ".fasta" else "nanopore"), src.name
        (f,) = scan.files
        assert f.kind != "bytes"
        if src.suffix in (".pod5", ".fast5"):
            assert any(i.kind == "read_id" for i in out[f.rel]["ids"])


def test_nanopore_folder_meta_matches_pod5_and_h5py(shared_data: Path):
    folder = shared_data / "nanopore"
    scan = scan_run(folder)
    drain(scan)
    assert scan.errors == []
    pod5_run_ids = set()
    for p in folder.glob("*.pod5"):
        with pod5.Reader(p) as r:
            pod5_run_ids |= {row["acquisition_id"] for row in r.run_info_table.read_all().to_pylist()}
    with h5py.File(folder / "pod5-file-format_multi_fast5_zip.fast5") as fh:
        first = next(iter(fh.values()))
        fast5_run = first["tracking_id"].attrs["run_id"].decode()
    values = {i.value for i in scan.meta.identifiers}
    assert pod5_run_ids | {fast5_run} <= values
    assert "TEST_SAMPLE" in scan.meta.sample_ids()


def test_loose_sequence_files_each_in_a_run_folder(shared_data: Path, tmp_path: Path):
    expect = {}
    for src in sorted((shared_data / "sequences").rglob("*")):
        if not src.is_file():
            continue
        run = tmp_path / src.name
        copy_into(src, run)
        scan = scan_run(run)
        out = drain(scan)
        (f,) = scan.files
        expect[src.name] = (f, out[f.rel], scan.errors)
    # BAM: reads and read-group samples as pysam sees them
    f, out, errors = expect["NA12891.over.fingerprints.r1.bam"]
    with pysam.AlignmentFile(str(f.path), "rb", check_sq=False) as bam:
        primary = [r.query_sequence for r in bam.fetch(until_eof=True) if not r.flag & 0x900 and r.query_sequence]
    assert [r.decode() for r in out["reads"]] == [s.upper() for s in primary]
    assert f.samples == ("NA12891",) and errors == []
    # CRAM without its reference: header identifiers still come, the reads are a clear error string
    f, out, errors = expect["CEUTrio.HiSeq.WGS.b37.NA12878.20.21_n100.cram"]
    assert f.samples == ("NA12878",)
    assert {"NA12878", "Solexa-18483"} <= {i.value for i in out["ids"]}
    assert len(errors) == 1 and "reference" in errors[0]
    # VCF: sample columns
    f, out, errors = expect["CEUTrio-snps.vcf"]
    assert f.samples == ("NA12878", "NA12891", "NA12892") and errors == []
    f, out, errors = expect["NA12891.vcf.gz"]
    assert out["decoded"] == len(gzip.open(f.path).read())
    # FASTQ.gz: 100 reads, equal to the gzip module's view
    f, out, errors = expect["illumina_test_1.fastq.gz"]
    assert f.platform == "" and scan_run(f.root).meta.instrument == "NS500628"  # from the SRA-kept read name
    lines = gzip.open(f.path).read().split(b"\n")
    assert out["reads"] == lines[1::4][:100] and len(out["reads"]) == 100
    # FASTA: one record, its length as the file states it (MN908947 is 29903 bases)
    f, out, errors = expect["MN908947_Wuhan-Hu-1_reference.fasta"]
    assert [len(r) for r in out["reads"]] == [29903]


def test_missing_path_and_file_path_raise_typed_errors(tmp_path: Path):
    with pytest.raises(RunFolderError, match="does not exist"):
        scan_run(tmp_path / "nope")
    (tmp_path / "f").write_text("x")
    with pytest.raises(RunFolderError, match="not a directory"):
        scan_run(tmp_path / "f")


def test_unreadable_folder_raises(tmp_path: Path):
    if os.geteuid() == 0:
        pytest.skip("root lists any folder")
    d = tmp_path / "locked"
    d.mkdir()
    d.chmod(0)
    try:
        with pytest.raises(RunFolderError, match="cannot read"):
            scan_run(d)
    finally:
        d.chmod(0o700)


def test_unreadable_file_is_an_error_string(run_dir: Path):
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    (run_dir / "reads.fastq").write_bytes(b"@r\nACGT\n+\nFFFF\n")
    (run_dir / "reads.fastq").chmod(0)
    scan = scan_run(run_dir)
    assert scan.files == [] and scan.errors[0].startswith("reads.fastq: cannot read")


def test_hidden_files_are_read_like_any_other_symlinked_folders_and_pipes_are_listed(run_dir: Path):
    """An instrument could keep run data in dot-files: they are indexed (issue 7)."""
    (run_dir / "data.txt").write_text("hello")
    (run_dir / ".DS_Store").write_text("x")
    (run_dir / ".sandbox-index").mkdir()  # where old versions kept their index cache
    (run_dir / ".sandbox-index" / "index.sqlite").write_text("cache")
    (run_dir / "sub").mkdir()
    (run_dir / "sub" / ".hidden").write_text("x")
    os.symlink(run_dir / "sub", run_dir / "loop")
    os.mkfifo(run_dir / "pipe")
    scan = scan_run(run_dir)
    assert sorted(f.rel for f in scan.files) == [".DS_Store", ".sandbox-index/index.sqlite", "data.txt", "sub/.hidden"]
    assert all(type(f) is RunFile for f in scan.files)
    assert set(scan.skipped) == {"loop/", "pipe"}
    assert scan.errors == ["pipe: not a regular file, skipped"]
    assert scan.meta.run_id == "run" and scan.meta.platform == "unknown"

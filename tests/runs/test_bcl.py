"""BCL and BCL.gz: per-tile reads across cycles, checked byte by byte against the cycle files."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pysam
import pytest

from sandbox.runs import scan_run
from sandbox.runs.bcl import BclFile

PICARD = "illumina/picard_125T125T_hiseq_bcl"
SHEET = "[Data]\nLane,Sample_ID\n1,LaneOne_A\n1,LaneOne_B\n2,LaneTwo\n"


def _by_hand(path: Path) -> list[int]:
    """Independent BCL decode: little-endian count, then one byte per cluster."""
    data = path.read_bytes()
    assert int.from_bytes(data[:4], "little") == len(data) - 4
    return list(data[4:])


def _base(byte: int) -> int:
    return ord("N") if byte == 0 else b"ACGT"[byte & 3]


@pytest.fixture(scope="module")
def picard_reads(shared_data: Path) -> dict[str, list[bytes]]:
    scan = scan_run(shared_data / PICARD)
    return {f.rel: list(f.reads()) for f in scan.files if isinstance(f, BclFile)}


def test_picard_tiles_give_2000_reads_of_250_bases(picard_reads: dict, shared_data: Path):
    firsts = {rel: reads for rel, reads in picard_reads.items() if reads}
    assert sorted(firsts) == ["Data/Intensities/BaseCalls/L001/C1.1/s_1_1101.bcl",
                              "Data/Intensities/BaseCalls/L002/C1.1/s_2_1101.bcl"]
    for rel, reads in firsts.items():
        assert len(reads) == 2000 and {len(r) for r in reads} == {250}
        lane_dir = (shared_data / PICARD / rel).parent.parent
        for cycle in (1, 2, 77, 250):
            calls = _by_hand(lane_dir / f"C{cycle}.1" / Path(rel).name)
            assert len(calls) == 2000
            assert bytes(r[cycle - 1] for r in reads) == bytes(_base(b) for b in calls)


def test_bcl_gz_matches_plain_and_run_info_splits_reads(shared_data: Path, tmp_path: Path, picard_reads: dict):
    run = tmp_path / "run"
    for c in range(1, 251):
        src = shared_data / PICARD / f"Data/Intensities/BaseCalls/L001/C{c}.1/s_1_1101.bcl"
        dst = run / f"Data/Intensities/BaseCalls/L001/C{c}.1/s_1_1101.bcl.gz"
        dst.parent.mkdir(parents=True)
        dst.write_bytes(gzip.compress(src.read_bytes()))
    (run / "SampleSheet.csv").write_text(SHEET)
    scan = scan_run(run)
    first = next(f for f in scan.files if f.rel.endswith("C1.1/s_1_1101.bcl.gz"))
    plain = picard_reads["Data/Intensities/BaseCalls/L001/C1.1/s_1_1101.bcl"]
    assert list(first.reads()) == plain
    assert b"".join(first.decoded()) == (shared_data / PICARD / "Data/Intensities/BaseCalls/L001/C1.1/s_1_1101.bcl").read_bytes()
    assert first.samples == ("LaneOne_A", "LaneOne_B")
    (run / "RunInfo.xml").write_text(
        '<RunInfo><Run Id="X"><Reads><Read Number="1" NumCycles="125" IsIndexedRead="N"/>'
        '<Read Number="2" NumCycles="125" IsIndexedRead="N"/></Reads></Run></RunInfo>')
    first = next(f for f in scan_run(run).files if f.rel.endswith("C1.1/s_1_1101.bcl.gz"))
    split = list(first.reads())
    assert split[0::2] == [r[:125] for r in plain] and split[1::2] == [r[125:] for r in plain]
    assert scan.errors == []


def test_lane_samples_and_header_check(shared_data: Path, tmp_path: Path):
    run = tmp_path / "run"
    shutil.copytree(shared_data / PICARD / "Data/Intensities/BaseCalls/L002", run / "Data/Intensities/BaseCalls/L002")
    (run / "SampleSheet.csv").write_text(SHEET)
    bad = run / "Data/Intensities/BaseCalls/L002/C5.1/s_2_1101.bcl"
    bad.chmod(0o644)
    bad.write_bytes(bad.read_bytes()[:1000])
    scan = scan_run(run)
    assert {f.samples for f in scan.files if f.kind == "bcl"} == {("LaneTwo",)}
    assert scan.errors == ["Data/Intensities/BaseCalls/L002/C5.1/s_2_1101.bcl: RunFileError: "
                           "BCL header says 2000 clusters, file holds 996"]
    reads = list(next(f for f in scan.files if f.rel.endswith("C1.1/s_2_1101.bcl")).reads())
    assert len(reads) == 2000 and all(r[4] == ord("N") for r in reads[996:])


def test_nextseq_per_lane_bgzf_cycles(shared_data: Path, tmp_path: Path, picard_reads: dict):
    """NextSeq 500/550: L001/<cycle>.bcl.bgzf holds every tile of the lane for one cycle."""
    run = tmp_path / "run"
    lane = run / "Data/Intensities/BaseCalls/L001"
    lane.mkdir(parents=True)
    for c in range(1, 251):
        src = shared_data / PICARD / f"Data/Intensities/BaseCalls/L001/C{c}.1/s_1_1101.bcl"
        pysam.tabix_compress(str(src), str(lane / f"{c:04d}.bcl.bgzf"))  # real BGZF, as the instrument writes
    scan = scan_run(run)
    files = {f.rel.rsplit("/", 1)[1]: f for f in scan.files}
    assert list(files["0001.bcl.bgzf"].reads()) == picard_reads["Data/Intensities/BaseCalls/L001/C1.1/s_1_1101.bcl"]
    assert list(files["0002.bcl.bgzf"].reads()) == []
    assert scan.errors == []


def test_garbage_header_stops_at_the_data(tmp_path: Path):
    run = tmp_path / "run"
    p = run / "Data/Intensities/BaseCalls/L001/C1.1/s_1_1101.bcl.gz"
    p.parent.mkdir(parents=True)
    p.write_bytes(gzip.compress(b"\xff\xff\xff\x7f" + b"\x01" * 100))
    scan = scan_run(run)
    assert list(scan.files[0].reads()) == []
    assert scan.errors == ["Data/Intensities/BaseCalls/L001/C1.1/s_1_1101.bcl.gz: reads: RunFileError: "
                           "BCL header says 2147483647 clusters, data ends at cluster 100"]

"""The simulated MiSeq run: byte-identical per seed, internally consistent, readable by our readers."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from sandbox.simulate import basecalls
from sandbox.simulate.dna import revcomp
from sandbox.simulate.runfolder import INDEX_LEN, layout, make_illumina_run, sample_fastqs

K = 25


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return make_illumina_run(tmp_path_factory.mktemp("run"), seed=3, samples=3, reads_per_sample=400, read_len=101)


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def records(path: Path) -> list[tuple[bytes, bytes, bytes]]:
    lines = gzip.decompress(path.read_bytes()).split(b"\n")
    assert lines[-1] == b"" and len(lines) % 4 == 1
    return list(zip(lines[0::4], lines[1::4], lines[3::4], strict=False))


def kmers(seqs: list[bytes]) -> set[bytes]:
    out = set()
    for s in seqs:
        for x in (s, revcomp(s)):
            out.update(x[i:i + K] for i in range(0, len(x) - K + 1, 7))
    return out


def test_same_seed_same_bytes_other_seed_other_run(tmp_path, run):
    again = make_illumina_run(tmp_path / "a", seed=3, samples=3, reads_per_sample=400, read_len=101)
    assert again.name == run.name and files(again) == files(run)
    other = make_illumina_run(tmp_path / "b", seed=4, samples=3, reads_per_sample=400, read_len=101, with_bcl=False)
    assert other.name != run.name
    assert not kmers([r[1] for p in sample_fastqs(other).values() for r in records(p)]) & kmers(
        [r[1] for p in sample_fastqs(run).values() for r in records(p)])


def test_layout_and_names(run):
    lay = layout(3, 3)
    assert run.name == lay.run_id and run.name.startswith("251123_M07011_") and "000000000-" in run.name
    for name in ("RunInfo.xml", "RunParameters.xml", "SampleSheet.csv", "InterOp/TileMetricsOut.bin"):
        assert (run / name).is_file(), name
    fastqs = sample_fastqs(run)
    assert list(fastqs) == lay.sample_ids
    assert [p.name for p in fastqs.values()] == [f"{s}_S{i + 1}_L001_R1_001.fastq.gz" for i, s in enumerate(lay.sample_ids)]
    assert (run / "Data/Intensities/BaseCalls/Undetermined_S0_L001_R1_001.fastq.gz").is_file()
    assert len(list((run / "Data/Intensities/BaseCalls/L001").glob("C*.1/s_1_1101.bcl"))) == 101 + 2 * INDEX_LEN
    gz = fastqs[lay.sample_ids[0]].read_bytes()
    assert gz[:2] == b"\x1f\x8b" and gz[4:8] == b"\0\0\0\0"  # gzip mtime 0


def test_our_readers_parse_the_metadata(run):
    from sandbox.runs.base import RunMeta
    from sandbox.runs.runinfo import RunInfoFile
    from sandbox.runs.runparams import RunParametersFile
    from sandbox.runs.samplesheet import SampleSheetFile

    meta = RunMeta()
    for cls, name in ((RunInfoFile, "RunInfo.xml"), (RunParametersFile, "RunParameters.xml"),
                      (SampleSheetFile, "SampleSheet.csv")):
        assert cls.claim(name, (run / name).read_bytes()[:4096])
        cls(run, run / name).contribute(meta)
    lay = layout(3, 3)
    assert meta.run_id == lay.run_id and meta.instrument == "M07011" and meta.flowcell == lay.flowcell
    assert meta.sample_ids() == lay.sample_ids
    assert [(s.index, s.index2) for s in meta.samples] == lay.indexes
    assert meta.read_cycles == [(1, 101, False), (2, INDEX_LEN, True), (3, INDEX_LEN, True)]
    kinds = {i.kind for i in meta.identifiers}
    assert {"run_id", "instrument", "flowcell", "sample", "project", "experiment"} <= kinds


def test_fastq_records_are_realistic(run):
    lay = layout(3, 3)
    for i, path in enumerate(sample_fastqs(run).values()):
        recs = records(path)
        assert len(recs) == 400
        i7, i5 = lay.indexes[i]
        for head, seq, qual in recs[:50]:
            assert head.startswith(b"@M07011:%d:%s:1:1101:" % (lay.run_number, lay.flowcell.encode()))
            assert head.endswith(f" 1:N:0:{i7}+{i5}".encode())
            assert len(seq) == len(qual) == 101 and set(seq) <= set(b"ACGTN")
        quals = np.frombuffer(b"".join(r[2] for r in recs), dtype=np.uint8).reshape(-1, 101) - 33
        assert quals.min() >= 2 and quals.max() <= 38
        assert quals[:, :10].mean() > quals[:, -10:].mean() + 3  # quality falls along the read
        n_at = np.frombuffer(b"".join(r[1] for r in recs), dtype=np.uint8).reshape(-1, 101) == ord("N")
        assert (quals[n_at] == 2).all()


def test_reads_are_attributable_to_their_sample(run):
    per_sample = {sid: kmers([r[1] for r in records(p)]) for sid, p in sample_fastqs(run).items()}
    ids = list(per_sample)
    for a in ids:
        for b in ids:
            if a != b:
                assert len(per_sample[a] & per_sample[b]) == 0
    half = [r[1] for r in records(sample_fastqs(run)[ids[0]])]
    assert len(kmers(half[:200]) & kmers(half[200:])) > 100  # reads of one sample overlap each other


def test_bcl_tile_holds_the_same_clusters_as_the_fastqs(run):
    lane = run / "Data/Intensities/BaseCalls/L001"
    cycles = 101 + 2 * INDEX_LEN
    calls = []
    for c in range(1, cycles + 1):
        raw = (lane / f"C{c}.1/s_1_1101.bcl").read_bytes()
        (count,) = struct.unpack_from("<I", raw)
        assert len(raw) == 4 + count
        calls.append(np.frombuffer(raw, dtype=np.uint8, offset=4))
    calls = np.stack(calls, axis=1)
    filt = (lane / "s_1_1101.filter").read_bytes()
    assert struct.unpack_from("<III", filt) == (0, 3, len(calls))
    passed = np.frombuffer(filt, dtype=np.uint8, offset=12).astype(bool)
    assert 0.9 < passed.mean() < 1.0
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)[calls & 3]
    bases[calls == 0] = ord("N")
    quals = np.where(calls == 0, 2, calls >> 2) + 33
    index = {(i7 + i5).encode(): sid for sid, (i7, i5) in zip(layout(3, 3).sample_ids, layout(3, 3).indexes, strict=True)}
    from_bcl: dict[str, list[tuple[bytes, bytes]]] = {sid: [] for sid in index.values()}
    for row in np.flatnonzero(passed):
        sid = index.get(bases[row, 101:].tobytes())
        if sid:
            from_bcl[sid].append((bases[row, :101].tobytes(), quals[row, :101].astype(np.uint8).tobytes()))
    for sid, path in sample_fastqs(run).items():
        assert from_bcl[sid] == [(seq, qual) for _, seq, qual in records(path)]


def test_tile_metrics_v2(run):
    raw = (run / "InterOp/TileMetricsOut.bin").read_bytes()
    assert raw[:2] == bytes([2, 10])
    recs = np.frombuffer(raw, dtype=basecalls.TILE_METRICS_RECORD, offset=2)
    by_code = {int(r["code"]): float(r["value"]) for r in recs}
    assert set(recs["lane"]) == {1} and set(recs["tile"]) == {1101}
    filt = (run / "Data/Intensities/BaseCalls/L001/s_1_1101.filter").read_bytes()
    assert by_code[102] == struct.unpack_from("<I", filt, 8)[0]
    assert by_code[103] == sum(filt[12:])


def test_a_run_of_two_thousand_reads_is_fast(tmp_path):
    import time

    start = time.perf_counter()
    make_illumina_run(tmp_path, seed=9)
    assert time.perf_counter() - start < 10

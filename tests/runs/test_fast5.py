"""FAST5: multi-read basecalls equal the FASTQ stored in each read; single-read tracking ids."""

from __future__ import annotations

from pathlib import Path

import h5py

from sandbox.runs import scan_run

from .conftest import copy_into


def test_multi_read_fast5_reads_equal_embedded_fastq(shared_data: Path, run_dir: Path):
    src = shared_data / "nanopore/pod5-file-format_multi_fast5_zip.fast5"
    copy_into(src, run_dir)
    scan = scan_run(run_dir)
    (f,) = scan.files
    with h5py.File(src) as fh:
        fastqs = [fh[k]["Analyses/Basecall_1D_000/BaseCalled_template/Fastq"][()] for k in fh]
        tracking = {k: v.decode() for k, v in next(iter(fh.values()))["tracking_id"].attrs.items()}
    fastqs = [q if isinstance(q, bytes) else q.encode() for q in fastqs]
    assert list(f.reads()) == [q.split(b"\n")[1] for q in fastqs] and len(fastqs) == 10
    assert b"".join(f.decoded()) == b"".join(q if q.endswith(b"\n") else q + b"\n" for q in fastqs)
    ids = {(i.value, i.kind) for i in f.identifiers()}
    assert {(tracking["run_id"], "run_id"), (tracking["sample_id"], "sample"), (tracking["device_id"], "instrument"),
            (tracking["exp_script_name"], "protocol")} <= ids
    assert sum(1 for _, k in ids if k == "read_id") == 10
    assert f.samples == ("TEST_SAMPLE",) and scan.errors == []


def test_single_read_fast5(shared_data: Path, run_dir: Path):
    copy_into(shared_data / "nanopore/pod5-file-format_single_read_fe85b517-62ee-4a33-8767-41cab5d5ab39.fast5", run_dir)
    scan = scan_run(run_dir)
    (f,) = scan.files
    ids = {(i.value, i.kind) for i in f.identifiers()}
    assert ("fe85b517-62ee-4a33-8767-41cab5d5ab39", "read_id") in ids and ("FAL62557", "flowcell") in ids
    assert scan.meta.flowcell == "FAL62557" and f.samples == ("R10_1_pcr_zymo",)
    assert list(f.reads()) == [] and scan.errors == []

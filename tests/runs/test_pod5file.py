"""POD5: run info identifiers and read ids, checked against the pod5 library and the FAST5 twin."""

from __future__ import annotations

from pathlib import Path

import h5py
import pod5

from sandbox.runs import scan_run

from .conftest import copy_into


def test_read_ids_and_run_info(shared_data: Path, run_dir: Path):
    src = shared_data / "nanopore/multi_fast5_zip_v3.pod5"
    copy_into(src, run_dir)
    scan = scan_run(run_dir)
    (f,) = scan.files
    ids = list(f.identifiers())
    with pod5.Reader(src) as r:
        expected_ids = [str(rec.read_id) for rec in r.reads()]
        info = next(r.reads()).run_info
    assert [i.value for i in ids if i.kind == "read_id"] == expected_ids and len(expected_ids) == 10
    with h5py.File(shared_data / "nanopore/pod5-file-format_multi_fast5_zip.fast5") as fh:
        assert sorted(expected_ids) == sorted(k.removeprefix("read_") for k in fh)  # same 10 reads
    values = {(i.value, i.kind) for i in ids}
    assert {(info.acquisition_id, "run_id"), (info.protocol_run_id, "run_id"), (info.sample_id, "sample"),
            ("MS00000", "instrument"), ("TEST_EXPERIMENT", "experiment")} <= values
    assert scan.meta.run_id == info.acquisition_id and scan.meta.platform == "nanopore"
    assert f.samples == ("TEST_SAMPLE",) and list(f.reads()) == [] and scan.errors == []


def test_promethion_pod5_flowcell_and_device(shared_data: Path, run_dir: Path):
    copy_into(shared_data / "nanopore/dorado_single_na24385.pod5", run_dir)
    meta = scan_run(run_dir).meta
    assert (meta.flowcell, meta.instrument) == ("PAK21298", "PAPAP48")
    assert meta.samples == []  # MinKNOW's "no_sample" placeholder is not a sample

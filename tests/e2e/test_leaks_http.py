"""Leaks over HTTP/1.1 from real clients (requests): raw chunk, multipart file, one read in JSON."""

from __future__ import annotations

import json

import pytest
import requests

from sandbox.simulate.dna import revcomp

from .conftest import assert_leak, content_findings

pytestmark = pytest.mark.e2e


@pytest.fixture
def session():
    with requests.Session() as s:
        s.trust_env = False  # never a proxy: these bytes stay on loopback
        yield s


def test_post_of_a_fastq_gz_chunk(recorder, http_server, sim_run, replay, session):
    sample = sim_run.sample_ids[0]
    blob = sim_run.fastqs[sample].read_bytes()
    chunk = blob[len(blob) // 4: len(blob) // 4 + 64 * 1024]  # mid-file: no gzip header, not decodable
    with recorder() as rec:
        r = session.post(f"{http_server.url}/api/v2/diag/chunk?part=3", data=chunk,
                         headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200 and http_server.received[0][3] == chunk
    result = replay(rec.path, sim_run.path)
    hits = assert_leak(result, sim_run, sample, file=sim_run.fastqs[sample])
    assert any("run-bytes" in f["evidence_kinds"] and "POST" in " ".join(f["chain"]) for f in hits)
    share = max(m["fraction"] for f in hits for m in f["files"])
    assert 0.05 < share < 0.9  # a quarter-ish of the file, not all of it


def test_multipart_upload_of_a_whole_fastq_gz(recorder, http_server, sim_run, replay, session):
    sample = sim_run.sample_ids[1]
    path = sim_run.fastqs[sample]
    with recorder() as rec:
        r = session.post(f"{http_server.url}/support/upload", files={"bundle": (path.name, path.read_bytes())},
                         data={"ticket": "CS-20931"})
    assert r.status_code == 200
    result = replay(rec.path, sim_run.path)
    hits = assert_leak(result, sim_run, sample, file=path, min_fraction=0.9)
    assert any(f["severity"] == "critical" for f in hits)
    assert any(any("multipart" in step for step in f["chain"]) for f in hits)


def test_single_read_reverse_complemented_in_json(recorder, http_server, sim_run, replay, session):
    sample = sim_run.sample_ids[2]
    read = sim_run.reads(sample, 1)[0]
    body = {"event": "qc_example", "cycle": 151, "sequence": revcomp(read.encode()).decode()}
    with recorder() as rec:
        session.post(f"{http_server.url}/telemetry", json=body)
    assert json.loads(http_server.received[0][3])["sequence"] == body["sequence"]
    result = replay(rec.path, sim_run.path)
    hits = content_findings(result, sim_run, sample)
    assert hits, result.findings
    assert all(f["severity"] in ("medium", "high", "critical") for f in hits)
    # one read comes from one sample: the finding must not blame the run's other samples
    assert {s for f in hits for s in f["samples"]} == {sample}, [f["samples"] for f in hits]


def test_reads_hidden_in_multipart_file_names_are_found(recorder, http_server, sim_run, replay, session):
    """The instrument chooses the names too: reads carried only in part file names are a leak."""
    sample = sim_run.sample_ids[0]
    reads = sim_run.reads(sample, 4)
    files = [(f"f{i}", (f"{read}.txt", b"ok")) for i, read in enumerate(reads)]
    with recorder() as rec:
        r = session.post(f"{http_server.url}/support/upload", files=files)
    assert r.status_code == 200
    result = replay(rec.path, sim_run.path)
    hits = content_findings(result, sim_run, sample)
    assert hits, result.findings
    assert {s for f in hits for s in f["samples"]} == {sample}
    assert any(f["chain"][-1] == "names" for f in hits)
    shown = json.dumps(result.report)
    assert not [r for r in reads if r[:40] in shown]          # the rig never prints what it found

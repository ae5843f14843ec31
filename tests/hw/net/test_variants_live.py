"""Variant records re-written before upload, live through the rig (regular proxy on loopback): a leak
found while the session runs, refused with --block before the server gets them, and the recording
replays to the same findings."""

from __future__ import annotations

import json

import pysam
import pytest
import requests

from tests.hw.net.rig import end, essence, replay, rows, wait_for
from tests.hw.net.test_regular import ALLOW, start_rig

pytestmark = pytest.mark.e2e


@pytest.fixture()
def trio_run(shared_data, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "trio.vcf").write_bytes((shared_data / "sequences/human/CEUTrio-snps.vcf").read_bytes())
    (run / "SampleSheet.csv").write_text("[Data]\nSample_ID,Sample_Name\nS1,NA12891\n")
    calls = []
    with pysam.VariantFile(str(run / "trio.vcf")) as fh:
        for r in fh:
            calls.append({"chrom": r.chrom, "pos": r.pos, "ref": r.ref, "alt": list(r.alts),
                          "genotypes": [list(r.samples[s]["GT"]) for s in fh.header.samples]})
    return run, calls


def test_variants_found_live_and_the_recording_replays_the_same(trio_run, cloud, tmp_path):
    run, calls = trio_run
    pki, cloud_port, received = cloud
    proc, port, rec, db, report = start_rig(tmp_path, run, pki, "--allow", *ALLOW)
    proxies = {"https": f"http://127.0.0.1:{port}"}
    ca = str(tmp_path / "ca" / "mitmproxy-ca-cert.pem")
    body = json.dumps({"calls": calls}).encode()
    try:
        r = requests.post(f"https://localhost:{cloud_port}/results", data=body, proxies=proxies, verify=ca, timeout=60)
        assert r.status_code == 200
        wait_for(lambda: rows(db, "SELECT 1 FROM findings WHERE kind = 'variants'"), "a live variants finding", proc)
    finally:
        _, err = end(proc)
    assert proc.returncode == 1, err
    live = json.loads(report.read_text())
    (leak,) = [f for f in live["findings"] if f["kind"] == "variants"]
    assert leak["severity"] == "critical" and leak["detail"]["variants"]["matched"] == len(calls)
    code, again = replay(rec / "net.pcapng", run, tmp_path, *ALLOW)
    assert code == 1
    assert essence(live) == essence(again)


def test_block_refuses_variants_before_the_server_gets_them(trio_run, cloud, tmp_path):
    run, calls = trio_run
    pki, cloud_port, received = cloud
    proc, port, rec, db, report = start_rig(tmp_path, run, pki, "--block", "--allow", *ALLOW)
    proxies = {"https": f"http://127.0.0.1:{port}"}
    ca = str(tmp_path / "ca" / "mitmproxy-ca-cert.pem")
    csv = "\n".join(f"{c['chrom']},{c['pos']},{c['ref']},{c['alt'][0]}" for c in calls).encode()
    try:
        ok = requests.post(f"https://localhost:{cloud_port}/status", data=b'{"state": "idle"}', proxies=proxies,
                           verify=ca, timeout=60)
        assert ok.status_code == 200
        with pytest.raises(requests.RequestException):
            requests.post(f"https://localhost:{cloud_port}/results.csv", data=csv, proxies=proxies, verify=ca,
                          timeout=60)
    finally:
        _, err = end(proc)
    assert proc.returncode == 1, err
    assert received.bodies == [b'{"state": "idle"}']          # the variants never reached the server
    live = json.loads(report.read_text())
    (leak,) = [f for f in live["findings"] if f["kind"] == "variants"]
    assert "carries run data" in leak["detail"].get("blocked", "")
    code, again = replay(rec / "net.pcapng", run, tmp_path, *ALLOW)
    assert essence(live) == essence(again)

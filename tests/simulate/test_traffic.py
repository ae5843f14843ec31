"""The demo capture, read back by tshark (an independent dissector): valid packets, the story's bytes."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile

import pytest

from sandbox.simulate.dna import revcomp
from sandbox.simulate.runfolder import make_illumina_run, sample_fastqs
from sandbox.simulate.traffic import INSTRUMENT, make_demo_capture

DOC_NETS = ("192.0.2.", "198.51.100.", "203.0.113.", "10.20.0.")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo")
    run = make_illumina_run(d, seed=0, reads_per_sample=300, with_bcl=False)
    legs = make_demo_capture(run, d / "demo.pcapng")
    return run, d / "demo.pcapng", legs


def tshark(path, *args: str) -> str:
    return subprocess.run(["tshark", "-r", str(path), *args], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def test_only_documentation_addresses_and_no_malformed_packets(demo):
    _, cap, _ = demo
    rows = tshark(cap, "-T", "fields", "-e", "ip.src", "-e", "ip.dst").split()
    assert rows and all(a.startswith(DOC_NETS) for a in rows)
    assert INSTRUMENT in rows
    assert "Malformed" not in tshark(cap) and "Error" not in tshark(cap, "-q", "-z", "expert,error")
    assert tshark(cap, "-Y", "tcp.analysis.flags && !tcp.analysis.window_update") == ""


def test_names_are_reserved(demo):
    _, cap, legs = demo
    names = set(tshark(cap, "-Y", "dns.flags.response == 0", "-T", "fields", "-e", "dns.qry.name").split())
    assert names and all(n.endswith((".example", ".test", ".invalid")) for n in names)
    assert all(leg.destination.endswith((".example", ".test", ".invalid")) for leg in legs)


def test_diagnostics_bundle_carries_part_of_sample_one(demo, tmp_path):
    run, cap, legs = demo
    leg = next(leg for leg in legs if leg.name == "diagnostics-bundle")
    tshark(cap, "-q", "--export-objects", f"http,{tmp_path}")
    body = next(p for p in tmp_path.iterdir() if "bundles" in p.name).read_bytes()
    start = body.index(b"\x1f\x8b")
    bundle = tarfile.open(fileobj=io.BytesIO(gzip.decompress(body[start:body.rindex(b"\r\n--")])))
    member = bundle.extractfile(f"run/{leg.file}").read()
    full = (run / leg.file).read_bytes()
    assert full.startswith(member) and 0.3 < len(member) / len(full) < 0.6
    assert leg.sample == next(iter(sample_fastqs(run)))


def test_dns_labels_hold_the_sample_id_and_reads(demo):
    import base64

    run, cap, legs = demo
    leg = next(leg for leg in legs if leg.name == "dns-tunnel")
    names = tshark(cap, "-Y", "dns.flags.response == 0", "-T", "fields", "-e", "dns.qry.name").split()
    tunnel = [n for n in names if n.endswith(leg.destination)]
    tag = tunnel[0].split(".")[0]
    assert base64.b32decode(tag.upper() + "=" * (-len(tag) % 8)).decode() == leg.sample
    hexed = "".join("".join(n.split(".")[:-5]) for n in tunnel[1:])  # drop rNpM.tag.c2.telemetry-cache.test
    first = gzip.decompress(sample_fastqs(run)[leg.sample].read_bytes()).split(b"\n")[1]
    assert bytes.fromhex(hexed).startswith(first)
    ports = set(tshark(cap, "-Y", f'dns.qry.name contains "{leg.destination}"', "-T", "fields", "-e",
                       "udp.srcport").split())
    assert len(ports) == 2  # one client socket (and the resolver's 53)


def test_single_read_is_reverse_complemented(demo, tmp_path):
    run, cap, legs = demo
    leg = next(leg for leg in legs if leg.name == "single-read-json")
    tshark(cap, "-q", "--export-objects", f"http,{tmp_path}")
    event = json.loads(next(p for p in tmp_path.iterdir() if p.name.startswith("events")).read_bytes())
    reads = gzip.decompress(sample_fastqs(run)[leg.sample].read_bytes()).split(b"\n")[1::4]
    assert revcomp(event["example_sequence"].encode()) in reads


def test_opaque_upload_looks_like_tls(demo):
    _, cap, legs = demo
    leg = next(leg for leg in legs if leg.name == "opaque-upload")
    sni = tshark(cap, "-Y", "tls.handshake.type == 1", "-T", "fields", "-e", "tls.handshake.extensions_server_name")
    assert sni.strip() == leg.destination
    out = tshark(cap, "-Y", f"tls && ip.src == {INSTRUMENT}", "-T", "fields", "-e", "tls.record.length")
    sizes = [int(n) for n in out.replace(",", " ").split()]  # every record the instrument sent
    assert leg.notes["bytes_out"] <= sum(sizes) < leg.notes["bytes_out"] + 1000


def test_same_run_same_capture(demo, tmp_path):
    run, cap, legs = demo
    again = make_demo_capture(run, tmp_path / "again.pcapng")
    assert (tmp_path / "again.pcapng").read_bytes() == cap.read_bytes() and again == legs

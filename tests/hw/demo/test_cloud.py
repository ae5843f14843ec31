"""The demo's cloud: real servers (HTTPS by its own CA, S3, a TCP sink, a resolver) on one loopback
address, answering real clients, and logging only counts of what arrived."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest
import requests

from hw.demo.bench import REPO, _read_line, demo_address
from hw.demo.pki import make_pki
from sandbox.simulate.payload import update_manifest

START_S = 120     # moto and grpcio import slowly on a loaded 2-core machine; never a timing assertion


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cloud")
    address = demo_address()
    pki = make_pki(tmp / "pki", ["s3.cloudvault.example", "support.vendor.example", address])
    log = tmp / "cloud.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "hw.demo.cloud", "--pki", str(tmp / "pki"), "--bind", address,
                             "--services", "web,tcp,dns", "--s3-host", "s3.cloudvault.example", "--log", str(log)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = _read_line(proc, START_S)
    assert line.startswith("up "), proc.stderr.read1().decode(errors="replace") if proc.poll() is not None else line
    yield address, json.loads(line[3:]), pki, log
    proc.kill()
    proc.wait()


def logged(log: Path, service: str) -> list[dict]:
    return [e for e in map(json.loads, log.read_text().splitlines()) if e["service"] == service]


def test_https_uploads_are_answered_and_counted_not_kept(cloud):
    address, ports, pki, log = cloud
    url = f"https://{address}:{ports['web']}"
    r = requests.post(url + "/api/upload", data=b"ACGT" * 1000, verify=str(pki.ca), timeout=60,
                      headers={"Host": "support.vendor.example"})
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert requests.get(url + "/miseq/latest.json", verify=str(pki.ca), timeout=60).content == update_manifest()
    assert {"service": "web", "host": "support.vendor.example", "bytes": 4000} in logged(log, "web")
    assert b"ACGT" not in log.read_bytes()


def test_s3_hosts_get_a_real_s3(cloud):
    address, ports, pki, log = cloud
    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=f"https://{address}:{ports['web']}", region_name="us-east-1",
                      verify=str(pki.ca), aws_access_key_id="a", aws_secret_access_key="b",
                      config=Config(s3={"addressing_style": "path"}))
    # the Host header names the S3 host, as the instrument's does through the rig
    s3.meta.events.register("before-sign.s3", lambda request, **_: request.headers.__setitem__(
        "Host", "s3.cloudvault.example"))
    s3.create_bucket(Bucket="runs")
    s3.put_object(Bucket="runs", Key="k", Body=b"reads")
    assert s3.get_object(Bucket="runs", Key="k")["Body"].read() == b"reads"


def test_the_resolver_answers_nxdomain_and_the_tcp_sink_counts(cloud):
    address, ports, pki, log = cloud
    answer = dns.query.udp(dns.message.make_query("abc.telemetry-cache.test", "A"), address, port=ports["dns"],
                           timeout=30)
    assert answer.rcode() == dns.rcode.NXDOMAIN
    with socket.create_connection((address, ports["tcp"]), timeout=30) as sock:
        sock.sendall(b"x" * 5000)
    deadline = time.monotonic() + START_S
    while not logged(log, "tcp") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert logged(log, "tcp") == [{"service": "tcp", "host": "", "bytes": 5000}]


def test_an_unknown_service_is_refused():
    proc = subprocess.run([sys.executable, "-m", "hw.demo.cloud", "--pki", "/nonexistent", "--services", "ftp"],
                          cwd=REPO, capture_output=True, text=True, timeout=START_S)
    assert proc.returncode == 2 and "unknown service ftp" in proc.stderr

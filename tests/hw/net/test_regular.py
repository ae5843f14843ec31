"""The network tap in regular-proxy mode on loopback (no namespace rights needed): real clients
through mitmproxy to a real HTTPS server; live findings, then the replay of the recording agrees."""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import threading
import time
import zlib
from pathlib import Path

import pytest
import requests

from hw.net.dumpcap import KEYS_POLL_S
from sandbox.captures.pcapng import scan_secrets
from sandbox.correlate.opaque import UNREADABLE
from sandbox.simulate import ensure_demo
from tests.hw.net.rig import REPO, chains, end, essence, replay, rows, sandbox, wait_for
from tests.hw.net.servers import http_sink, https_sink, make_pki

pytestmark = pytest.mark.e2e
ALLOW = ["localhost", "127.0.0.1"]
DUMPCAP_STOPPED_S = 4.0   # well past the writer delay the rig allows the recording


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def demo() -> tuple[Path, Path]:
    return ensure_demo(REPO / "captures" / "demo")


def start_rig(tmp_path: Path, run_dir: Path, pki, *extra: str, mode: str = "regular"):
    port = free_port()
    rec, db, report = tmp_path / "rec", tmp_path / "store.sqlite", tmp_path / "live.json"
    proc = sandbox("watch", "--run", str(run_dir), "--mode", mode, "--listen", f"127.0.0.1:{port}",
                   "--ca-dir", str(tmp_path / "ca"), "--upstream-ca", str(pki.ca), "--record", str(rec),
                   "--db", str(db), "--report", str(report), "--cache-dir", str(tmp_path / "cache"), "--quiet",
                   *extra)
    wait_for(lambda: rows(db, "SELECT value FROM session WHERE key = 'live'"), "the session to start", proc)
    return proc, port, rec, db, report


def test_uploads_through_the_proxy_are_found_live_and_the_recording_replays_the_same(demo, cloud, tmp_path):
    run_dir, _ = demo
    pki, cloud_port, received = cloud
    proc, port, rec, db, report = start_rig(tmp_path, run_dir, pki, "--allow", *ALLOW)
    proxies = {"https": f"http://127.0.0.1:{port}"}
    ca = str(tmp_path / "ca" / "mitmproxy-ca-cert.pem")
    fastq = next((run_dir / "Data" / "Intensities" / "BaseCalls").glob("PT9936*.fastq.gz")).read_bytes()
    try:
        r = requests.post(f"https://localhost:{cloud_port}/upload", data=fastq, proxies=proxies, verify=ca,
                          timeout=60)
        assert r.status_code == 200

        def chunks():   # a chunked gzip upload of another sample's reads, decompressed text re-gzipped
            raw = gzip.compress(gzip.decompress(
                next((run_dir / "Data" / "Intensities" / "BaseCalls").glob("PT5698*.fastq.gz")).read_bytes()))
            for i in range(0, len(raw), 7001):
                yield raw[i:i + 7001]

        r = requests.put(f"https://localhost:{cloud_port}/chunked", data=chunks(), proxies=proxies, verify=ca,
                         headers={"content-encoding": "gzip"}, timeout=60)
        assert r.status_code == 200
        # a body of several MB: handed to the analyzer worker through the shared ring (sandbox.bytes_ring)
        big = os.urandom(3 << 20) + gzip.decompress(fastq)
        r = requests.put(f"https://localhost:{cloud_port}/big", data=big, proxies=proxies, verify=ca, timeout=60)
        assert r.status_code == 200
        wait_for(lambda: rows(db, "SELECT 1 FROM findings WHERE severity_rank >= 3"), "a live high finding", proc)
    finally:
        _, err = end(proc)
    assert proc.returncode == 1, err
    assert received.total >= len(fastq)
    live = json.loads(report.read_text())
    kinds = {(f["kind"], tuple(f["samples"])) for f in live["findings"]}
    assert ("run-bytes", ("PT9936-T1",)) in kinds or any(k == "run-bytes" for k, _ in kinds)
    assert any("PT5698-N1" in s for _, s in kinds)
    assert any("PUT /big" in str(f["chain"]) for f in live["findings"] if f["kind"] == "run-bytes")
    # what a proxy cannot see is said in the report
    assert any(n.startswith("network tap (regular): only the instrument's connections through the proxy")
               for n in live["notes"])
    assert not (rec / "tls-keys.log").exists()          # the keys are inside the recording now
    code, again = replay(rec / "net.pcapng", run_dir, tmp_path, *ALLOW)
    assert code == 1
    assert essence(live) == essence(again)
    assert chains(live) == chains(again)


def test_block_kills_the_upload_before_the_server_gets_it_and_lets_clean_requests_through(demo, cloud, tmp_path):
    run_dir, _ = demo
    pki, cloud_port, received = cloud
    proc, port, rec, db, report = start_rig(tmp_path, run_dir, pki, "--block", "--allow", *ALLOW)
    proxies = {"https": f"http://127.0.0.1:{port}"}
    ca = str(tmp_path / "ca" / "mitmproxy-ca-cert.pem")
    fastq = next((run_dir / "Data" / "Intensities" / "BaseCalls").glob("PT9006*.fastq.gz")).read_bytes()
    try:
        ok = requests.post(f"https://localhost:{cloud_port}/status", data=b'{"state": "idle"}', proxies=proxies,
                           verify=ca, timeout=60)
        assert ok.status_code == 200
        with pytest.raises(requests.RequestException):
            requests.post(f"https://localhost:{cloud_port}/upload", data=fastq, proxies=proxies, verify=ca,
                          timeout=60)
        # the reads behind 64 MiB of zeros in one gzip stream: past the decoding limit, so the rig
        # cannot say what it holds (unless it finds the reads' block after the zeros: ``resync``), and
        # under --block what it cannot examine does not leave
        z = zlib.compressobj(9, zlib.DEFLATED, 31)
        bomb = z.compress(bytes(64 << 20)) + z.compress(gzip.decompress(fastq)) + z.flush()
        with pytest.raises(requests.RequestException):
            requests.post(f"https://localhost:{cloud_port}/backup", data=bomb, proxies=proxies, verify=ca,
                          timeout=60)
    finally:
        _, err = end(proc)
    assert proc.returncode == 1, err
    assert received.bodies == [b'{"state": "idle"}']          # the run data never reached the server
    live = json.loads(report.read_text())
    leaks = [f for f in live["findings"] if f["kind"] in ("run-bytes", "sequence")]
    assert leaks and all("carries run data" in f["detail"].get("blocked", "") for f in leaks)
    (limit,) = [f for f in live["findings"] if f["kind"] == "decode-limit"]
    assert limit["detail"]["blocked"].startswith(("the rig could not examine all it sent", "carries run data"))
    assert live["verdict"] == "leak"
    code, again = replay(rec / "net.pcapng", run_dir, tmp_path, *ALLOW)
    assert code == 1
    assert essence(live) == essence(again)


def test_a_ring_buffer_recording_is_followed_file_after_file_and_replays_the_same(demo, cloud, tmp_path):
    run_dir, _ = demo
    pki, cloud_port, received = cloud
    proc, port, rec, db, report = start_rig(tmp_path, run_dir, pki, "--ring", "1", "--allow", *ALLOW)
    proxies = {"https": f"http://127.0.0.1:{port}"}
    ca = str(tmp_path / "ca" / "mitmproxy-ca-cert.pem")
    try:
        for n, fastq in enumerate(sorted((run_dir / "Data" / "Intensities" / "BaseCalls").glob("PT*.fastq.gz"))):
            body = bytes(range(256)) * 4096 + fastq.read_bytes()     # 1 MB of other bytes first: rotations
            time.sleep(KEYS_POLL_S * 3)     # the rig has looked at which file is the newest since the last one
            r = requests.post(f"https://localhost:{cloud_port}/up{n}", data=body, proxies=proxies, verify=ca,
                              timeout=60)
            assert r.status_code == 200
        wait_for(lambda: rows(db, "SELECT 1 FROM findings WHERE severity_rank >= 3"), "a live high finding", proc)
    finally:
        _, err = end(proc)
    assert proc.returncode == 1, err
    files = sorted(rec.glob("net_*.pcapng"))
    assert len(files) >= 3 and not (rec / "net.pcapng").exists()
    live = json.loads(report.read_text())
    # each file carries the keys of its own time (a ring of days stays within what a file may carry)
    keys = [set(scan_secrets(f).splitlines()) for f in files]
    assert set().union(*keys) and all(k < set().union(*keys) for k in keys)
    # TLS sessions span the ring's files: replayed as one capture, decrypted in one pass over them all
    out = tmp_path / "replay.json"
    again = sandbox("replay", *map(str, files), "--run", str(run_dir), "--report", str(out), "--quiet",
                    "--cache-dir", str(tmp_path / "cache"), "--allow", *ALLOW)
    again.communicate(timeout=600)
    assert again.returncode == 1
    replayed = json.loads(out.read_text())
    assert {s for f in live["findings"] for s in f["samples"]} >= {"PT9936-T1", "PT5698-N1", "PT9006-B1"}
    assert essence(live) == essence(replayed)


def test_a_socks5_session_on_any_port_replays_decrypted_to_the_same_findings(demo, cloud, tmp_path):
    """--mode socks5 where the engineer says (not 1080): curl through it; the recording replays decrypted."""
    run_dir, _ = demo
    pki, cloud_port, received = cloud
    proc, port, rec, db, report = start_rig(tmp_path, run_dir, pki, "--allow", *ALLOW, mode="socks5")
    assert port != 1080
    fastq = next((run_dir / "Data" / "Intensities" / "BaseCalls").glob("PT9936*.fastq.gz"))
    try:
        done = subprocess.run(["curl", "-sS", "--fail", "--socks5-hostname", f"127.0.0.1:{port}", "--cacert",
                               str(tmp_path / "ca" / "mitmproxy-ca-cert.pem"), "--data-binary", f"@{fastq}",
                               f"https://localhost:{cloud_port}/socks"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        wait_for(lambda: rows(db, "SELECT 1 FROM findings WHERE severity_rank >= 3"), "a live high finding", proc)
    finally:
        _, err = end(proc)
    assert proc.returncode == 1, err
    assert received.total >= fastq.stat().st_size
    live = json.loads(report.read_text())
    code, again = replay(rec / "net.pcapng", run_dir, tmp_path, *ALLOW)
    assert code == 1
    assert essence(live) == essence(again)
    assert chains(live) == chains(again)
    assert any(f["chain"][:3] == ["tcp", "tls", "http/1.1 POST /socks"] for f in again["findings"])


def test_an_upload_naming_the_allowed_lims_while_its_proxy_goes_elsewhere_is_named_by_where_it_went(demo, tmp_path):
    """curl --connect-to: the proxy is asked for another host while the server name and Host say the
    allowed LIMS.  The sealed upload is an opaque one, named by where the proxy went, live and in replay
    (before, the names it claimed made it allowed: clean)."""
    run_dir, _ = demo
    pki = make_pki(tmp_path / "pki", ["localhost", "127.0.0.1", "lims.lab.example"])
    server, received = https_sink(pki)
    cloud_port = server.server_address[1]
    proc, port, rec, db, report = start_rig(tmp_path, run_dir, pki, "--allow", "lims.lab.example")
    sealed = tmp_path / "sealed.bin"
    sealed.write_bytes(os.urandom(3 << 20))
    try:
        done = subprocess.run(["curl", "-sS", "--fail", "--proxy", f"http://127.0.0.1:{port}", "--connect-to",
                               f"lims.lab.example:443:localhost:{cloud_port}", "--cacert",
                               str(tmp_path / "ca" / "mitmproxy-ca-cert.pem"), "--data-binary", f"@{sealed}",
                               "https://lims.lab.example/api/backup"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        wait_for(lambda: rows(db, "SELECT 1 FROM findings WHERE kind = 'opaque-volume'"), "the opaque upload", proc)
    finally:
        _, err = end(proc)
        server.shutdown()
    assert proc.returncode == 3, err
    assert received.total >= 3 << 20
    live = json.loads(report.read_text())
    (opaque,) = [f for f in live["findings"] if f["kind"] == "opaque-volume"]
    # every byte sent is weighed as opaque or said unexamined (on a loaded machine a TLS record can
    # wait longer than the rig holds it for its key: it is then counted unexamined, not opaque)
    unexamined = sum(row.get("bytes", 0) for row in live["not_examined"] if row["what"] != UNREADABLE)
    assert opaque["destination"] == f"localhost:{cloud_port}" and opaque["bytes_out"] + unexamined >= 3 << 20
    assert not any(f["waived"] for f in live["findings"])
    code, again = replay(rec / "net.pcapng", run_dir, tmp_path, "lims.lab.example")
    assert code == 3
    assert essence(live) == essence(again)


def test_block_holds_a_plain_request_until_the_recording_has_it_however_late_dumpcap_writes(demo, tmp_path):
    """Plain HTTP has no feed: only the raw recording shows it.  With dumpcap stopped (as a loaded
    machine may keep it from writing), a request of reads on a connection the rig already knows is
    held until the recording has all the instrument sent, then refused (before, the writer delay
    passed and so did the reads)."""
    run_dir, _ = demo
    pki = make_pki(tmp_path / "pki", ["localhost"])
    server, received = http_sink()
    proc, port, rec, db, report = start_rig(tmp_path, run_dir, pki, "--block", "--allow", *ALLOW)
    url = f"http://localhost:{server.server_address[1]}"
    reads = gzip.decompress(next((run_dir / "Data" / "Intensities" / "BaseCalls").glob("PT9006*.fastq.gz"))
                            .read_bytes())[:60_000]
    held = 0.0
    try:
        with requests.Session() as web:
            web.proxies = {"http": f"http://127.0.0.1:{port}"}
            assert web.post(f"{url}/status", data=b'{"state": "idle"}', timeout=60).status_code == 200
            (dumpcap,) = map(int, subprocess.run(["pgrep", "-P", str(proc.pid), "-x", "dumpcap"],
                                                 capture_output=True, text=True).stdout.split())
            os.kill(dumpcap, signal.SIGSTOP)
            resume = threading.Timer(DUMPCAP_STOPPED_S, os.kill, (dumpcap, signal.SIGCONT))
            resume.start()
            start = time.monotonic()
            try:
                with pytest.raises(requests.RequestException):
                    web.post(f"{url}/upload", data=reads, timeout=60)
                held = time.monotonic() - start
            finally:
                resume.cancel()
                os.kill(dumpcap, signal.SIGCONT)
    finally:
        _, err = end(proc)
        server.shutdown()
    assert proc.returncode == 1, err
    assert received.bodies == [b'{"state": "idle"}']          # the reads never reached the server
    assert held >= DUMPCAP_STOPPED_S - 0.5                    # judged once the recording had them
    live = json.loads(report.read_text())
    leaks = [f for f in live["findings"] if f["kind"] in ("run-bytes", "sequence")]
    assert leaks and all("carries run data" in f["detail"].get("blocked", "") for f in leaks)
    code, again = replay(rec / "net.pcapng", run_dir, tmp_path, *ALLOW)
    assert code == 1
    assert essence(live) == essence(again)

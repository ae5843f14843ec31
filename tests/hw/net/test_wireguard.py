"""The network tap in WireGuard mode, carrying real traffic: the instrument's tunnel is a real WireGuard
client (wireguard-go on a TUN device in the "instrument" namespace, configured with ``wg`` from the
config the rig prints), its clients send run data through it to the "cloud", and the rig finds the
leaks live; the plaintext our addon recorded replays to the same findings.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from hw.net.procs import stop
from sandbox.correlate.opaque import UNREADABLE
from sandbox.simulate import ensure_demo
from tests.hw.net.rig import (
    REPO,
    WAIT_S,
    chains,
    cloud_servers,
    end,
    essence,
    replay,
    rows,
    sandbox,
    wait_for,
)
from tests.hw.net.topology import CLOUD_IP, CLOUD_NAME, OTHER_IP, RIG_IN_IP, bench
from tests.protocols.test_datagram_parsers_conformance import dissected, encrypted

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    not (shutil.which("wireguard-go") and shutil.which("wg") and os.path.exists("/dev/net/tun")),
    reason="needs wireguard-go, wg (Debian: wireguard-go, wireguard-tools) and /dev/net/tun")]
PORT = 51820
TUNNEL = "sbxwg0"
# the cloud is not on the allow-list, nor is the rig: its tunnel is recorded, not analysed (the feed is)
ALLOWED = ["lims.bench.example"]


@pytest.fixture()
def demo() -> Path:
    return ensure_demo(REPO / "captures" / "demo")[0]


def client_config(lines: list[str]) -> tuple[str, str]:
    """The config the rig printed, split into what ``wg setconf`` takes and the tunnel's address."""
    text = "\n".join(lines)
    conf = text[text.index("[Interface]"):]
    address = re.search(r"^Address\s*=\s*(\S+)", conf, re.M).group(1)
    keep = [ln for ln in conf.splitlines() if not re.match(r"\s*(Address|DNS)\s*=", ln)]
    return "\n".join(keep) + "\n", address


def read_started(proc: subprocess.Popen) -> list[str]:
    """The rig's started lines, up to the end of its WireGuard client config."""
    lines: list[str] = []
    while (line := proc.stdout.readline()):
        lines.append(line.rstrip("\n"))
        if line.startswith("Endpoint"):
            return lines
    pytest.fail(f"the rig printed no WireGuard config: {lines} {proc.communicate()[1][-2000:]}")


@dataclass
class WgRig:
    proc: subprocess.Popen
    rec: Path
    db: Path
    report: Path
    received: Path                                           # what the cloud's servers got
    run: Callable[[str], subprocess.CompletedProcess]       # an instrument scenario, through the tunnel
    err: str = ""                                            # the rig's stderr, once it ended


@contextmanager
def wireguard_rig(tmp_path: Path, demo: Path, *extra: str, allow: list[str] = ALLOWED) -> Iterator[WgRig]:
    """A bench whose instrument reaches the cloud (both its addresses) through a real WireGuard
    tunnel to a rig in WireGuard mode; the rig is ended when the block ends."""
    with bench(f"sbx-wg-{os.getpid() % 100000}") as b, cloud_servers(b, tmp_path) as (pki, received):
        rec, db, report = tmp_path / "rec", tmp_path / "store.sqlite", tmp_path / "live.json"
        proc = daemon = rig = None
        try:
            proc = sandbox("watch", "--run", str(demo), "--mode", "wireguard", "--netns", b.rig, "--iface", b.rig_iface,
                           "--listen", f"0.0.0.0:{PORT}", "--ca-dir", str(tmp_path / "ca"), "--upstream-ca",
                           str(pki.ca), "--record", str(rec), "--db", str(db), "--report", str(report),
                           "--cache-dir", str(tmp_path / "cache"), "--allow", *allow, *extra)
            conf, address = client_config(read_started(proc))
            conf = re.sub(r"^Endpoint\s*=.*$", f"Endpoint = {RIG_IN_IP}:{PORT}", conf, flags=re.M)
            (tmp_path / "wg.conf").write_text(conf)
            os.chmod(tmp_path / "wg.conf", 0o600)
            env = {**os.environ, "WG_PROCESS_FOREGROUND": "1"}
            daemon = subprocess.Popen(b.cmd(b.instrument, ["wireguard-go", TUNNEL]), env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            wait_for(lambda: b.run(b.instrument, ["ip", "link", "show", TUNNEL]).returncode == 0, "the tunnel device")
            for cmd in (["wg", "setconf", TUNNEL, str(tmp_path / "wg.conf")],
                        ["ip", "addr", "add", address, "dev", TUNNEL],
                        ["ip", "link", "set", TUNNEL, "up"],
                        ["ip", "route", "add", f"{CLOUD_IP}/32", "dev", TUNNEL],   # the cloud through the tunnel
                        ["ip", "route", "add", f"{OTHER_IP}/32", "dev", TUNNEL],
                        ["ip", "route", "add", "10.0.0.53/32", "dev", TUNNEL]):        # mitmproxy's resolver
                done = b.run(b.instrument, cmd)
                assert done.returncode == 0, (cmd, done.stderr)
            wait_for(lambda: rows(db, "SELECT value FROM session WHERE key = 'live'"), "the session to start", proc)

            def run(scenario: str) -> subprocess.CompletedProcess:
                return b.run(b.instrument, [sys.executable, "-m", "tests.hw.net.instrument", scenario, str(demo),
                                            str(tmp_path / "ca" / "mitmproxy-ca-cert.pem"), CLOUD_NAME],
                             timeout=WAIT_S, cwd=REPO)

            rig = WgRig(proc, rec, db, report, received, run)
            yield rig
            handshake = b.run(b.instrument, ["wg", "show", TUNNEL, "latest-handshakes"]).stdout.split()
            assert handshake and int(handshake[-1]) > 0          # a real WireGuard handshake with the rig
        finally:
            if daemon is not None:
                stop(daemon)          # SIGTERM: wireguard-go removes its device and control socket
            if proc is not None:
                _, err = end(proc)
                if rig is not None:
                    rig.err = err


def test_leaks_through_the_wireguard_tunnel_are_found_live_and_replay_the_same(demo, tmp_path):
    with wireguard_rig(tmp_path, demo) as rig:
        for scenario in ("curl", "websocket", "sftp", "dns", "udp"):
            done = rig.run(scenario)
            assert done.returncode == 0, f"{scenario}: {done.stderr[-1500:]}"
        wait_for(lambda: rows(rig.db, "SELECT 1 FROM findings WHERE severity_rank >= 3"), "a live high finding", rig.proc)
        wait_for(lambda: rows(rig.db, "SELECT 1 FROM findings WHERE kind = 'opaque-volume'"), "the SFTP upload",
                 rig.proc)
    proc, rec, report, received, err = rig.proc, rig.rec, rig.report, rig.received, rig.err
    assert proc.returncode == 1, err
    got = {json.loads(line)["service"] for line in received.read_text().splitlines()}
    assert {"https", "websocket", "sftp", "udp"} <= got          # it all went through to the cloud
    live = json.loads(report.read_text())
    samples = {s for f in live["findings"] for s in f["samples"]}
    assert {"PT9936-T1", "PT9006-B1"} <= samples
    kinds = {(f["kind"], f["destination"]) for f in live["findings"]}
    assert ("destination", CLOUD_NAME) in kinds                 # the tunnel's flows count what they sent
    # UDP and DNS inside the tunnel: the feed is their only record, and they are examined
    assert any("dns-tunnel" in (f["kind"], *f["evidence_kinds"]) for f in live["findings"])
    assert any(f["flow"].startswith("udp ") and f["flow"].endswith(":9999") and f["severity"] in ("high", "critical")
               for f in live["findings"])
    (opaque,) = [f for f in live["findings"] if f["kind"] == "opaque-volume"]
    assert opaque["detail"]["app"] == "ssh" and opaque["flow"].endswith(":22")
    # nothing unexamined but what the SFTP upload sent (ciphertext the rig holds no key to)
    assert [(n["where"], n["what"]) for n in live["not_examined"]] == [(opaque["flow"], UNREADABLE)]
    assert [c for c in live["captures"] if c["path"].endswith("net.pcapng")][0]["packets"] > 100
    code, again = replay(rec / "feed" / "proxied.pcapng", demo, tmp_path, *ALLOWED)
    assert code == 1
    assert essence(live) == essence(again), (essence(live), essence(again))
    assert chains(live) == chains(again)
    # the raw recording is the tunnel itself: recognised as WireGuard, its volume weighed
    tunnel = dissected(rec / "net.pcapng")
    (obs,) = encrypted(tunnel)
    assert obs.chain == ("udp", "wireguard") and obs.destination == RIG_IN_IP
    assert obs.bytes_out > sum(json.loads(line)["bytes"] for line in received.read_text().splitlines())
    assert obs.detail["handshakes"] >= 1


def test_block_through_the_tunnel_lets_the_vouched_cloud_have_its_status_and_nothing_else(demo, tmp_path):
    """--block in WireGuard mode: the instrument picks the address inside the tunnel, so a connect
    waits for the DNS answers mitmproxy relayed in it; run data to the cloud is cut (over HTTPS, in
    plain UDP datagrams held as TCP messages are, in the names of DNS queries, relayed or looked up
    by mitmproxy's own resolver), the cloud's name at another address is refused, a status line to
    the cloud passes."""
    with wireguard_rig(tmp_path, demo, "--block", allow=[CLOUD_NAME]) as rig:
        for scenario, code in (("status", 0), ("raw-status", 0), ("curl", 3), ("status-elsewhere", 3),
                               ("raw-status-elsewhere", 3), ("udp", 0), ("dns", 0), ("dns-via-the-rig", 0)):
            done = rig.run(scenario)
            assert done.returncode == code, f"{scenario}: {done.stdout} {done.stderr[-1500:]}"
        wait_for(lambda: rows(rig.db, "SELECT 1 FROM findings WHERE flow LIKE 'udp %:9999' "
                                      "AND detail LIKE '%carries run data%'"), "the UDP reads judged", rig.proc)
    assert rig.proc.returncode == 1, rig.err
    got = [json.loads(line) for line in rig.received.read_text().splitlines()]
    assert [g["bytes"] for g in got if g["service"] in ("https", "raw-tls")] == [17, 21]     # the status lines
    assert not sum(g["bytes"] for g in got if g["service"] == "udp")         # not a datagram of reads
    # no query of reads (names of 150 hex digits) reached the resolver: neither relayed to it, nor
    # looked up there by mitmproxy's own resolver
    assert not [g for g in got if g["service"] == "dns" and g["bytes"] > 100]
    live = json.loads(rig.report.read_text())
    leaks = [f for f in live["findings"] if f["kind"] == "run-bytes"]
    # curl's upload, the UDP reads, the DNS tunnel to the cloud's resolver and through mitmproxy's
    assert sorted(f["flow"].split(" > ")[1] for f in leaks) == ["10.0.0.53:53", f"{CLOUD_IP}:443", f"{CLOUD_IP}:53",
                                                               f"{CLOUD_IP}:9999"]
    assert all(f["detail"]["blocked"].startswith("carries run data") for f in leaks)
    (elsewhere,) = [f for f in live["findings"] if f["kind"] == "destination" and f["destination"] == OTHER_IP]
    assert elsewhere["detail"]["blocked"] == f"nobody the rig trusts vouched for {OTHER_IP} as {CLOUD_NAME}"
    code, again = replay(rig.rec / "feed" / "proxied.pcapng", demo, tmp_path, CLOUD_NAME)
    assert essence(live) == essence(again)


SINK = """
import socket, sys
with socket.create_server((sys.argv[1], 9000)) as ls:
    print("up", flush=True)
    conn, _ = ls.accept()
    total = 0
    while chunk := conn.recv(65536):
        total += len(chunk)
    print(total, flush=True)
"""
SEND = """
import socket, sys
data = open(sys.argv[2], "rb").read()
with socket.create_connection((sys.argv[1], 9000), timeout=60) as s:
    s.sendall(data)
"""


def wireguard_device(b, ns: str, name: str, key: Path, address: str, peer: str, *, port: int | None = None,
                     endpoint: str | None = None) -> subprocess.Popen:
    """A wireguard-go device ``name`` in ``ns`` with one peer (its public key ``peer``).  Names differ
    per device: wireguard-go's control socket (/var/run/wireguard/NAME.sock) is not per namespace."""
    daemon = subprocess.Popen(b.cmd(ns, ["wireguard-go", name]), env={**os.environ, "WG_PROCESS_FOREGROUND": "1"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: b.run(ns, ["ip", "link", "show", name]).returncode == 0, f"{name} in {ns}")
    setup = ["wg", "set", name, "private-key", str(key), *(["listen-port", str(port)] if port else []),
             "peer", peer, "allowed-ips", "10.99.0.0/24", *(["endpoint", endpoint] if endpoint else [])]
    for cmd in (setup, ["ip", "addr", "add", address, "dev", name], ["ip", "link", "set", name, "up"]):
        done = b.run(ns, cmd)
        assert done.returncode == 0, (cmd, done.stderr)
    return daemon


def test_a_vpn_the_instrument_opens_past_a_transparent_rig_is_an_opaque_upload_live_and_in_replay(demo, tmp_path):
    """The instrument's own WireGuard tunnel to a vendor: UDP the rig forwards, whose inside it cannot
    see; the reads sent through it are an opaque upload named WireGuard, live as in replay."""
    keys = {}
    for side in ("inst", "cloud"):
        key = tmp_path / f"{side}.key"
        key.write_text(subprocess.run(["wg", "genkey"], capture_output=True, text=True, check=True).stdout)
        os.chmod(key, 0o600)
        keys[side] = (key, subprocess.run(["wg", "pubkey"], input=key.read_text(), capture_output=True, text=True,
                                          check=True).stdout.strip())
    reads = gzip.decompress(next((demo / "Data" / "Intensities" / "BaseCalls").glob("PT9936*.fastq.gz")).read_bytes())
    (tmp_path / "reads.fastq").write_bytes(reads)
    daemons: list[subprocess.Popen] = []
    with bench(f"sbx-vpn-{os.getpid() % 100000}") as b:
        rec, db, report = tmp_path / "rec", tmp_path / "store.sqlite", tmp_path / "live.json"
        proc = sandbox("watch", "--run", str(demo), "--mode", "transparent", "--netns", b.rig, "--iface", b.rig_iface,
                       "--listen", "0.0.0.0:8080", "--ca-dir", str(tmp_path / "ca"), "--record", str(rec), "--db",
                       str(db), "--report", str(report), "--quiet", "--cache-dir", str(tmp_path / "cache"))
        try:
            daemons.append(wireguard_device(b, b.cloud, "sbxwgc", keys["cloud"][0], "10.99.0.2/24", keys["inst"][1],
                                            port=51821))
            daemons.append(wireguard_device(b, b.instrument, "sbxwgi", keys["inst"][0], "10.99.0.1/24",
                                            keys["cloud"][1], endpoint=f"{CLOUD_IP}:51821"))
            sink = subprocess.Popen(b.cmd(b.cloud, [sys.executable, "-c", SINK, "10.99.0.2"]), stdout=subprocess.PIPE,
                                    text=True)
            daemons.append(sink)
            assert sink.stdout.readline().strip() == "up"
            wait_for(lambda: rows(db, "SELECT value FROM session WHERE key = 'live'"), "the session to start", proc)
            done = b.run(b.instrument, [sys.executable, "-c", SEND, "10.99.0.2", str(tmp_path / "reads.fastq")])
            assert done.returncode == 0, done.stderr
            assert int(sink.stdout.readline()) == len(reads)             # through the tunnel to the vendor
            wait_for(lambda: rows(db, "SELECT 1 FROM findings WHERE kind = 'opaque-volume'"), "the tunnel's upload",
                     proc)
        finally:
            for daemon in daemons:
                stop(daemon)
            _, err = end(proc)
    assert proc.returncode == 3, err       # an opaque upload: medium, and what it sent was never read
    live = json.loads(report.read_text())
    (opaque,) = [f for f in live["findings"] if f["kind"] == "opaque-volume"]
    assert opaque["detail"]["app"] == "wireguard" and opaque["destination"] == CLOUD_IP
    assert opaque["bytes_out"] > len(reads)
    code, again = replay(rec / "net.pcapng", demo, tmp_path)
    assert code == 3 and again["not_examined"] == live["not_examined"]
    assert essence(live) == essence(again) and chains(live) == chains(again)

"""The network tap in WireGuard mode, carrying real traffic: the instrument's tunnel is a real WireGuard
client (wireguard-go on a TUN device in the "instrument" namespace, configured with ``wg`` from the
config the rig prints), its clients send run data through it to the "cloud", and the rig finds the
leaks live; the plaintext our addon recorded replays to the same findings.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
from tests.hw.net.topology import CLOUD_IP, CLOUD_NAME, RIG_IN_IP, bench
from tests.protocols.test_datagram_parsers_conformance import dissected, encrypted

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    not (shutil.which("wireguard-go") and shutil.which("wg") and os.path.exists("/dev/net/tun")),
    reason="needs wireguard-go, wg (Debian: wireguard-go, wireguard-tools) and /dev/net/tun")]
PORT = 51820
TUNNEL = "wg0"
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


def test_leaks_through_the_wireguard_tunnel_are_found_live_and_replay_the_same(demo, tmp_path):
    with bench(f"sbx-wg-{os.getpid() % 100000}") as b, cloud_servers(b, tmp_path) as (pki, received):
        rec, db, report = tmp_path / "rec", tmp_path / "store.sqlite", tmp_path / "live.json"
        proc = None
        daemon = None
        try:
            proc = sandbox("watch", "--run", str(demo), "--mode", "wireguard", "--netns", b.rig, "--iface", b.rig_iface,
                           "--listen", f"0.0.0.0:{PORT}", "--ca-dir", str(tmp_path / "ca"), "--upstream-ca",
                           str(pki.ca), "--record", str(rec), "--db", str(db), "--report", str(report),
                           "--cache-dir", str(tmp_path / "cache"), "--allow", *ALLOWED)
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
                        ["ip", "route", "add", f"{CLOUD_IP}/32", "dev", TUNNEL]):   # the cloud through the tunnel
                done = b.run(b.instrument, cmd)
                assert done.returncode == 0, (cmd, done.stderr)
            wait_for(lambda: rows(db, "SELECT value FROM session WHERE key = 'live'"), "the session to start", proc)
            for scenario in ("curl", "websocket", "sftp"):
                done = b.run(b.instrument, [sys.executable, "-m", "tests.hw.net.instrument", scenario, str(demo),
                                            str(tmp_path / "ca" / "mitmproxy-ca-cert.pem"), CLOUD_NAME],
                             timeout=WAIT_S, cwd=REPO)
                assert done.returncode == 0, f"{scenario}: {done.stderr[-1500:]}"
            handshake = b.run(b.instrument, ["wg", "show", TUNNEL, "latest-handshakes"]).stdout.split()
            assert handshake and int(handshake[-1]) > 0          # a real WireGuard handshake with the rig
            wait_for(lambda: rows(db, "SELECT 1 FROM findings WHERE severity_rank >= 3"), "a live high finding", proc)
            wait_for(lambda: rows(db, "SELECT 1 FROM findings WHERE kind = 'opaque-volume'"), "the SFTP upload", proc)
        finally:
            if daemon is not None:
                daemon.kill()
                daemon.wait()
            if proc is not None:
                _, err = end(proc)
    assert proc.returncode == 1, err
    got = {json.loads(line)["service"] for line in received.read_text().splitlines()}
    assert {"https", "websocket", "sftp"} <= got                 # it all went through to the cloud
    live = json.loads(report.read_text())
    samples = {s for f in live["findings"] for s in f["samples"]}
    assert {"PT9936-T1", "PT9006-B1"} <= samples
    assert live["not_examined"] == []
    kinds = {(f["kind"], f["destination"]) for f in live["findings"]}
    assert ("destination", CLOUD_NAME) in kinds                 # the tunnel's flows count what they sent
    (opaque,) = [f for f in live["findings"] if f["kind"] == "opaque-volume"]
    assert opaque["detail"]["app"] == "ssh" and opaque["flow"].endswith(":22")
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

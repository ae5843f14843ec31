"""A network tap that cannot start says why in one line, exits 2, and leaves nothing behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from sandbox.simulate import ensure_demo
from tests.hw.net.rig import REPO, WAIT_S
from tests.hw.net.topology import bench
from tests.hw.test_watch import rows

pytestmark = pytest.mark.e2e


@pytest.fixture()
def run_dir() -> Path:
    return ensure_demo(REPO / "captures" / "demo")[0]


def watch(tmp_path: Path, run_dir: Path, *args: str, env: dict | None = None,
          prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*(prefix or []), sys.executable, "-m", "sandbox.cli", "watch", "--run", str(run_dir),
                           "--record", str(tmp_path / "rec"), "--ca-dir", str(tmp_path / "ca"), "--quiet",
                           "--cache-dir", str(tmp_path / "cache"), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=WAIT_S, env=env)


def leftovers(tmp_path: Path) -> list[str]:
    """Processes still running that were started for this session (they name its folders)."""
    out = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if str(tmp_path) in cmd and "pytest" not in cmd:
            out.append(cmd)
    return out


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path, run_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = watch(tmp_path, run_dir, "--mode", "regular", "--listen", f"127.0.0.1:{port}")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "cannot listen" in result.stderr, result.stderr
    assert leftovers(tmp_path) == []


def test_dumpcap_missing_is_one_line_and_exit_2(tmp_path, run_dir):
    env = {**os.environ, "PATH": str(tmp_path)}     # nothing on PATH: no dumpcap
    result = watch(tmp_path, run_dir, "--mode", "regular", "--listen", "127.0.0.1:0", env=env)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "dumpcap is missing" in result.stderr, result.stderr
    assert leftovers(tmp_path) == []


def test_transparent_mode_without_cap_net_admin_leaves_no_rules_and_no_processes(tmp_path, run_dir):
    with bench(f"sbx-net-cap{os.getpid() % 10000}") as b:
        # root, but without CAP_NET_ADMIN: ip netns exec still works (CAP_SYS_ADMIN), nft does not
        drop = ["setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin", "--"]
        result = watch(tmp_path, run_dir, "--mode", "transparent", "--netns", b.rig, "--iface", b.rig_iface,
                       "--listen", "0.0.0.0:8080", prefix=drop)
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "CAP_NET_ADMIN" in result.stderr, result.stderr
        assert "sbx_tap_" not in b.run(b.rig, ["nft", "list", "tables"]).stdout
        assert leftovers(tmp_path) == []


def test_transparent_mode_needs_an_interface(tmp_path, run_dir):
    result = watch(tmp_path, run_dir, "--mode", "transparent")
    assert result.returncode == 2 and "--iface" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unknown_mode_is_refused(tmp_path, run_dir):
    result = watch(tmp_path, run_dir, "--mode", "local")
    assert result.returncode == 2 and "unknown mode" in result.stderr


def test_wireguard_mode_gives_the_client_config_for_the_instrument_pc(tmp_path):
    from hw.net.tap import NetTap

    tap = NetTap("wireguard", "127.0.0.1:0", ca_dir=tmp_path / "ca")
    try:
        tap.start(tmp_path / "rec")
        lines = "\n".join(tap.started_lines())
    finally:
        tap.stop()
    assert "[Interface]" in lines and "PrivateKey" in lines and f"Endpoint = 127.0.0.1:{tap.port}" in lines
    assert (tmp_path / "rec" / "net.pcapng").stat().st_size > 0
    assert leftovers(tmp_path) == []


def test_mitmproxy_dying_mid_session_is_said_live_and_makes_the_verdict_inconclusive(tmp_path, run_dir):
    """The instrument's connections fail from then on: the operator hears it, the dashboard turns
    inconclusive while the session runs, the report is never clean."""
    import json
    import signal
    import time

    from dashboards.queries import Reader

    db, report = tmp_path / "store.sqlite", tmp_path / "live.json"
    proc = subprocess.Popen([sys.executable, "-m", "sandbox.cli", "watch", "--run", str(run_dir), "--mode", "regular",
                             "--listen", "127.0.0.1:0", "--record", str(tmp_path / "rec"), "--ca-dir",
                             str(tmp_path / "ca"), "--cache-dir", str(tmp_path / "cache"), "--db", str(db),
                             "--report", str(report), "--quiet"], cwd=REPO, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and proc.poll() is None and not rows(db, "SELECT 1 FROM session WHERE key = 'live'"):
            time.sleep(0.2)      # the session begins once every tap is up (and watched)
        mitm = [p for p in psutil.process_iter(["cmdline"])
                if "mitmdump" in " ".join(p.info["cmdline"] or []) and str(tmp_path) in " ".join(p.info["cmdline"] or [])]
        assert mitm, proc.communicate(timeout=WAIT_S)
        mitm[0].kill()
        while time.monotonic() < deadline:
            if db.exists() and Reader(str(db)).summary()["verdict"] == "inconclusive":
                break
            time.sleep(0.3)
        assert Reader(str(db)).summary()["verdict"] == "inconclusive"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, err
    assert "mitmproxy was killed by signal 9 while the session ran" in err
    blind = json.loads(report.read_text())["not_examined"]
    assert [n["where"] for n in blind] == ["net regular"]
    assert not leftovers(tmp_path)


def test_a_proxy_on_loopback_says_every_end_but_its_own_is_the_instrument_s():
    """On loopback the instrument and the rig share 127.0.0.1: the proxy's endpoint tells them apart."""
    from hw.net.tap import NetTap

    assert NetTap("regular", "127.0.0.1:8123").instrument_side() == ["0.0.0.0/0", "::/0", "!127.0.0.1:8123"]
    assert NetTap("socks5", "[::1]:1081").instrument_side() == ["0.0.0.0/0", "::/0", "![::1]:1081"]


def test_the_instrument_s_link_going_away_is_a_failure_of_the_recording(tmp_path):
    """The link is recorded on Linux's "any" device filtered to its index (its packets say which side
    sent them): dumpcap goes on, blind, when the interface goes (an adapter unplugged, a new one of the
    same name with another index).  The tap says so at once, as it does when dumpcap itself ends."""
    import time

    from hw.net.tap import NetTap
    from tests.hw.net.topology import RIG_IN_IP

    with bench(f"sbx-link-{os.getpid() % 100000}") as b:
        tap = NetTap("regular", f"{RIG_IN_IP}:8080", iface=b.rig_iface, netns=b.rig, ca_dir=tmp_path / "ca")
        try:
            tap.start(tmp_path / "rec")
            index = b.run(b.rig, ["cat", f"/sys/class/net/{b.rig_iface}/ifindex"]).stdout.strip()
            assert tap.instrument_side()[-1] == f"link:{index}" and tap.failures() == []
            assert b.run(b.rig, ["ip", "link", "del", b.rig_iface]).returncode == 0
            deadline = time.monotonic() + 10
            while not tap.failures() and time.monotonic() < deadline:
                time.sleep(0.1)
            (failed,) = tap.failures()
        finally:
            tap.stop()
    assert failed["what"] == (f"the recorded interface {b.rig_iface} went away (or is another one now) while the "
                              "session ran: after that nothing of the instrument's traffic was recorded or examined")
    assert tap.failures() == [failed] and leftovers(tmp_path) == []


@pytest.mark.parametrize("listen", ["127.0.0.1:²", "127.0.0.1:٨٠", "127.0.0.1:70000", "127.0.0.1:http"])
def test_a_listen_port_that_is_no_number_is_a_one_line_error(listen):
    """Digits int() refuses ("²" is one to str.isdigit()) included: a TapError, never a traceback."""
    from hw.net.tap import parse_listen
    from hw.tap import TapError

    with pytest.raises(TapError, match="the port must be a number up to 65535"):
        parse_listen(listen, "regular")


@pytest.mark.parametrize("ring", ["²", "5:²", "0", "5:x", "٥"])
def test_a_ring_that_is_no_size_is_a_one_line_error(ring):
    from hw.net.tap import parse_ring
    from hw.tap import TapError

    with pytest.raises(TapError, match="give MB per file"):
        parse_ring(ring)
    assert parse_ring("500:48") == (500, 48) and parse_ring("5") == (5, 0)

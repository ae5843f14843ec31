"""The addon loads on its own (``mitmdump -s hw/net/addon.py``) as mitmproxy users expect: idle
without the rig's socket, the proxy works as usual.  Under --block its holding hooks fail closed."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from hw.net.mitm import ADDON, mitmdump
from hw.tap import TapError
from tests.hw.net.servers import https_sink, make_pki

pytestmark = pytest.mark.e2e


def test_mitmdump_with_the_addon_alone_proxies_as_usual(tmp_path):
    try:
        exe = mitmdump()
    except TapError as exc:
        pytest.skip(str(exc))
    pki = make_pki(tmp_path / "pki", ["localhost", "127.0.0.1"])
    server, received = https_sink(pki)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([exe, "-s", str(ADDON), "--listen-host", "127.0.0.1", "--listen-port", str(port),
                             "--set", f"confdir={tmp_path / 'conf'}", "--set", f"ssl_verify_upstream_trusted_ca={pki.ca}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.2)
        r = requests.post(f"https://localhost:{server.server_address[1]}/x", data=b"hello",
                          proxies={"https": f"http://127.0.0.1:{port}"},
                          verify=str(tmp_path / "conf" / "mitmproxy-ca-cert.pem"), timeout=60)
        assert r.status_code == 200 and received.bodies == [b"hello"]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
        server.shutdown()
    assert "Addon error" not in out and "error in script" not in out, out


def test_a_hook_that_fails_under_block_refuses_what_it_held(tmp_path):
    """mitmproxy logs a hook's exception and carries on: under --block what the hook held would pass
    unjudged.  Each holding hook, its judge failing, refuses (a request and a DNS query killed, a
    message emptied and its connection cut, a connection failed); its judge allowing, nothing is."""
    try:
        exe = mitmdump()
    except TapError as exc:
        pytest.skip(str(exc))
    python = Path(exe).with_name("python")       # mitmproxy's own environment: its test flows, its types
    if not python.exists():
        pytest.skip(f"no Python beside {exe}")
    done = subprocess.run([str(python), str(Path(__file__).with_name("addon_hooks.py"))], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    hooks = {"request", "gate_dns", "tcp_message", "udp_message", "websocket_message", "server_connect"}
    assert outcome["failing"] == dict.fromkeys(hooks, True)
    assert outcome["allowing"] == dict.fromkeys(hooks, False)

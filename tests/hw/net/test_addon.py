"""The addon loads on its own (``mitmdump -s hw/net/addon.py``) as mitmproxy users expect: idle
without the rig's socket, the proxy works as usual."""

from __future__ import annotations

import socket
import subprocess
import time

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

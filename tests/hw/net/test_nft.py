"""Transparent mode's redirect: installed in a namespace, removed whole."""

from __future__ import annotations

import os
import subprocess
import sys

from hw.net.nft import Redirect
from tests.hw.net.topology import bench


def test_the_redirect_goes_in_and_comes_out_of_its_namespace():
    with bench(f"sbx-net-nft{os.getpid() % 10000}") as b:
        r = Redirect(b.rig_iface, 8080, netns=b.rig, table="sbx_tap_test")
        r.check()
        r.install()
        listed = b.run(b.rig, ["nft", "list", "table", "inet", "sbx_tap_test"]).stdout
        assert f'iifname "{b.rig_iface}"' in listed and "redirect to :8080" in listed
        r.remove()
        r.remove()                                            # idempotent
        assert "sbx_tap_test" not in b.run(b.rig, ["nft", "list", "tables"]).stdout


# A UDP sink in "cloud" that prints what arrives; a sender in "instrument" that says, per datagram,
# whether the rig refused it (a connected UDP socket reads the ICMP port unreachable as ECONNREFUSED).
SINK = """
import socket, sys
socks = []
for port in (53, 443, 4433):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", port)); socks.append(s)
print("up", flush=True)
import select
while True:
    for s in select.select(socks, [], [])[0]:
        data, _ = s.recvfrom(2048)
        print(s.getsockname()[1], data[:5].hex(), flush=True)
"""
SEND = """
import socket, sys, time
host, port, data = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect((host, port)); s.settimeout(1.0)
s.send(data)
time.sleep(0.3)
try:
    s.send(data)
    s.recv(10)
    print("answered")
except ConnectionRefusedError:
    print("refused")
except TimeoutError:
    print("forwarded")
"""


def test_quic_from_the_instrument_is_refused_and_other_udp_is_forwarded():
    """HTTP/3 would pass mitmproxy by, encrypted: refused on 443 and by its long header on any port
    but DNS's, so clients fall back to TCP; other UDP still goes through."""
    initial = "c3" + "00000001" + "08" + "00" * 8 + "00" + "00" + "4010" + "00" * 1200
    draft = "c0" + "ff00001d" + "08" + "00" * 8 + "00" + "00" + "4010" + "00" * 100
    with bench(f"sbx-net-quic{os.getpid() % 10000}") as b:
        sink = subprocess.Popen(b.cmd(b.cloud, [sys.executable, "-c", SINK]), stdout=subprocess.PIPE, text=True)
        try:
            assert sink.stdout.readline().strip() == "up"
            r = Redirect(b.rig_iface, 8080, netns=b.rig, table="sbx_tap_quic")
            r.install()
            try:
                def send(port: int, data: str) -> str:
                    return b.run(b.instrument, [sys.executable, "-c", SEND, b.cloud_ip, str(port), data]).stdout.strip()

                assert send(443, initial) == "refused"
                assert send(4433, initial) == "refused"               # HTTP/3 announced on another port
                assert send(4433, draft) == "refused"
                assert send(443, "68656c6c6f") == "refused"            # anything on UDP 443
                assert send(4433, "68656c6c6f") == "forwarded"         # other UDP goes through
                assert send(53, initial) == "forwarded"                # DNS is never refused
            finally:
                r.remove()
            assert send(4433, initial) == "forwarded"                  # nothing is left behind
        finally:
            sink.kill()
            arrived = sink.communicate()[0].split("\n")
    assert "4433 68656c6c6f" in arrived and "53 c300000001" in arrived
    assert "443 c300000001" not in arrived and "443 68656c6c6f" not in arrived

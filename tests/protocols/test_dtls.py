"""DTLS: the hello's server name read, later epochs and DTLS 1.3's unified headers counted as ciphertext.

Real traffic: OpenSSL's own DTLS client and server on loopback (a cookie exchange first, as
``s_server`` does), recorded by dumpcap; wolfSSL's DTLS 1.3 with connection IDs from Zeek's suite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from sandbox.model import Payload
from tests.loopback import record_lo
from tests.protocols.test_datagram_parsers_conformance import dissected, encrypted

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


def openssl_dtls_upload(tmp_path: Path, data: bytes, sni: str) -> Path:
    """``openssl s_client -dtls1_2`` sends ``data`` to ``s_server`` on loopback; the recording."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-keyout",
                    str(tmp_path / "k.pem"), "-out", str(tmp_path / "c.pem"), "-days", "1", "-nodes",
                    "-subj", f"/CN={sni}"], check=True, capture_output=True)
    port = 20000 + os.getpid() % 20000
    pcap = tmp_path / "dtls.pcapng"
    with record_lo(pcap, f"udp port {port}"):
        # the server reads its stdin too: an open pipe keeps it up until the client is done
        server = subprocess.Popen(["openssl", "s_server", "-dtls1_2", "-accept", f"127.0.0.1:{port}", "-cert",
                                   str(tmp_path / "c.pem"), "-key", str(tmp_path / "k.pem"), "-quiet", "-naccept", "1"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            client = subprocess.Popen(["openssl", "s_client", "-dtls1_2", "-connect", f"127.0.0.1:{port}",
                                       "-servername", sni, "-quiet"], stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            client.stdin.write(data)
            client.stdin.flush()
            time.sleep(1.5)             # s_client -quiet never ends at its input's end: it is stopped
            client.terminate()
            client.wait(30)
        finally:
            got = server.communicate(b"", timeout=30)[0]     # its input's end stops it
    assert len(got) >= len(data) * 0.9, "the DTLS server did not get the upload"
    return pcap


def test_openssl_dtls_is_named_by_its_hello_and_its_application_data_counted(tmp_path):
    text = b"".join(b"line %05d of a telemetry upload\n" % i for i in range(1000))     # 33 KB
    items = dissected(openssl_dtls_upload(tmp_path, text, "dtls.vendor.example"))
    (obs,) = encrypted(items)
    assert obs.chain == ("udp", "dtls") and obs.destination == "dtls.vendor.example"
    assert obs.detail["sni"] == "dtls.vendor.example" and obs.detail["dtls_version"] == "DTLS 1.2"
    assert obs.bytes_out >= len(text) and obs.detail["decrypted"] is False
    assert any(isinstance(p, Payload) and p.chain == ("udp", "dtls sni") for p in items)
    out = sum(len(p.data) for p in items if isinstance(p, Payload) and p.chain == ("udp",) and p.direction == "out")
    assert out >= obs.bytes_out                       # every byte still scanned raw


def test_dtls13_with_connection_ids_counts_its_unified_header_records(shared_data):
    items = dissected(shared_data / "captures/public-traces/zeek__tls__dtls13-cid.pcap")
    obs = encrypted(items)
    assert len(obs) == 2 and all(o.chain == ("udp", "dtls") and o.bytes_out > 1000 for o in obs)
    assert {o.detail["dtls_version"] for o in obs} == {"DTLS 1.3"}
    assert all(o.detail["bytes_in"] > 3000 for o in obs)

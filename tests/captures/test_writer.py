"""The writer's captures are what tshark expects: valid checksums, right seq/ack, right timestamps."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from sandbox.captures.writer import PcapngWriter, PcapWriter, TcpConversation, checksum, udp

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


def _tshark(path, *args: str) -> list[str]:
    out = subprocess.run(["tshark", "-r", str(path), *args], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_checksum_known_value():
    # RFC 1071 example words 0001 f203 f4f5 f6f7 sum to 0xddf2 -> checksum 0x220d
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D


@pytest.mark.parametrize("family", ["v4", "v6"])
@pytest.mark.parametrize("writer", [PcapWriter, PcapngWriter])
def test_tshark_validates_checksums_and_sequence(tmp_path, writer, family):
    client, server = (("10.0.0.2", 40000), ("10.0.0.9", 443)) if family == "v4" else \
        (("2001:db8::2", 40000), ("2001:db8::9", 443))
    path = tmp_path / "w.cap"
    with writer(path) as w:
        conv = TcpConversation(w, client, server, t0=100.0, mss=500)
        conv.send(b"a" * 1234)
        conv.send(b"b" * 700, from_client=False)
        conv.close()
        udp(w, client, (server[0], 53), b"dns?", t=200.0)
    prefs = ["-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"]
    fields = ["frame.time_epoch", "tcp.seq", "tcp.len", "tcp.ack", "tcp.checksum.status", "udp.checksum.status",
              "ip.checksum.status", "tcp.analysis.flags"]
    rows = [r.split("\t") for r in _tshark(path, *prefs, "-T", "fields", *[a for f in fields for a in ("-e", f)])]
    assert all(r[4] in ("", "1") and r[5] in ("", "1") and r[6] in ("", "1") for r in rows)   # 1 = good
    assert all(r[7] == "" for r in rows)                        # no retransmission/lost-segment flags
    data = [(r[1], r[2], r[3]) for r in rows if r[2] not in ("", "0")]
    assert data == [("1", "500", "1"), ("501", "500", "1"), ("1001", "234", "1"), ("1", "500", "1235"),
                    ("501", "200", "1235")]
    assert float(rows[0][0]) == pytest.approx(100.0001, abs=1e-6) and float(rows[-1][0]) == pytest.approx(200.0)

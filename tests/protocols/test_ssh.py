"""SSH: the banners named, the bytes after NEWKEYS counted as encrypted volume, every byte still scanned.

Real sessions from Zeek's suite (OpenSSH 5.8 to 7.9, paramiko, a 1.99 server, a capture with
duplicated segments); plaintext dressed as SSH must still be matched.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.model import FlowInfo, Payload
from sandbox.protocols.context import FlowContext
from sandbox.protocols.ssh import MAX_CLEAR, SshParser
from sandbox.replay import replay
from tests.index.genrun import make_run
from tests.protocols.test_datagram_parsers_conformance import dissected, encrypted

TRACES = "captures/public-traces"


def test_real_sessions_are_named_and_their_ciphertext_counted(shared_data):
    items = dissected(shared_data / TRACES / "zeek__tcp__ssh-dups.pcap")
    (obs,) = encrypted(items)
    assert obs.chain == ("tcp", "ssh") and obs.detail["decrypted"] is False
    assert obs.detail["client"] == "SSH-2.0-OpenSSH_7.9"
    assert obs.detail["server"] == "SSH-2.0-OpenSSH_7.6p1 Ubuntu-4ubuntu0.3"
    out = sum(len(p.data) for p in items if isinstance(p, Payload) and p.direction == "out")
    assert 1000 < obs.bytes_out < out     # the banner and key exchange are clear; the rest is not


def test_every_session_of_zeeks_ssh_trace_is_recognised(shared_data):
    obs = encrypted(dissected(shared_data / TRACES / "zeek__ssh__ssh.pcap"))
    ssh = [o for o in obs if o.chain == ("tcp", "ssh")]
    assert len(ssh) >= 15
    assert {o.detail.get("server") for o in ssh} >= {"SSH-2.0-paramiko_1.15.2", "SSH-1.99-OpenSSH_6.6.1p1 Ubuntu-2ubuntu2"}
    downloads = [o for o in ssh if o.detail["bytes_in"] > 500_000]
    assert len(downloads) == 2        # the two 550 kB transfers from 131.103.20.168


def _conversation(path: Path, out: list[bytes], into: list[bytes] = ()) -> Path:
    with PcapWriter(path) as w:
        conv = TcpConversation(w, ("10.0.0.2", 40022), ("198.51.100.7", 22), t0=1_700_000_000.0)
        conv.handshake()
        for data in into:
            conv.send(data, from_client=False)
        for data in out:
            conv.send(data)
        conv.close()
    return path


def test_a_large_ciphertext_upload_after_ssh_banners_is_an_opaque_upload(tmp_path):
    """Before SSH was recognised this replayed CLEAN: raw bytes that matched nothing."""
    run = make_run(tmp_path / "run", samples=1, reads_per_sample=500)
    kexinit = (5).to_bytes(4, "big") + b"\x04\x14" + bytes(3)
    newkeys = (12).to_bytes(4, "big") + b"\x0a\x15" + bytes(10)
    pcap = _conversation(tmp_path / "scp.pcap", [b"SSH-2.0-OpenSSH_9.2p1\r\n", kexinit, newkeys, os.urandom(2 << 20)],
                         [b"SSH-2.0-OpenSSH_9.6\r\n"])
    report = replay([pcap], [run.path], cache_dir=tmp_path / "cache", jobs=1).report
    (opaque,) = [f for f in report["findings"] if f["kind"] == "opaque-volume"]
    assert opaque["severity"] == "medium" and opaque["bytes_out"] >= 2 << 20
    assert opaque["detail"]["app"] == "ssh"


def test_plaintext_dressed_as_ssh_is_still_matched(tmp_path):
    run = make_run(tmp_path / "run", samples=1, reads_per_sample=2000)
    fastq = gzip.decompress((run.path / next(iter(run.fastq.values()))).read_bytes())
    pcap = _conversation(tmp_path / "fake.pcap", [b"SSH-2.0-x\r\n", fastq])
    report = replay([pcap], [run.path], cache_dir=tmp_path / "cache", jobs=1).report
    assert report["verdict"] == "leak"


def _ctx() -> FlowContext:
    info = FlowInfo(flow="tcp 10.0.0.2:40022 > 198.51.100.7:22", channel="net", transport="tcp",
                    src="10.0.0.2", sport=40022, dst="198.51.100.7", dport=22)
    return FlowContext(flow=info.flow, info=info, shared={})


@pytest.mark.parametrize("data", [
    b"SSH-2.0-" + b"x" * 100_000,                              # a banner with no end
    b"\n" * 5000 + b"SSH-2.0-y\r\n",                           # many lines before it
    b"SSH-2.0-z\r\n" + b"\xff\xff\xff\xff" + bytes(100),     # a packet length past the maximum
    b"SSH-2.0-z\r\n" + (1).to_bytes(4, "big") + bytes(10),   # one too short to hold its padding length
])
def test_hostile_clear_parts_never_raise_and_stay_bounded(data):
    parser = SshParser(_ctx())
    for i in range(0, len(data), 1000):
        parser.feed("out", data[i: i + 1000], float(i))
    assert all(len(s.buf) <= MAX_CLEAR for s in parser.sides.values())
    assert isinstance(parser.close(1.0), list)


def test_a_clear_part_that_never_ends_is_probed_past_its_bound():
    parser = SshParser(_ctx())
    parser.feed("out", b"SSH-2.0-z\r\n", 0.0)
    for i in range(MAX_CLEAR // 30_000 + 2):         # packets of 30000 bytes, never a NEWKEYS
        parser.feed("out", (30_000).to_bytes(4, "big") + b"\x04\x14" + os.urandom(29_998), float(i))
    assert parser.ctx.info.encrypted and not parser.sides["out"].buf

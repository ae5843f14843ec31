"""dumpcap's recording gets the TLS keys embedded, so a replay decrypts it on its own."""

from __future__ import annotations

import shutil
import sys

import pytest

from hw.net.dumpcap import Dumpcap
from sandbox.captures import open_capture
from sandbox.captures.writer import PcapngWriter

KEYLOG = b"CLIENT_RANDOM " + b"ab" * 32 + b" " + b"cd" * 48 + b"\n"


def test_keys_are_injected_and_the_key_log_can_go(tmp_path):
    out = tmp_path / "net.pcapng"
    with PcapngWriter(out) as w:
        w.write(b"\0" * 60, 1.0)
    keylog = tmp_path / "tls-keys.log"
    keylog.write_bytes(KEYLOG)
    d = Dumpcap("lo", out)
    assert d.inject_secrets(keylog) is None
    assert open_capture(out).tls_secrets.strip() == KEYLOG.strip()
    assert len(list(open_capture(out))) == 0 and open_capture(out).size > 0
    assert out.stat().st_mode & 0o777 == 0o600 and not out.with_name(out.name + ".tmp").exists()


@pytest.mark.skipif(shutil.which("dumpcap") is None, reason="dumpcap not installed")
def test_a_real_recording_keeps_its_statistics_block(tmp_path):
    """dumpcap's Interface Statistics Block (its drop counts) survives the injection: editcap drops it."""
    from sandbox.captures.pcapng import ISB

    out = tmp_path / "net.pcapng"
    d = Dumpcap("lo", out)
    d.start()
    d.stop()
    keylog = tmp_path / "tls-keys.log"
    keylog.write_bytes(KEYLOG)
    assert d.inject_secrets(keylog) is None
    data = out.read_bytes()
    assert open_capture(out).tls_secrets.strip() == KEYLOG.strip()
    assert data.rfind(ISB.to_bytes(4, "little")) > data.find(b"CLIENT_RANDOM") > 0


def test_nothing_to_inject_is_not_an_error(tmp_path):
    d = Dumpcap("lo", tmp_path / "net.pcapng")
    assert d.inject_secrets(tmp_path / "none.log") is None


def _blast(mb: int) -> None:
    """``mb`` MB over a loopback TCP connection."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    got = []

    def sink() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(1 << 20):
                got.append(len(data))

    t = threading.Thread(target=sink)
    t.start()
    with socket.create_connection(server.getsockname()) as c:
        for _ in range(mb):
            c.sendall(bytes(1 << 20))
    t.join(30)
    server.close()


@pytest.mark.skipif(shutil.which("dumpcap") is None, reason="dumpcap not installed")
def test_drops_are_in_the_recording_a_replay_reads(tmp_path):
    """The recording's writer stalls (as under a disk's writeback) while traffic flows: the kernel drops,
    dumpcap counts it, and the recording with its keys says so to a replay."""
    import signal

    out = tmp_path / "net.pcapng"
    d = Dumpcap("lo", out, bpf="tcp", buffer_mb=1)
    d.start()
    d.writer.send_signal(signal.SIGSTOP)
    try:
        _blast(64)
    finally:
        d.writer.send_signal(signal.SIGCONT)
    d.stop()
    keylog = tmp_path / "tls-keys.log"
    keylog.write_bytes(KEYLOG)
    assert d.inject_secrets(keylog) is None
    cap = open_capture(out)
    for _ in cap:
        pass
    assert cap.stats.drops > 0 and cap.tls_secrets
    assert any(n["packets"] == cap.stats.drops and "dropped" in n["what"] for n in cap.stats.not_examined(str(out)))


def test_a_key_log_too_large_to_carry_stays_beside_the_recording(tmp_path, monkeypatch):
    from sandbox.captures import pcapng

    out = tmp_path / "net.pcapng"
    with PcapngWriter(out) as w:
        w.write(b"\0" * 60, 1.0)
    before = out.read_bytes()
    keylog = tmp_path / "tls-keys.log"
    keylog.write_bytes(KEYLOG * 4)
    monkeypatch.setattr(pcapng, "MAX_SECRETS", len(KEYLOG) * 2)
    why = Dumpcap("lo", out).inject_secrets(keylog)
    assert why and "--tls-keylog tls-keys.log" in why
    assert out.read_bytes() == before and keylog.exists()


def _key(n: int) -> bytes:
    return b"CLIENT_RANDOM " + f"{n:064x}".encode() + b" " + b"cd" * 48 + b"\n"


def _ring_file(folder, number: int):
    path = folder / f"net_{number:05d}_20261204120000.pcapng"
    with PcapngWriter(path) as w:
        w.write(b"\0" * 60, float(number))
    return path


def test_each_ring_file_carries_the_keys_written_while_it_was_the_newest(tmp_path):
    """A ring of days: each file gets the keys of its own time (bounded), and a key written across a
    rotation goes in both files, never only in a file older than its handshake."""
    from hw.net.dumpcap import KeyTimeline
    from sandbox.ring import ring_files

    keylog = tmp_path / "tls-keys.log"
    keylog.touch()
    d = Dumpcap("lo", tmp_path / "net.pcapng", ring=(1, 0))
    first = _ring_file(tmp_path, 1)
    d.keys = timeline = KeyTimeline(keylog, d.files)

    def write(*numbers: int) -> None:
        with open(keylog, "ab") as log:
            log.write(b"".join(_key(n) for n in numbers))

    write(1, 2)
    timeline.look()                       # file 1 the newest: keys 1, 2
    write(3)
    second = _ring_file(tmp_path, 2)      # a rotation before the next look: key 3 may be either's
    timeline.look()
    write(4)
    timeline.look()
    third = _ring_file(tmp_path, 3)
    write(5)
    first.unlink()                        # the ring deleted its oldest file: its keys go with its packets
    timeline.stop()                       # the last look: key 5 was written while 2 or 3 was the newest
    assert d.files() == ring_files(tmp_path, "net") == [second, third]
    assert d.inject_secrets(keylog) is None
    carried = {p.name: open_capture(p).tls_secrets for p in (second, third)}
    assert carried == {second.name: _key(3) + _key(4) + _key(5), third.name: _key(5)}
    cap = open_capture(second)
    list(cap)
    assert cap.stats.packets == 1           # the packets are copied with them


def test_a_ring_file_whose_own_keys_are_too_many_keeps_the_key_log_beside(tmp_path, monkeypatch):
    from hw.net.dumpcap import KeyTimeline
    from sandbox.captures import pcapng

    keylog = tmp_path / "tls-keys.log"
    keylog.write_bytes(_key(1) * 3)
    d = Dumpcap("lo", tmp_path / "net.pcapng", ring=(1, 0))
    first = _ring_file(tmp_path, 1)
    before = first.read_bytes()
    d.keys = KeyTimeline(keylog, d.files)
    d.keys.stop()
    monkeypatch.setattr(pcapng, "MAX_SECRETS", len(_key(1)) * 2)
    why = d.inject_secrets(keylog)
    assert why and "one ring file" in why and "--tls-keylog tls-keys.log" in why
    assert first.read_bytes() == before


@pytest.mark.skipif(shutil.which("dumpcap") is None, reason="dumpcap not installed")
def test_a_sided_recording_says_which_packets_arrived_from_the_instrument_s_side(tmp_path):
    """The rig's link to a namespace standing in for the instrument: what the namespace sent arrived,
    what the rig sent left, each named by the link's index; the rig's other interfaces are not recorded,
    and the tap's capture filter still applies."""
    import socket
    import subprocess
    import time

    from hw.net.dumpcap import ifindex

    ns, here, there = "sbx-sided-test", "sbxsided0", "sbxsided1"
    if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode != 0:
        pytest.skip("no network namespaces here")
    try:
        for cmd in (["link", "add", here, "type", "veth", "peer", "name", there, "netns", ns],
                    ["addr", "add", "10.233.1.1/24", "dev", here], ["link", "set", here, "up"],
                    ["-n", ns, "addr", "add", "10.233.1.2/24", "dev", there], ["-n", ns, "link", "set", there, "up"]):
            subprocess.run(["ip", *cmd], check=True, capture_output=True)
        out = tmp_path / "net.pcapng"
        d = Dumpcap(here, out, bpf="udp port 9", sided=True)
        d.start()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(b"from the rig", ("10.233.1.2", 9))
                s.sendto(b"to no one on loopback", ("127.0.0.1", 9))
                s.sendto(b"another port", ("10.233.1.2", 10))
            subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c",
                            "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
                            ".sendto(b'from the instrument', ('10.233.1.1', 9))"], check=True)
            time.sleep(0.5)
        finally:
            d.stop()
        assert d.ifindex == ifindex(here)
        seen = {seg.data: seg.meta for seg in open_capture(out) if seg.transport == "udp"}
        assert seen == {b"from the rig": {"left": d.ifindex}, b"from the instrument": {"arrived": d.ifindex}}
    finally:
        subprocess.run(["ip", "link", "del", here], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_a_sided_recording_of_no_such_interface_says_so(tmp_path):
    from hw.net.dumpcap import ifindex
    from hw.tap import TapError

    with pytest.raises(TapError, match="no interface sbxnosuch0"):
        ifindex("sbxnosuch0")

"""TLS decrypted while the recording grows: the same Segments a replay of the finished file gives."""

from __future__ import annotations

import shutil
import signal
import ssl
import struct
import subprocess
import time
from pathlib import Path

import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.model import Segment
from sandbox.session import CaptureSource
from sandbox.tls_follow import (
    LUA_LISTENER,
    WHAT_BLIND,
    DecryptingSource,
    FollowedDecrypt,
    RecordParser,
    followed_command,
    layers_read,
)
from tests.protocols.test_tls_decrypt import BODY, SOCKS5_OPENING, _smtp, _through_socks
from tests.protocols.tls_pair import TlsPair

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")

KEYS_LATE_S = 0.1    # how long after the client's encrypted flight is recorded its keys are logged
CHUNK = 700          # bytes of the recording written at a time: packets arrive cut anywhere


def fields(segs: list[Segment]) -> list[tuple]:
    """What a Segment says; times to the microsecond (tshark's export rounds them its own way)."""
    return [(round(s.t, 6), s.transport, s.src, s.sport, s.dst, s.dport, s.data, s.frame) for s in segs]


def as_pcapng(pcap: Path) -> Path:
    out = pcap.with_suffix(".pcapng")
    subprocess.run(["editcap", "-F", "pcapng", str(pcap), str(out)], check=True, capture_output=True)
    return out


def block_end(pcapng: bytes, pos: int) -> int:
    """Where the pcapng block holding byte ``pos`` ends."""
    at = 0
    while at <= pos:
        at += struct.unpack_from("<I", pcapng, at + 4)[0]
    return at


def replayed(capture: Path, keylog: Path) -> list[Segment]:
    source = CaptureSource(capture, keylog.read_bytes())
    out: list[Segment] = []
    while not source.done:
        out += source.poll(1000)
    source.close()
    return out


def followed(capture: Path, keylog: Path, tmp: Path, keys_after: int | None = None,
             head_start: float = 0.0) -> tuple[list[Segment], DecryptingSource]:
    """``capture`` written to a new file piece by piece while a live source follows it; the key log
    is written once ``keys_after`` bytes of the recording are (all at once when None)."""
    growing, keys = tmp / "growing.pcapng", tmp / "growing-keys.log"
    keys.write_bytes(b"" if keys_after is not None else keylog.read_bytes())
    data = capture.read_bytes()
    growing.write_bytes(b"")
    source = DecryptingSource(CaptureSource(growing, follow=True, channel="net"),
                              FollowedDecrypt(lambda: [growing], keys, head_start=head_start))
    out: list[Segment] = []
    with open(growing, "ab") as f:
        cuts = sorted({*range(CHUNK, len(data), CHUNK), len(data), *([keys_after] if keys_after else [])})
        for start, end in zip([0, *cuts], cuts, strict=False):
            f.write(data[start: end])
            f.flush()
            if end == keys_after:
                time.sleep(KEYS_LATE_S)            # as a busy proxy: the flight is on disk, its key not yet
                keys.write_bytes(keylog.read_bytes())
            out += source.poll(1000)
    source.finish()
    deadline = time.monotonic() + 60
    while not source.done and time.monotonic() < deadline:
        out += source.poll(1000)
        time.sleep(0.01)
    assert source.done
    return out, source


def _https(tmp: Path, version: ssl.TLSVersion, mss: int = 1460, connections: int = 2) -> tuple[Path, Path]:
    """HTTPS uploads and their answers, each connection with its own TLS session, one key log."""
    keylog = tmp / "keys.txt"
    pcap = tmp / "https.pcap"
    with PcapWriter(pcap) as w:
        for n in range(connections):
            pair = TlsPair(tmp / f"tls{n}", version, host="cloud.example", keylog=keylog)
            c = TcpConversation(w, ("10.0.0.2", 40001 + n), ("10.0.0.7", 443), t0=1.0 + n, mss=mss)
            for from_client, flight in pair.handshake():
                c.send(flight, from_client=from_client)
            c.send(pair.seal(b"PUT /up HTTP/1.1\r\nHost: cloud.example\r\nContent-Length: %d\r\n\r\n" % len(BODY)
                             + BODY))
            c.send(pair.seal(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", from_client=False), from_client=False)
            c.close()
    return as_pcapng(pcap), keylog


def _starttls(tmp: Path, version: ssl.TLSVersion) -> tuple[Path, Path]:
    pair = TlsPair(tmp / "tls", version)
    pcap = tmp / "starttls.pcap"
    with PcapWriter(pcap) as w:
        _smtp(w, pair, 1460)
    return as_pcapng(pcap), pair.keylog


def _socks(tmp: Path) -> tuple[Path, Path]:
    pcap, keylog = _through_socks(tmp, 1080, SOCKS5_OPENING, BODY)
    return as_pcapng(pcap), keylog


CASES = {
    "https-tls12": lambda tmp: _https(tmp, ssl.TLSVersion.TLSv1_2),
    "https-tls13": lambda tmp: _https(tmp, ssl.TLSVersion.TLSv1_3),
    "https-tls13-mss3": lambda tmp: _https(tmp, ssl.TLSVersion.TLSv1_3, mss=3, connections=1),  # hellos cut everywhere
    "socks5-1080": _socks,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_growing_recording_gives_what_its_replay_gives(tmp_path: Path, case: str) -> None:
    capture, keylog = CASES[case](tmp_path)
    want = replayed(capture, keylog)
    assert any(s.transport == "tls" for s in want)
    got, source = followed(capture, keylog, tmp_path)
    assert fields(got) == fields(want)
    assert source.not_examined() == [] and source.health().errors == []
    source.close()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls12", "tls13"])
def test_keys_written_after_the_handshake_was_recorded_are_used(tmp_path: Path, version) -> None:
    """The proxy logs keys during the handshake; with the head start tshark sees them in time."""
    capture, keylog = _https(tmp_path, version, connections=1)
    want = replayed(capture, keylog)
    # the keys appear after the client's ChangeCipherSpec is on disk; tshark is 0.3 s behind the writer
    data = capture.read_bytes()
    got, source = followed(capture, keylog, tmp_path, keys_after=block_end(data, data.find(b"\x14\x03\x03\x00\x01\x01")),
                           head_start=0.3)
    assert fields(got) == fields(want)
    source.close()


def test_plaintext_waits_when_the_session_lags_and_nothing_is_lost(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("sandbox.tls_follow.MAX_BUFFERED", 64)     # tshark waits on its pipe every record
    capture, keylog = _https(tmp_path, ssl.TLSVersion.TLSv1_3)
    got, source = followed(capture, keylog, tmp_path)
    assert fields(got) == fields(replayed(capture, keylog))
    source.close()


def test_tshark_dying_is_said_and_the_raw_recording_still_read(tmp_path: Path) -> None:
    capture, keylog = _https(tmp_path, ssl.TLSVersion.TLSv1_3)
    keys = tmp_path / "keys.log"
    keys.write_bytes(keylog.read_bytes())
    decrypt = FollowedDecrypt(lambda: [capture], keys, head_start=0.0)
    decrypt.proc.send_signal(signal.SIGKILL)
    source = DecryptingSource(CaptureSource(capture, follow=True, channel="net"), decrypt)
    source.finish()
    out: list[Segment] = []
    deadline = time.monotonic() + 30
    while not source.done and time.monotonic() < deadline:
        out += source.poll(1000)
        time.sleep(0.01)
    raw = [s for s in replayed(capture, keylog) if s.transport != "tls"]
    assert fields(out) == fields(raw)          # every raw Segment, no plaintext
    (blind,) = source.not_examined()
    assert blind["what"].startswith(WHAT_BLIND) and "tshark exited -9" in blind["what"]
    source.close()


def test_starttls_plaintext_is_said_not_examined(tmp_path: Path) -> None:
    """A TLS proxy passes STARTTLS through (its keys are never logged); were they, it is said."""
    capture, keylog = _starttls(tmp_path, ssl.TLSVersion.TLSv1_3)
    got, source = followed(capture, keylog, tmp_path)
    assert fields(got) == fields([s for s in replayed(capture, keylog) if s.transport != "tls"])
    (blind,) = source.not_examined()
    assert blind["what"] == "TLS plaintext tshark handed to smtp (STARTTLS)" and blind["packets"] >= 4
    source.close()


def record(frame: int, protocols: bytes, *pieces: bytes) -> bytes:
    return (struct.pack(">IH", frame, len(protocols)) + protocols + struct.pack(">I", len(pieces))
            + b"".join(struct.pack(">I", len(p)) + p for p in pieces))


def test_the_listener_records_however_the_stream_is_cut() -> None:
    stream = (record(12, b"eth:ethertype:ip:tcp:tls:data", b"ping", b"pong") + record(3, b"")
              + record(5, b"eth:ethertype:ip:tcp:smtp:tls:smtp:imf") + record(6, b"tls:data", b""))
    want = [(12, [b"ping", b"pong"], ""), (3, [], ""), (5, [], "smtp"), (6, [b""], "")]
    for cut in (1, 2, 3, 7, len(stream)):
        parser = RecordParser()
        got = [r for i in range(0, len(stream), cut) for r in parser.feed(stream[i: i + cut])]
        parser.end()
        assert got == want
    parser = RecordParser()
    parser.feed(record(7, b"tls:data", b"x" * 10)[:-3])
    with pytest.raises(ValueError):
        parser.end()                                                    # cut short
    for damaged in (struct.pack(">IH", 1, 0) + struct.pack(">I", 10 ** 6),
                    struct.pack(">IHI", 1, 0, 1) + struct.pack(">I", 1 << 30)):
        with pytest.raises(ValueError):
            RecordParser().feed(damaged)
    assert layers_read(b"eth:ip:udp:data") == ""           # not under TLS: not plaintext
    cmd = followed_command(Path("/k.log"))
    assert cmd[cmd.index("-r") + 1] == "-" and "-U" not in cmd
    assert cmd[cmd.index("-X") + 1] == f"lua_script:{LUA_LISTENER}" and LUA_LISTENER.is_file()

"""TLS decrypted while the recording grows (``tls_inline``): the Segments a replay of the finished file gives.

The replay decrypts with tshark; the live source with ``tls_keys`` in process: the two agree Segment
for Segment (times, addresses, frames, plaintext), the keys written late included.
"""

from __future__ import annotations

import shutil
import ssl
import struct
import subprocess
import time
from pathlib import Path

import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.model import Segment
from sandbox.protocols import tls_keys
from sandbox.protocols.tcp import CLOSED_LINGER
from sandbox.session import CaptureSource
from sandbox.tls_inline import InlineDecryptingSource
from tests.protocols.test_tls_replay import BODY, SOCKS5_OPENING, _smtp, _through_socks
from tests.protocols.tls_pair import TlsPair, https_exchange

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")

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
             marks: list[tuple[float, float]] | None = None) -> tuple[list[Segment], InlineDecryptingSource]:
    """``capture`` written to a new file piece by piece while a live source follows it; the key log
    is written once ``keys_after`` bytes of the recording are (all at once when None).  ``marks``
    gets (the source's watermark, the capture time of the oldest record waiting for its key) just
    before the key log is written."""
    growing, keys = tmp / "growing.pcapng", tmp / "growing-keys.log"
    keys.write_bytes(b"" if keys_after is not None else keylog.read_bytes())
    data = capture.read_bytes()
    growing.write_bytes(b"")
    source = InlineDecryptingSource(CaptureSource(growing, follow=True, channel="net", writer_delay=0.0), keys)
    out: list[Segment] = []

    def poll() -> None:
        out.extend(source.poll(1000))

    with open(growing, "ab") as f:
        cuts = sorted({*range(CHUNK, len(data), CHUNK), len(data), *([keys_after] if keys_after else [])})
        for start, end in zip([0, *cuts], cuts, strict=False):
            f.write(data[start: end])
            f.flush()
            if end == keys_after:
                poll()                             # as a busy proxy: the flight is on disk, its key not yet
                if marks is not None:
                    marks.append((source.watermark(time.time()), source.decrypt.oldest_pending()))
                keys.write_bytes(keylog.read_bytes())
            poll()
    source.finish()
    deadline = time.monotonic() + 60
    while not source.done and time.monotonic() < deadline:
        poll()
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
            https_exchange(c, pair, b"PUT /up HTTP/1.1\r\nHost: cloud.example\r\nContent-Length: %d\r\n\r\n"
                           % len(BODY) + BODY)
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
def test_records_recorded_before_their_key_was_logged_wait_for_it(tmp_path: Path, version) -> None:
    """The proxy logs a TLS 1.2 key as it reads the client's flight, which dumpcap records at once:
    those records wait for the key, keep their frames, and nothing is handed on as complete past them."""
    capture, keylog = _https(tmp_path, version, connections=1)
    want = replayed(capture, keylog)
    data = capture.read_bytes()
    hello_done = data.find(b"\x14\x03\x03\x00\x01\x01")      # ChangeCipherSpec: keys in use from here
    marks: list[tuple[float, float]] = []
    got, source = followed(capture, keylog, tmp_path, keys_after=block_end(data, hello_done), marks=marks)
    assert fields(got) == fields(want)
    ((mark, waiting),) = marks
    assert mark < waiting < float("inf")          # the watermark stays before the records still waiting
    source.close()


def test_a_key_that_never_comes_is_said_and_does_not_hold_the_session(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tls_keys, "KEY_WAIT_S", 0.5)
    capture, keylog = _https(tmp_path, ssl.TLSVersion.TLSv1_3, connections=3)   # a second apart
    empty = tmp_path / "none.log"
    empty.write_bytes(b"")
    got, source = followed(capture, empty, tmp_path)
    assert [s for s in got if s.transport == "tls"] == []
    assert fields(got) == fields([s for s in replayed(capture, keylog) if s.transport != "tls"])
    (blind,) = source.not_examined()
    assert blind["what"] == tls_keys.WHAT_NO_KEY and blind["bytes"] >= 3 * len(BODY)
    assert source.watermark(time.time()) == float("inf")
    source.close()


def test_starttls_is_decrypted_as_a_replay_decrypts_it(tmp_path: Path) -> None:
    """TLS after a plaintext dialogue (SMTP STARTTLS; a proxy's CONNECT or SOCKS likewise): found and opened."""
    capture, keylog = _starttls(tmp_path, ssl.TLSVersion.TLSv1_3)
    want = replayed(capture, keylog)
    got, source = followed(capture, keylog, tmp_path)
    assert fields(got) == fields(want) and any(b"MAIL FROM" in s.data for s in got if s.transport == "tls")
    source.close()


def test_a_session_of_many_connections_keeps_only_those_open_or_just_ended(tmp_path: Path) -> None:
    """Ended connections linger CLOSED_LINGER (capture time) for what a FIN or RST its receiver dropped
    would hide, then go."""
    capture, keylog = _https(tmp_path, ssl.TLSVersion.TLSv1_2, connections=40)
    got, source = followed(capture, keylog, tmp_path)
    assert sum(s.transport == "tls" for s in got) >= 80
    last = max(s.t for s in got)
    kept = list(source.decrypt.conns.values())
    assert len(kept) < 40 and all(c.tcp.finished and c.last.t > last - CLOSED_LINGER for c in kept)
    source.close()


class KeysLoggedWhileRead:
    """The raw recording, whose proxy logs ``keylog`` into ``keys`` while the session reads it: a
    session that lags (or is paused between reads) meets whole connections, FIN and all, at once."""

    def __init__(self, raw: CaptureSource, keys: Path, keylog: Path) -> None:
        self.raw, self.keys, self.keylog = raw, keys, keylog

    def poll(self, limit: int) -> list[Segment]:
        segments = self.raw.poll(limit)
        if segments and not self.keys.stat().st_size:
            self.keys.write_bytes(self.keylog.read_bytes())
        return segments

    def __getattr__(self, name: str):
        return getattr(self.raw, name)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls12", "tls13"])
def test_a_connection_read_whole_uses_the_key_logged_while_it_was_read(tmp_path: Path, version) -> None:
    capture, keylog = _https(tmp_path, version, connections=1)
    want = replayed(capture, keylog)
    keys = tmp_path / "live-keys.log"
    keys.write_bytes(b"")
    source = InlineDecryptingSource(KeysLoggedWhileRead(CaptureSource(capture, channel="net"), keys, keylog), keys)
    got: list[Segment] = []
    while not source.done:
        got += source.poll(1000)
    assert fields(got) == fields(want) and any(s.transport == "tls" for s in got)
    assert source.not_examined() == []
    source.close()

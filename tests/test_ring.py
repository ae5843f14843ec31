"""A ring buffer's files replay as one capture: a TLS session whose handshake is in one file is
decrypted in the next, frames are numbered across the files and located back in their file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.captures.writer import PcapngWriter, TcpConversation
from sandbox.replay import replay
from sandbox.ring import group_rings, ring_files, ring_members, ring_name
from tests.protocols.tls_pair import TlsPair
from tests.protocols.tshark_tls import decrypt

RUN = "illumina/230825_M04034_0043_000000000-L6NVV"


class RingWriter:
    """Packets into ``net_NNNNN_TIME.pcapng`` files, a new one on ``rotate`` (as dumpcap's ``-b``), each
    with the TLS keys embedded (as the network tap injects them into every file of its ring)."""

    def __init__(self, folder: Path, secrets: bytes) -> None:
        self.folder, self.secrets, self.files = folder, secrets, []
        self.linktype = 1
        self.w: PcapngWriter | None = None
        self.rotate()

    def rotate(self) -> None:
        if self.w is not None:
            self.w.close()
        n = len(self.files) + 1
        self.files.append(self.folder / f"net_{n:05d}_2026010100000{n}.pcapng")
        self.w = PcapngWriter(self.files[-1], tls_secrets=self.secrets)

    def write(self, data: bytes, t: float) -> None:
        self.w.write(data, t)

    def close(self) -> None:
        self.w.close()


def test_ring_files_are_found_and_grouped_in_dumpcap_order(tmp_path):
    names = ("net_00010_20260101000000.pcapng", "net_00002_20260101000000.pcapng", "net.pcapng",
             "other_00001_20260101000000.pcapng", "net_x_00003_20260101000000.pcapng")
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in ring_files(tmp_path, "net")] == ["net_00002_20260101000000.pcapng",
                                                              "net_00010_20260101000000.pcapng"]
    paths = [tmp_path / n for n in names]
    assert [[p.name for p in g] for g in group_rings(paths)] == [
        ["net_00002_20260101000000.pcapng", "net_00010_20260101000000.pcapng"], ["net.pcapng"],
        ["other_00001_20260101000000.pcapng"], ["net_x_00003_20260101000000.pcapng"]]
    assert ring_members(Path(ring_name(tmp_path, "net"))) == ring_files(tmp_path, "net")
    assert ring_members(tmp_path / "net.pcapng") == [tmp_path / "net.pcapng"]


@pytest.fixture()
def ring(shared_data: Path, tmp_path: Path) -> tuple[list[Path], Path, int]:
    """Three ring files: a plaintext request, then an HTTPS upload of a run file whose TLS handshake is
    in the second file and whose data is in the third; (files, their concatenation, frames in file 1)."""
    body = (shared_data / RUN / "InterOp" / "ErrorMetricsOut.bin").read_bytes()[:20000]
    pair = TlsPair(tmp_path / "tls", host="cloud.example")
    flights = pair.handshake()
    rw = RingWriter(tmp_path, pair.keylog.read_bytes())
    plain = TcpConversation(rw, ("10.0.0.2", 40000), ("10.0.0.9", 80), t0=1.0)
    plain.send(b"GET /status HTTP/1.1\r\nHost: cloud.example\r\n\r\n")
    plain.close()
    first_frames = rw.w.packets
    rw.rotate()
    tls = TcpConversation(rw, ("10.0.0.2", 40001), ("10.0.0.9", 8443), t0=2.0)
    for from_client, flight in flights:
        tls.send(flight, from_client=from_client)
    rw.rotate()
    tls.send(pair.seal(b"POST /upload HTTP/1.1\r\nHost: cloud.example\r\nContent-Length: %d\r\n\r\n" % len(body)
                       + body))
    tls.send(pair.seal(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", from_client=False), from_client=False)
    tls.close()
    rw.close()
    whole = tmp_path / "whole.pcapng"
    whole.write_bytes(b"".join(f.read_bytes() for f in rw.files))
    return rw.files, whole, first_frames


def test_tls_spanning_files_is_decrypted_in_one_pass(ring):
    files, whole, _ = ring
    assert not [s for s in decrypt(files[2]) if b"POST /upload" in s.data]    # its handshake is elsewhere
    across = [(s.frame, s.data) for s in decrypt(files)]
    assert any(b"POST /upload" in data for _, data in across)
    assert across == [(s.frame, s.data) for s in decrypt(whole)]              # frames numbered on, as cat gives


def test_replay_of_the_ring_files_equals_the_replay_of_their_concatenation(ring, shared_data, tmp_path):
    files, whole, first_frames = ring
    run = shared_data / RUN
    by_files = replay(list(reversed(files)), [run], cache_dir=tmp_path / "cache", jobs=1).report
    by_whole = replay([whole], [run], cache_dir=tmp_path / "cache", jobs=1).report
    (leak,) = [f for f in by_files["findings"] if f["severity"] in ("high", "critical")]
    assert leak["flow"] == "tcp 10.0.0.2:40001 > 10.0.0.9:8443" and leak["chain"][:3] == [
        "tcp", "tls", "http/1.1 POST /upload"]
    strip = lambda r: [{k: v for k, v in f.items() if k != "location"} for f in r["findings"]]   # noqa: E731
    assert strip(by_files) == strip(by_whole)
    assert [c["path"] for c in by_files["captures"]] == [ring_name(files[0].parent, "net")]
    assert not by_files["errors"]
    # located in the file it is in, at its frame there
    at, whole_at = leak["location"], next(f["location"] for f in by_whole["findings"] if f["id"] == leak["id"])
    assert at["capture"] == str(files[1]) and at["frame"] + first_frames == whole_at["frame"]
    assert at["byte_offset"] is not None


def test_a_ring_session_bundles_every_file_and_its_bundle_replays_the_same(ring, shared_data, tmp_path, capsys):
    from sandbox.cli import main

    files, _, _ = ring
    run, db, out = shared_data / RUN, tmp_path / "store.sqlite", tmp_path / "evidence.tar.zst"
    first = tmp_path / "first.json"
    assert main(["replay", *map(str, files), "--run", str(run), "--db", str(db), "--json", str(first),
                 "--cache-dir", str(tmp_path / "cache"), "--quiet"]) == 1
    assert main(["bundle", str(db), str(out), "--quiet"]) == 0
    again = tmp_path / "again.json"
    assert main(["replay", "--bundle", str(out), "--run", str(run), "--json", str(again),
                 "--cache-dir", str(tmp_path / "cache")]) == 1
    n = len(json.loads(first.read_text())["findings"])
    assert n and f"bundle: {n} of {n} findings reproduced" in capsys.readouterr().out
    assert [c["path"] for c in json.loads(again.read_text())["captures"]][0].endswith("000-net_*.pcapng")

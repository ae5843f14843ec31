"""Packets the instrument forges in another's name, seen in the rig's own recording of its link.

The instrument owns its host: it can put on its link to the rig a DNS answer in the bench resolver's
name, a server's acknowledgement, reset or SYN.  An address proves nothing; where the packet was seen
does: the rig records its instrument-facing link as Linux cooked v2, whose header says whether the
rig received a packet there (it came from the instrument's side) or sent it (from beyond the rig).
``--instrument link:IFINDEX`` names that link.  Each capture here is written as the rig records it,
with the project's capture writer.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from sandbox.captures.writer import LINKTYPE_LINUX_SLL2, PcapngWriter, SidedLink, TcpConversation
from sandbox.model import ACK, RST, SYN
from sandbox.protocols.flows import CONTESTED, FORGED_IN
from sandbox.replay import replay
from sandbox.simulate import ensure_demo, wire
from sandbox.simulate.traffic import INSTRUMENT, RESOLVER, Bench

REPO = Path(__file__).resolve().parents[2]
LINK = 6                                  # the rig's instrument-facing interface (its index)
SIDE = ["10.20.0.0/24", "!10.20.0.1", f"link:{LINK}"]     # what a live session records as its inputs
ALLOWED = "lims.lab.example"
EXFIL = "203.0.113.66"


@pytest.fixture(scope="module")
def demo_run() -> Path:
    return ensure_demo(REPO / "captures" / "demo")[0]


def reads(run_dir: Path) -> bytes:
    return gzip.decompress(next(run_dir.rglob("*.fastq.gz")).read_bytes())[:60_000]


def sealed_upload(bench: Bench, address: str) -> None:
    """A TLS upload the rig holds no key for, naming the allowed LIMS, too large to pass unweighed."""
    conv = bench.connect((address, 443))
    conv.send(wire.client_hello(ALLOWED, os.urandom(32), os.urandom(32)))
    conv.send(wire.server_hello(os.urandom(32), os.urandom(32), b""), from_client=False)
    conv.send(wire.tls_record(wire.TLS_APPDATA, os.urandom(1 << 20)))
    bench.close(conv)


def forged_answer_capture(path: Path, forged: bool) -> Path:
    """The instrument asks the bench resolver for the LIMS, and the answer (the resolver's, or one
    the instrument forged in its name) gives the exfiltration server's address; then the upload."""
    with PcapngWriter(path, linktype=LINKTYPE_LINUX_SLL2) as w:
        link = SidedLink(w, INSTRUMENT, LINK)
        bench = Bench(link)
        link.forging = forged
        bench.resolve(ALLOWED, EXFIL)
        link.forging = False
        sealed_upload(bench, EXFIL)
    return path


def judged(path: Path, run: Path, tmp_path: Path, instrument: list[str] | None) -> dict:
    return replay([path], [run], allow=[ALLOWED], instrument=instrument, cache_dir=tmp_path / "cache", jobs=1).report


def forged_rows(report: dict) -> list[dict]:
    return [row for row in report["not_examined"] if row["what"] == FORGED_IN]


def test_a_dns_answer_forged_in_the_resolver_s_name_vouches_for_nothing(demo_run, tmp_path):
    """The hole this closes: the forged answer made the upload's address the LIMS's, and the upload
    to the instrument's own server passed as clean."""
    path = forged_answer_capture(tmp_path / "forged.pcapng", forged=True)
    blind = judged(path, demo_run, tmp_path, ["10.20.0.0/24", "!10.20.0.1"])     # no link named: as before
    assert blind["verdict"] == "clean"
    report = judged(path, demo_run, tmp_path, SIDE)
    assert report["verdict"] == "inconclusive"
    assert ("opaque-volume", EXFIL) in {(f["kind"], f["destination"]) for f in report["findings"]}
    assert [(row["where"], row["packets"]) for row in forged_rows(report)] == [(f"udp {INSTRUMENT}:* > {RESOLVER}:53", 1)]


def test_the_resolver_s_own_answer_is_believed(demo_run, tmp_path):
    """The same answer sent by the resolver (it left the rig towards the instrument) vouches as before."""
    path = forged_answer_capture(tmp_path / "real.pcapng", forged=False)
    report = judged(path, demo_run, tmp_path, SIDE)
    assert report["verdict"] == "clean" and not report["not_examined"]


def test_acknowledgements_and_resets_in_the_server_s_name_are_not_believed(demo_run, tmp_path):
    """Forged ACKs for all it will send, a forged RST, then an upload of reads: the upload is found in
    the connection's own stream, and the forgeries are reported."""
    path = tmp_path / "acks.pcapng"
    upload = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n" + reads(demo_run)
    with PcapngWriter(path, linktype=LINKTYPE_LINUX_SLL2) as w:
        link = SidedLink(w, INSTRUMENT, LINK)
        c = TcpConversation(link, client=(INSTRUMENT, 40000), server=(EXFIL, 80), t0=1.0, acks=False)
        c.handshake()
        link.forging = True
        c.seq[True] += len(upload)                  # the server "acknowledges" the whole upload before it is sent
        link.write(c._frame(False, ACK), c._tick())
        c.seq[True] -= len(upload)
        link.write(c._frame(False, RST | ACK), c._tick())
        link.forging = False
        c.send(upload)
        c.close()
    report = judged(path, demo_run, tmp_path, SIDE)
    assert report["verdict"] == "leak"
    assert any(f["kind"] == "run-bytes" and f["chain"][:2] == ["tcp", "http/1.1 POST /up"] for f in report["findings"])
    assert [row["packets"] for row in forged_rows(report)] == [2]


@pytest.mark.parametrize("instrument", [SIDE, [f"link:{LINK}"]], ids=["addresses and link", "link alone"])
def test_a_syn_forged_in_the_server_s_name_first_does_not_turn_the_upload_around(instrument, demo_run, tmp_path):
    """The server's SYN and SYN-ACK forged before the real handshake: the instrument's upload must not
    read as a download.  With the instrument's addresses the forgery is simply not believed; with the
    link alone the first packet's sender is taken for the instrument, and the real bytes, arriving in
    the other end's name, are read as the instrument's all the same."""
    path = tmp_path / "syn.pcapng"
    upload = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n" + reads(demo_run)
    with PcapngWriter(path, linktype=LINKTYPE_LINUX_SLL2) as w:
        link = SidedLink(w, INSTRUMENT, LINK)
        c = TcpConversation(link, client=(INSTRUMENT, 40000), server=(EXFIL, 80), t0=1.0)
        link.forging = True
        link.write(c._frame(False, SYN), c._tick())
        link.forging = False
        c.send(upload)
        c.close()
    report = judged(path, demo_run, tmp_path, instrument)
    assert report["verdict"] == "leak"
    assert "run-bytes" in {f["kind"] for f in report["findings"]}
    assert not [row for row in report["not_examined"] if row["what"] == CONTESTED]
    assert forged_rows(report)


def test_honest_traffic_on_the_link_is_judged_as_without_it(demo_run, tmp_path):
    """No forgery: naming the link changes nothing (the demo's own leaks, recorded as the rig does)."""
    path = tmp_path / "honest.pcapng"
    upload = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n" + reads(demo_run)
    with PcapngWriter(path, linktype=LINKTYPE_LINUX_SLL2) as w:
        bench = Bench(SidedLink(w, INSTRUMENT, LINK))
        bench.resolve(ALLOWED, "198.51.100.10")
        sealed_upload(bench, "198.51.100.10")
        conv = bench.connect((EXFIL, 80))
        bench.exchange(conv, upload, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        bench.close(conv)
    with_link = judged(path, demo_run, tmp_path, SIDE)
    without = judged(path, demo_run, tmp_path, ["10.20.0.0/24", "!10.20.0.1"])
    essence = [(f["kind"], f["severity"], f["destination"], f["flow"]) for f in with_link["findings"]]
    assert essence == [(f["kind"], f["severity"], f["destination"], f["flow"]) for f in without["findings"]]
    assert with_link["verdict"] == "leak" and not with_link["not_examined"]


def test_a_link_no_packet_was_seen_on_is_said(demo_run, tmp_path):
    """A recording that is not the rig's cooked one (or another interface's): the link named protects
    nothing there, and the report says so."""
    path = forged_answer_capture(tmp_path / "forged.pcapng", forged=True)
    notes = judged(path, demo_run, tmp_path, [*SIDE[:-1], "link:9"])["notes"]
    assert [n for n in notes if "link:" in n] == [
        "--instrument link:9: no packet of the recording was seen on interface 9 (a Linux cooked v2 recording "
        "says where it saw each packet): packets forged in another's name were not told apart there"]
    assert not [n for n in judged(path, demo_run, tmp_path, SIDE)["notes"] if "link:" in n]

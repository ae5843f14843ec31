"""Reads sent over a network link on a serial line: a dial-up modem's PPP, SLIP from an embedded
controller, a USB cellular modem's PPP over its CDC-ACM port.  The link's IP packets are read as
captured traffic, so an upload in them is a leak with the samples named, however the link packs
it: Van Jacobson header compression, CCP Deflate, escaped control characters, FCS-32.  Before, the
line's bytes were only scanned raw: a compressed upload was unreadable through PPP's escaping and
the verdict was clean.  What the link hides from the rig (MPPE encryption) is said, never clean."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from sandbox.captures.serialwriter import SerialRecording
from sandbox.replay import replay
from sandbox.simulate.ppp import (
    CCP,
    CONFIGURE_ACK,
    LCP,
    TERMINATE_ACK,
    control,
    hdlc,
    ppp,
    ppp_session,
    upload_packets,
)
from sandbox.simulate.usb import SerialHost, UsbBench, open_writer, serial_adapter
from tests.hostile.uploads import novaseq_reads
from tests.protocols.serial.slipwire import slip_session

INSTRUMENT, LIMS = "10.64.64.2", "192.0.2.9"
INSTRUMENT_RAW = bytes([10, 64, 64, 2])


def upload(body: bytes) -> list[bytes]:
    return upload_packets(INSTRUMENT, LIMS, body)


def record(path: Path, chunks: list[tuple[str, bytes]]) -> Path:
    with SerialRecording(path) as rec:
        line = rec.add_line("/dev/ttyS0", "/dev/ttyUSB0", "115200 8N1", baud=115200)
        rec.event(line, "opened", "line", t=0.5)
        rec.data(line, "out", b"ATDT5551234\r", t=0.6)
        rec.data(line, "in", b"\r\nCONNECT 115200\r\n", t=0.7)
        t = 1.0
        for direction, data in chunks:
            t += 0.001
            rec.data(line, direction, data, t)
        rec.data(line, "in", b"\r\nNO CARRIER\r\n", t + 0.1)
    return path


@pytest.fixture(scope="module")
def reads(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serial-links")
    run, fastq = novaseq_reads(tmp)
    return tmp, run, gzip.compress(fastq)


def _verdict(tmp: Path, run: Path, capture: Path) -> dict:
    return replay([capture], [run], allow=[LIMS], cache_dir=tmp / "cache", jobs=1).report


LINKS = {
    "ppp": lambda p: ppp_session(p, INSTRUMENT_RAW),
    "ppp with vj compression": lambda p: ppp_session(p, INSTRUMENT_RAW, vj=True),
    "ppp with ccp deflate and vj": lambda p: ppp_session(p, INSTRUMENT_RAW, vj=True, deflate=True),
    "ppp fcs-32, compressed fields, no accm": lambda p: ppp_session(p, INSTRUMENT_RAW, fcs32=True, acfc=True,
                                                                   pfc=True, accm=0),
    "slip": lambda p: slip_session(p, INSTRUMENT_RAW),
    "compressed slip": lambda p: slip_session(p, INSTRUMENT_RAW, vj=True),
}


@pytest.mark.parametrize("name", LINKS)
def test_a_compressed_upload_over_a_serial_link_is_a_leak_naming_the_sample(reads, name):
    tmp, run, body = reads
    capture = record(tmp / f"{name}.pcapng", LINKS[name](upload(body)))
    report = _verdict(tmp, run, capture)
    assert report["verdict"] == "leak", name
    [leak] = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert leak["samples"] == ["PT5699-T1"] and leak["channel"] == "serial"
    link = name.split()[-1] if name.endswith("slip") else "ppp"
    assert {tuple(e["chain"][:4]) for e in leak["evidence"]} == {("serial", link, "tcp", "http/1.1 POST /results")}
    assert leak["destination"] == "lims.lab.example"


def test_junk_control_characters_a_receiver_deletes_hide_nothing(reads):
    """RFC 1662 7.1: a receiver deletes control characters its ACCM flags that arrive unescaped, so a
    sender may sprinkle XON/XOFF through its frames; the frames verify without them."""
    tmp, run, body = reads
    chunks = [(d, data[:1] + b"".join(bytes([b]) + (b"\x11" if i % 50 == 0 else b"") for i, b in enumerate(data[1:])))
              for d, data in ppp_session(upload(body), INSTRUMENT_RAW)]
    report = _verdict(tmp, run, record(tmp / "xon.pcapng", chunks))
    assert report["verdict"] == "leak"
    assert {f["samples"][0] for f in report["findings"] if f["severity"] in ("high", "critical")} == {"PT5699-T1"}


def test_a_usb_cellular_modem_dialling_out_over_its_serial_port(reads):
    tmp, run, body = reads
    path = tmp / "modem.pcap"
    with open_writer(path) as w:
        bench = UsbBench(w)
        modem = SerialHost(bench, bench.plug(serial_adapter(vid=0x12D1, pid=0x1001, product="HUAWEI Mobile")))
        modem.send(b"ATD*99#\r")
        modem.receive(b"\r\nCONNECT 7200000\r\n")
        for direction, data in ppp_session(upload(body), INSTRUMENT_RAW, vj=True):
            (modem.send if direction == "out" else modem.receive)(data)
    report = _verdict(tmp, run, path)
    assert report["verdict"] == "leak"
    [leak] = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert leak["samples"] == ["PT5699-T1"] and leak["channel"] == "usb"
    assert {tuple(e["chain"][1:5]) for e in leak["evidence"]} == {("cdc-acm", "ppp", "tcp", "http/1.1 POST /results")}


def test_an_encrypted_link_is_inconclusive_never_clean(reads):
    tmp, run, body = reads
    mppe = bytes([18, 6, 0, 0, 0, 0x40])          # MPPE, 128-bit keys
    chunks = [(d, hdlc(ppp(CCP, control(CONFIGURE_ACK, 1, mppe)))) for d in ("in", "out")]
    chunks += [("out", hdlc(ppp(0x00FD, bytes(range(256)) * 4))) for _ in range(40)]
    report = _verdict(tmp, run, record(tmp / "mppe.pcapng", chunks))
    assert report["verdict"] == "inconclusive"
    assert any("MPPC/MPPE" in row["what"] for row in report["not_examined"])


def test_the_peer_s_hang_up_recorded_before_the_last_frames_it_answers(reads):
    """Two readers record a line, each in pieces: the peer's Terminate-Ack and NO CARRIER can be
    recorded before the instrument's last frames (seen in the live demo, a ~4 KiB read of the
    instrument's behind a read of the peer's whole session).  The link ended there and its last
    frames started a new one with no compression state: the rest of the upload was not examined.
    The link now ends on the peer's side alone; the instrument's frames still belong to it."""
    tmp, run, body = reads
    chunks = ppp_session(upload(body), INSTRUMENT_RAW, vj=True, deflate=True)
    ack = next(i for i, (d, data) in enumerate(chunks) if d == "in" and data == hdlc(ppp(LCP, control(TERMINATE_ACK, 9))))
    late = [c for c in chunks[ack - 12:ack] if c[0] == "out"]
    tail = b"".join(data for _, data in late)
    cut = len(late[0][1]) // 2                  # a read ends in the middle of a frame
    early = [c for c in chunks[:ack] if c not in late] + [("out", tail[:cut])]
    early += [chunks[ack], ("in", b"\r\nNO CARRIER\r\n")]
    # then a short read of the instrument's that does not finish that frame, then the rest
    report = _verdict(tmp, run, record(tmp / "skew.pcapng", early + [("out", tail[cut:cut + 20]),
                                                                       ("out", tail[cut + 20:])]))
    assert report["verdict"] == "leak" and not report["not_examined"], report["not_examined"]

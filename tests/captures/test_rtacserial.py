"""LINKTYPE_RTAC_SERIAL (250): the serial recordings the bridge writes read back as the same bytes,
directions and line events, and tshark's rtacser dissector reads them with the direction kept."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from sandbox.captures import open_capture
from sandbox.captures.links import rtacserial
from sandbox.captures.serialwriter import SerialRecording, line_bits, rtac_record
from sandbox.captures.writer import PcapngWriter, PcapWriter


def _recording(path):
    with SerialRecording(path) as rec:
        a = rec.add_line("/dev/ttyUSB0", "/dev/ttyS1", "115200 8N1", baud=115200)
        b = rec.add_line("/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0", "/dev/ttyS2",
                         "9600 7E1 xonxoff", baud=9600)
        rec.event(a, "opened", "line", 10.0, line_bits({"CTS", "DSR", "DTR"}))
        rec.data(a, "out", b"@r1\nACGT\n+\nIIII\n\xff\x00", 10.25)
        rec.data(b, "in", b"status?\r\n", 10.5)
        rec.event(a, "break", "instrument", 10.75)
        rec.event(b, "unplugged", "host", 11.0, detail="[Errno 5] Input/output error")
        rec.event(b, "replugged", "host", 13.5)
        rec.data_lost(a, 12, "instrument", 14.0)
    return a, b


def test_recording_reads_back_with_ports_directions_and_events(tmp_path):
    path = tmp_path / "serial.pcapng"
    _recording(path)
    cap = open_capture(path)
    segs = list(cap)
    data = [(s.t, s.src, s.dst, s.meta["direction"], s.data) for s in segs if s.data]
    assert data == [(10.25, "/dev/ttyS1", "/dev/ttyUSB0", "out", b"@r1\nACGT\n+\nIIII\n\xff\x00"),
                    (10.5, "/dev/ttyS2", "/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0", "in",
                     b"status?\r\n")]
    events = [(s.t, s.meta["line"]["event"], s.meta["line"]["side"], s.meta["direction"]) for s in segs if not s.data]
    assert events == [(10.0, "opened", "line", "out"), (10.75, "break", "instrument", "out"),
                      (11.0, "unplugged", "host", "in"), (13.5, "replugged", "host", "in"),
                      (14.0, "data-lost", "instrument", "out")]
    opened = segs[0].meta["line"]
    assert opened["lines"] == "CTS DSR DTR" and opened["baud"] == 115200 and opened["settings"] == "115200 8N1"
    assert segs[4].meta["line"]["note"] == "[Errno 5] Input/output error"
    assert {s.channel for s in segs} == {"serial"} and {s.transport for s in segs} == {"serial"}
    assert cap.stats.drops == 12 and not cap.errors


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_dissects_the_recording_with_the_direction(tmp_path):
    path = tmp_path / "serial.pcapng"
    _recording(path)
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-E", "separator=|", "-e",
                          "frame.interface_name", "-e", "rtacser.eventtype", "-e", "rtacser.cts", "-e", "data.data"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    rows = [line.split("|") for line in out]
    assert [r[1] for r in rows] == ["0x00", "0x01", "0x02", "0x09", "0x00", "0x00", "0x05"]
    assert rows[1] == ["/dev/ttyS1", "0x01", "0", b"@r1\nACGT\n+\nIIII\n\xff\x00".hex()]   # TX: the instrument sent
    assert rows[2][0] == "/dev/ttyS2" and bytes.fromhex(rows[2][3]) == b"status?\r\n"      # RX: it received
    assert rows[0][2] == "1" and bytes.fromhex(rows[3][3]) == b"break instrument"
    info = subprocess.run(["tshark", "-r", str(path)], capture_output=True, text=True, check=True).stdout
    assert "DATA_TX_START" in info and "DATA_RX_START" in info and "SERIAL_BREAK_EVENT" in info


def test_foreign_recordings_without_names_or_notes(tmp_path):
    """An RTAC capture from elsewhere: no interface names, events with no note, classic pcap."""
    path = tmp_path / "rtac.pcap"
    with PcapWriter(path, linktype=250) as w:
        w.write(rtac_record(5.0, 1, 0, b"hello"), 5.0)
        w.write(rtac_record(5.5, 9, 0), 5.5)
        w.write(rtac_record(6.0, 4, 0, b"ok"), 6.0)      # DATA_RX_END with bytes: still received data
    segs = list(open_capture(path))
    assert [(s.src, s.dst, s.meta["direction"], s.data) for s in segs if s.data] == [
        ("serial", "instrument", "out", b"hello"), ("serial", "instrument", "in", b"ok")]
    assert segs[1].meta["line"]["event"] == "break" and segs[1].meta["line"]["side"] == "line"


def test_hostile_interface_strings_and_short_records(tmp_path):
    path = tmp_path / "hostile.pcapng"
    with PcapngWriter(path, interfaces=[]) as w:
        w.add_interface(250, 6, name="\x1b[31mCOM1\x07" + "x" * 5000, description="serial line: \n\x00 | host")
        w.write(b"\x00" * 5, 1.0)                                     # shorter than the header
        w.write(rtac_record(2.0, 0, 0, b"unplugged\x1b[2J instrument: \x07bell" + b"z" * 500), 2.0)
        w.write(rtac_record(3.0, 1, 0, b"data"), 3.0)
    cap = open_capture(path)
    segs = list(cap)
    assert sum(cap.stats.unexamined.values()) == 1          # a short record is not examined, never lost silently
    assert len(segs[0].src) <= 256 and segs[0].src.startswith("[31mCOM1") and segs[0].src.isprintable()
    line = segs[0].meta["line"]
    assert line["event"].isprintable() and len(line["event"]) <= rtacserial.MAX_EVENT_NAME
    assert len(line.get("note", "")) <= rtacserial.MAX_NOTE and line.get("note", "").isprintable()
    assert segs[1].data == b"data" and segs[1].dst == "instrument"

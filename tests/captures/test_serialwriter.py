"""The serial recording writer: byte-exact records, one interface per line, flushed record by record."""

from __future__ import annotations

import struct

from sandbox.captures import open_capture
from sandbox.captures.pcapng import PcapngReader
from sandbox.captures.serialwriter import SerialRecording, line_bits, rtac_record
from sandbox.captures.source import Chunks


def test_records_are_byte_exact():
    assert rtac_record(1.25, 1, 0x05, b"ab") == struct.pack(">IIBBH", 1, 250000, 1, 5, 0) + b"ab"
    assert rtac_record(7.0000015, 9) == struct.pack(">IIBBH", 7, 2, 9, 0, 0)
    assert line_bits({"CTS", "DCD", "DSR", "RTS", "DTR", "RI"}) == 0x3F and line_bits({"MBOK"}) == 0


def test_every_record_is_on_disk_as_soon_as_it_is_written(tmp_path):
    path = tmp_path / "serial.pcapng"
    rec = SerialRecording(path)
    line = rec.add_line("/dev/a", "/dev/b", "9600 8N1", baud=9600)
    rec.data(line, "out", b"x" * 10, 1.0)
    with open(path, "rb") as f:                      # read while the writer still has it open
        reader = PcapngReader(Chunks(f))
        packets = [p for p in reader.packets() if p is not None]
        iface = reader.interfaces[0]
    assert len(packets) == 1 and packets[0].data.endswith(b"x" * 10)
    assert (iface.linktype, iface.name, iface.speed) == (250, "/dev/b", 9600)
    assert iface.description == "serial line: instrument /dev/a | host /dev/b | 9600 8N1"
    rec.data_lost(line, 5, "instrument", 2.0)
    rec.data_lost(line, 7, "instrument", 3.0)
    rec.close()
    cap = open_capture(path)
    assert len(list(cap)) == 3 and cap.stats.drops == 12

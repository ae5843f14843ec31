"""USB link types (usbmon 220, USBPcap 249) on real captures, with tshark as the oracle."""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest

from sandbox.captures import open_capture
from sandbox.captures.links import usbmon, usbpcap

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


def _tshark(path, display: str, field: str) -> list[str]:
    out = subprocess.run(["tshark", "-r", str(path), "-Y", display, "-T", "fields", "-e", field],
                         capture_output=True, text=True, check=True).stdout
    return [x for x in out.split() if x]


def test_usbmon_bulk_in_transfers_match_tshark(shared_data):
    path = shared_data / "captures" / "usb" / "km003c_usbmon_orig_adc_50hz.6.pcapng"
    segs = [s for s in open_capture(path) if (s.src, s.meta["endpoint"]) == ("3.5", 0x82)]
    expected = _tshark(path, 'usb.src=="3.5.2"', "usb.capdata")
    assert [s.data.hex() for s in segs] == [x.replace(":", "") for x in expected]
    assert {(s.channel, s.transport, s.dst, s.meta["direction"], s.meta["transfer"]) for s in segs} == {
        ("usb", "usb", "host", "in", "bulk")}


def test_usbmon_host_to_device_is_out(shared_data):
    path = shared_data / "captures" / "usb" / "km003c_usbmon_orig_adc_50hz.6.pcapng"
    outs = [s for s in open_capture(path) if s.meta["direction"] == "out" and s.meta["transfer"] == "bulk"]
    expected = _tshark(path, 'usb.dst=="3.6.1" && usb.capdata', "usb.capdata")
    assert [s.data.hex() for s in outs] == [x.replace(":", "") for x in expected]


def test_usbpcap_interrupt_in_matches_tshark(shared_data):
    path = shared_data / "captures" / "usb" / "usbmon-tools_usbpcap1_hid.pcapng"
    segs = [s for s in open_capture(path) if (s.src, s.meta["endpoint"], s.meta["transfer"]) == ("1.1", 0x81,
                                                                                                 "interrupt")]
    lengths = [int(x) for x in _tshark(path, 'usb.src=="1.1.1" && usb.data_len > 0', "usb.data_len")]
    assert [len(s.data) for s in segs] == lengths and len(segs) == 246


def test_short_usb_headers_raise_struct_error_that_the_capture_counts():
    with pytest.raises(struct.error):
        usbmon.segments(b"\0" * 10, 0.0, 1)
    with pytest.raises(struct.error):
        usbpcap.segments(b"\0" * 10, 0.0, 1)


def test_usbmon_48_and_64_byte_headers_round_trip(tmp_path):
    from sandbox.captures.writer import PcapWriter

    def header(urb: bytes, transfer: int, endpoint: int, data: bytes, mmapped: bool) -> bytes:
        h = usbmon.HEADER.pack(1, urb[0], transfer, endpoint, 7, 2, -1, 0, 0, 0, 0, len(data), len(data), b"\0" * 8)
        return h + (usbmon.MMAPPED_EXTRA.pack(0, 0, 0, 0) if mmapped else b"") + data

    for linktype, mmapped in ((189, False), (220, True)):
        path = tmp_path / f"{linktype}.pcap"
        with PcapWriter(path, linktype) as w:
            w.write(header(b"S", 3, 0x02, b"to device", mmapped), 1.0)
            w.write(header(b"C", 3, 0x81, b"from device", mmapped), 2.0)
            w.write(header(b"C", 3, 0x02, b"", mmapped), 3.0)         # completion of the OUT: no data
        segs = list(open_capture(path))
        assert [(s.src, s.sport, s.meta["endpoint"], s.meta["direction"], s.data) for s in segs] == [
            ("2.7", 0, 0x02, "out", b"to device"), ("2.7", 0, 0x81, "in", b"from device")]

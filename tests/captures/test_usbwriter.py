"""The usbmon and USBPcap writers write what the capture drivers write: tshark reads every field back
(URB type, transfer type, endpoint, address, bus, lengths, setup packet, USBPcap stages), a cut
transfer says its full length, and our own readers give the transfers back."""

from __future__ import annotations

import subprocess

from sandbox.captures import open_capture
from sandbox.captures.usbwriter import BULK, INTERRUPT, UsbmonWriter, UsbPcapWriter, setup, string_descriptor


def fields(path, *names: str) -> list[list[str]]:
    argv = ["tshark", "-r", str(path), "-T", "fields", "-E", "separator=|"]
    for name in names:
        argv += ["-e", name]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return [line.split("|") for line in out.splitlines()]


def test_usbmon_records_field_by_field(tmp_path):
    path = tmp_path / "sbx-usb-writer.pcapng"
    with UsbmonWriter(path, capture_limit=100) as w:
        w.control(3, 7, setup(0x80, 0x06, 0x0302, 0x0409, 255), 1.0, data_in=string_descriptor("Ultra"))
        w.bulk(3, 7, 0x02, b"o" * 300, 2.0)
        w.bulk(3, 7, 0x81, b"i" * 10, 3.0, requested=512)
        w.bulk(3, 7, 0x83, b"\x01\x02", 4.0, transfer=INTERRUPT)
    rows = fields(path, "usb.urb_type", "usb.transfer_type", "usb.endpoint_address", "usb.device_address",
                  "usb.bus_id", "usb.urb_len", "usb.data_len", "usb.setup.bRequest", "usb.DescriptorIndex", "usb.bDescriptorType",
                  "usb.LanguageId", "usb.setup.wLength")
    assert [r[:7] for r in rows] == [
        ["'S'", "0x02", "0x80", "7", "3", "255", "0"], ["'C'", "0x02", "0x80", "7", "3", "12", "12"],
        ["'S'", "0x03", "0x02", "7", "3", "300", "100"], ["'C'", "0x03", "0x02", "7", "3", "300", "0"],
        ["'S'", "0x03", "0x81", "7", "3", "512", "0"], ["'C'", "0x03", "0x81", "7", "3", "10", "10"],
        ["'S'", "0x01", "0x83", "7", "3", "2", "0"], ["'C'", "0x01", "0x83", "7", "3", "2", "2"]]
    assert rows[0][7:] == ["6", "0x02", "0x03", "0x0409", "255"]
    segs = list(open_capture(path))
    cut = next(s for s in segs if s.meta["endpoint"] == 0x02)
    assert (len(cut.data), cut.meta["length"]) == (100, 300)


def test_usbpcap_records_field_by_field(tmp_path):
    path = tmp_path / "sbx-usb-writer-usbpcap.pcapng"
    with UsbPcapWriter(path) as w:
        w.control(1, 4, setup(0x21, 0x20, 0, 0, 7), 1.0, data_out=bytes(7))
        w.bulk(1, 4, 0x02, b"o" * 64, 2.0, transfer=BULK)
    rows = fields(path, "usb.irp_info.direction", "usb.function", "usb.bus_id", "usb.device_address",
                  "usb.endpoint_address", "usb.transfer_type", "usb.data_len", "usb.control_stage")
    assert rows == [["0x00", "0x0008", "1", "4", "0x00", "0x02", "8", "0"],      # setup stage
                    ["0x00", "0x0008", "1", "4", "0x00", "0x02", "7", "1"],      # OUT data stage
                    ["0x01", "0x0008", "1", "4", "0x00", "0x02", "0", "3"],      # completion
                    ["0x00", "0x0009", "1", "4", "0x02", "0x03", "64", ""], ["0x01", "0x0009", "1", "4", "0x02", "0x03", "0", ""]]
    outs = [s for s in open_capture(path) if s.meta["direction"] == "out" and s.data]
    assert [(s.meta["transfer"], s.data) for s in outs] == [("control", bytes(7)), ("bulk", b"o" * 64)]

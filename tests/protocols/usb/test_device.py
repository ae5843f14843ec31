"""The device parser: who each device is (from the descriptors in the capture, tshark as the oracle on
real captures), which function gets which interface, and a new storage, network or serial device
as a finding of its own; descriptors are the device's hostile words."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sandbox.captures import open_capture
from sandbox.model import Observation, Payload
from sandbox.protocols import Dissector
from sandbox.protocols.usb.device import USB_DEVICE
from sandbox.simulate.usb import (
    Device,
    UsbBench,
    configuration,
    device_descriptor,
    endpoint,
    interface,
    keyboard,
    open_writer,
    serial_adapter,
    stick,
)

REAL = sorted((Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "captures" / "usb").glob("*.pcap*"))


def dissect(path: Path) -> tuple[Dissector, list]:
    dissector, items = Dissector(), []
    for seg in open_capture(path):
        items += dissector.feed(seg)
    items += dissector.close()
    return dissector, items


def _tshark_devices(path: Path) -> dict[str, tuple[int, int]]:
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "usb.idVendor", "-T", "fields", "-e", "usb.bus_id",
                          "-e", "usb.device_address", "-e", "usb.idVendor", "-e", "usb.idProduct"],
                         capture_output=True, text=True, check=True).stdout
    return {f"{int(b)}.{int(d)}": (int(v, 16), int(p, 16)) for b, d, v, p in (ln.split("\t") for ln in out.splitlines())}


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_every_real_capture_reads_without_error_with_its_devices_named(path):
    dissector, _ = dissect(path)
    flows = {info.dst: info for info in dissector.flows.values()}
    assert flows and all(not info.errors for info in flows.values())
    expected = _tshark_devices(path)
    assert expected, "every real capture here shows at least one device descriptor"
    for address, (vid, pid) in expected.items():
        info = flows[address]
        assert (info.meta["vid"], info.meta["pid"]) == (vid, pid)
        assert info.destination.startswith(f"usb {address} {vid:04x}:{pid:04x}")
    for info in flows.values():
        assert info.destination.startswith(f"usb {info.dst}") and info.meta.get("usb_class", "") != ""


def test_a_composite_device_names_each_interface_by_its_decoder(shared_data):
    dissector, _ = dissect(shared_data / "captures" / "usb" / "km003c_usbmon_orig_open_close.16.pcapng")
    info = next(i for i in dissector.flows.values() if i.meta.get("vid") == 0x5FC9)
    assert info.destination == "usb 3.16 5fc9:0063 POWER-Z KM003C"
    assert (info.meta["manufacturer"], info.meta["serial"]) == ("ChargerLab", "007965")
    assert info.meta["usb_class"] == "vendor, cdc-acm, hid"


def _plugged(tmp_path: Path, device: Device, enumerate_address: bool = True) -> list:
    capture = tmp_path / "sbx-usb-device.pcapng"
    with open_writer(capture) as w:
        UsbBench(w).plug(device, enumerate_address=enumerate_address)
    return dissect(capture)[1]


@pytest.mark.parametrize(("device", "path"), [(stick(), "mass-storage"), (serial_adapter(), "serial")],
                         ids=["stick", "serial"])
def test_a_storage_or_serial_device_appearing_is_a_finding(device, path, tmp_path):
    (found,) = [i for i in _plugged(tmp_path, device) if isinstance(i, Observation) and i.kind == USB_DEVICE]
    assert found.severity == "medium" and found.detail["paths"] == [path]
    assert found.chain == ("usb 1.2", "new device") and found.detail["vid_pid"] == device.descriptor[8:12][::-1].hex()[
        4:] + ":" + device.descriptor[8:12][::-1].hex()[:4]


def test_a_keyboard_appearing_or_a_stick_already_there_is_not(tmp_path):
    assert not [i for i in _plugged(tmp_path, keyboard()) if isinstance(i, Observation)]
    assert not [i for i in _plugged(tmp_path, stick(), enumerate_address=False) if isinstance(i, Observation)]


def test_hostile_descriptors_are_made_safe_and_bounded(tmp_path):
    body = interface(0, 0x08, 0x06, 0x50, 2) + endpoint(0x81, 2) + endpoint(0x02, 2)
    evil = Device("evil", device_descriptor(0x1234, 0x5678), configuration(body, 1),
                  {1: "\x1b[31mred\x1b[0m", 2: "ACGT" * 30 + "\u202e", 3: "x" * 120})
    items = _plugged(tmp_path, evil)
    (found,) = [i for i in items if isinstance(i, Observation)]
    for text in (found.detail["manufacturer"], found.detail["product"]):
        assert "\x1b" not in text and "\u202e" not in text
    assert not [i for i in items if isinstance(i, Payload)]


def test_garbage_configuration_descriptors_do_not_stop_the_device(tmp_path):
    capture = tmp_path / "sbx-usb-garbage.pcapng"
    with open_writer(capture) as w:
        bench = UsbBench(w)
        dev = Device("junk", device_descriptor(0xFFFF, 0xFFFF), b"\x09\x02\xff\xff\x05" + bytes(range(250)), {})
        bench.plug(dev)
        bench.bulk(dev, 0x02, b"sbx payload bytes")
    dissector, items = dissect(capture)
    assert b"sbx payload bytes" in b"".join(i.data for i in items if isinstance(i, Payload))

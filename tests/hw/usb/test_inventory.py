"""The devices present at session start, written as the descriptor transfers that fetched them: the
core names them, tshark reads them, and none is a new device.  Both inventories (``Inventory``) are
held to one conformance test: pyusb, through its real core (find, get_descriptor, get_string) over
a backend serving the descriptors of the devices in the real captures (the only fake: this kernel
has no USB bus), writes the same recording as sysfs does for the same devices."""

from __future__ import annotations

import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
import usb.backend
import usb.core

from hw.usb.inventory import PyusbInventory, SysfsInventory, inventory_for, write_inventory
from sandbox.captures import open_capture
from sandbox.captures.usbwriter import UsbmonWriter, string_descriptor
from sandbox.model import Observation
from sandbox.protocols import Dissector
from sandbox.simulate.usb import Device, serial_adapter, stick

CAPTURES = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "captures" / "usb"
LANGIDS = b"\x04\x03\x09\x04"          # string 0: en-US
DEVICE_FIELDS = ("bLength", "bDescriptorType", "bcdUSB", "bDeviceClass", "bDeviceSubClass", "bDeviceProtocol",
                 "bMaxPacketSize0", "idVendor", "idProduct", "bcdDevice", "iManufacturer", "iProduct",
                 "iSerialNumber", "bNumConfigurations")
EPIPE = 32


@dataclass
class Served:
    """What one device answers to GET_DESCRIPTOR."""

    device: bytes
    configs: dict[int, bytes] = field(default_factory=dict)
    strings: dict[int, bytes] = field(default_factory=dict)     # by index; 0 holds the language ids


def harvest(*captures: Path) -> dict[tuple[int, int], Served]:
    """Every descriptor a device sent in real captures (the longest answer to each request)."""
    pending, found = {}, {}
    for path in captures:
        for seg in open_capture(path):
            meta = seg.meta or {}
            if meta.get("transfer") != "control":
                continue
            if isinstance(meta.get("setup"), bytes):
                pending[meta["urb_id"]] = meta["setup"]
                continue
            rtype, request, value = struct.unpack_from("<BBH", pending.pop(meta.get("urb_id"), bytes(8)))
            if rtype != 0x80 or request != 6 or not seg.data:
                continue
            bus, address = map(int, seg.src.split("."))
            kind, index = value >> 8, value & 0xFF
            if kind == 1 and len(seg.data) == 18:
                found.setdefault((bus, address), Served(seg.data))
            served = found.get((bus, address))
            table = {2: served.configs, 3: served.strings}.get(kind) if served else None
            if table is not None and len(seg.data) > len(table.get(index, b"")):
                table[index] = seg.data
    return found


class CapturedBus(usb.backend.IBackend):
    """A pyusb backend whose devices answer with what they answered in the captures."""

    def __init__(self, devices: dict[tuple[int, int], Served]) -> None:
        super().__init__()
        self.devices = devices

    def enumerate_devices(self):
        yield from self.devices

    def get_device_descriptor(self, dev):
        fields = struct.unpack("<BBHBBBBHHHBBBB", self.devices[dev].device)
        return SimpleNamespace(**dict(zip(DEVICE_FIELDS, fields, strict=True)), bus=dev[0], address=dev[1], port_number=None,
                               port_numbers=None, speed=None)

    def open_device(self, dev):
        return dev

    def close_device(self, dev_handle):
        pass

    def ctrl_transfer(self, dev_handle, bmRequestType, bRequest, wValue, wIndex, data, timeout):
        served = self.devices[dev_handle]
        kind, index = wValue >> 8, wValue & 0xFF
        answer = {1: {0: served.device}, 2: served.configs, 3: served.strings}.get(kind, {}).get(index)
        if bmRequestType != 0x80 or bRequest != 6 or answer is None:
            raise usb.core.USBError("Pipe error", errno=EPIPE)      # a stall, as a device answers what it lacks
        n = min(len(answer), len(data))
        data[:n] = type(data)(data.typecode, answer[:n])
        return n


def sysfs_tree(root: Path, devices: dict[tuple[int, int], Served]) -> Path:
    """The folders the kernel would keep for the same devices."""
    for (bus, address), served in devices.items():
        d = root / f"{bus}-{address}"
        d.mkdir(parents=True)
        (d / "busnum").write_text(f"{bus}\n")
        (d / "devnum").write_text(f"{address}\n")
        (d / "descriptors").write_bytes(served.device + b"".join(served.configs[n] for n in sorted(served.configs)))
        for key, index in zip(("manufacturer", "product", "serial"), served.device[14:17], strict=True):
            if index and index in served.strings:
                raw = served.strings[index]
                (d / key).write_text(raw[2:raw[0]].decode("utf-16-le") + "\n")
    (root / "1-1:1.0").mkdir(exist_ok=True)          # an interface, not a device
    (root / "usb9").mkdir(exist_ok=True)             # a root hub without descriptors here: skipped
    return root


def served(dev: Device) -> Served:
    """A simulated device's answers."""
    return Served(dev.descriptor, {0: dev.config}, {0: LANGIDS, **{i: string_descriptor(s) for i, s in dev.strings.items()}})


def simulated() -> dict[tuple[int, int], Served]:
    return {(1, 4): served(stick()), (2, 7): served(serial_adapter())}


def both(tmp_path: Path, devices: dict[tuple[int, int], Served]) -> list:
    return [SysfsInventory(sysfs_tree(tmp_path / "devices", devices)), PyusbInventory(CapturedBus(devices))]


def dissect(path: Path) -> tuple[Dissector, list]:
    dissector, items = Dissector(), []
    for seg in open_capture(path):
        items += dissector.feed(seg)
    return dissector, items + dissector.close()


def test_the_captures_hold_devices_with_and_without_their_configuration():
    devices = harvest(*sorted(CAPTURES.glob("*usbmon*.pcapng")))
    assert set(devices) == {(1, 1), (1, 2), (3, 6), (3, 16)}
    assert devices[(3, 6)].configs and len(devices[(3, 6)].strings) >= 3
    assert not devices[(1, 2)].configs


def test_inventory_pyusb_and_sysfs_record_the_same_real_devices(tmp_path):
    devices = harvest(*sorted(CAPTURES.glob("*usbmon*.pcapng")))
    sysfs, pyusb = both(tmp_path, devices)
    listed = [inv.devices() for inv in (sysfs, pyusb)]
    assert listed[0] == listed[1]
    assert [(d.bus, d.address) for d in listed[0]] == [(1, 1), (1, 2), (3, 6), (3, 16)]
    km003c = listed[0][2]
    assert len(km003c.configurations()) == 1 and set(km003c.strings) == {"manufacturer", "product", "serial"}
    # the devices whose configuration the captures lack answer with a stall: said, not hidden
    assert pyusb.notes and all("not read" in n for n in pyusb.notes) and not sysfs.notes
    paths = [tmp_path / f"sbx-usb2-{inv.name}.pcapng" for inv in (sysfs, pyusb)]
    for path, found in zip(paths, listed, strict=True):
        with UsbmonWriter(path) as w:
            write_inventory(w, found, 1000.0)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    dissector, items = dissect(paths[1])
    named = {info.destination for info in dissector.flows.values()}
    assert any(n.startswith(f"usb 3.6 {km003c.descriptors[9]:02x}{km003c.descriptors[8]:02x}:") for n in named)
    assert not [i for i in items if isinstance(i, Observation)]


@pytest.mark.parametrize("which", ["sysfs", "pyusb"])
def test_inventory_devices_present_at_start_are_named_and_not_new(tmp_path, which):
    inventory = {inv.name: inv for inv in both(tmp_path, simulated())}[which]
    devices = inventory.devices()
    assert [(d.bus, d.address) for d in devices] == [(1, 4), (2, 7)]
    assert [(d.bus, d.address) for d in inventory.devices(bus=2)] == [(2, 7)]
    path = tmp_path / "sbx-usb2-inventory.pcapng"
    with UsbmonWriter(path) as w:
        write_inventory(w, devices, 1000.0)
    dissector, items = dissect(path)
    named = sorted(info.destination for info in dissector.flows.values())
    assert named == ["usb 1.4 0781:5583 Ultra Fit", "usb 2.7 2341:0043 USB Serial"]
    assert {info.meta["usb_class"] for info in dissector.flows.values()} == {"msc", "cdc-acm"}
    assert not [i for i in items if isinstance(i, Observation)]
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "usb.iProduct || usb.bString", "-T", "fields",
                          "-e", "usb.bString"], capture_output=True, text=True, check=True).stdout
    assert "Ultra Fit" in out and "USB Serial" in out


def test_inventory_hostile_answers_are_bounded(tmp_path):
    """A device that claims 255 configurations of 65535 bytes and a string that is not UTF-16."""
    device = bytearray(stick().descriptor)
    device[17] = 255
    huge = b"\x09\x02\xff\xff\x01\x01\x00\x80\x32" + bytes(70000)
    devices = {(1, 5): Served(bytes(device), {n: huge for n in range(255)}, {0: LANGIDS, 2: b"\x05\x03\x00\xd8\x00"})}
    pyusb = PyusbInventory(CapturedBus(devices))
    (dev,) = pyusb.devices()
    assert len(dev.configurations()) == 8 and len(dev.descriptors) <= 18 + 8 * (64 << 10)
    assert "product" not in dev.strings


def test_inventory_unreadable_or_hostile_sysfs_entries_are_skipped(tmp_path):
    root = tmp_path / "devices"
    (root / "1-2").mkdir(parents=True)
    (root / "1-2" / "busnum").write_text("1\n")
    (root / "1-2" / "devnum").write_text("x\n")
    (root / "1-2" / "descriptors").write_bytes(bytes(18))
    (root / "1-3").mkdir()
    (root / "1-3" / "busnum").write_text("1\n")
    (root / "1-3" / "devnum").write_text("3\n")
    (root / "1-3" / "descriptors").write_bytes(b"\x12\x01" + bytes(16) + b"\x09\x02\x00\x00")   # config of 0
    devices = SysfsInventory(root).devices()
    assert [(d.address, d.configurations()) for d in devices] == [(3, [])]


def test_inventory_without_a_usb_bus_is_sysfs_and_says_why(tmp_path):
    inventory, line = inventory_for(tmp_path)
    assert isinstance(inventory, SysfsInventory) and inventory.devices() == []
    assert line.startswith("usb inventory: from sysfs (") and ("missing" in line or "libusb" in line)

"""The devices present at session start, from sysfs (a fake tree here: this kernel has no USB),
written as the descriptor transfers that fetched them: the core names them, tshark reads them,
and none is a new device."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hw.usb.inventory import read_inventory, write_inventory
from sandbox.captures import open_capture
from sandbox.model import Observation
from sandbox.protocols import Dissector
from sandbox.simulate.usb import Device, serial_adapter, stick


def _sysfs(tmp_path: Path, devices: dict[str, tuple[int, int, Device]]) -> Path:
    root = tmp_path / "devices"
    for name, (bus, address, dev) in devices.items():
        d = root / name
        d.mkdir(parents=True)
        (d / "busnum").write_text(f"{bus}\n")
        (d / "devnum").write_text(f"{address}\n")
        (d / "descriptors").write_bytes(dev.descriptor + dev.config)
        for key, index in (("manufacturer", 1), ("product", 2), ("serial", 3)):
            if dev.strings.get(index):
                (d / key).write_text(dev.strings[index] + "\n")
    (root / "1-1:1.0").mkdir()          # an interface, not a device
    (root / "usb1").mkdir()             # a root hub without descriptors here: skipped
    return root


def test_devices_present_at_start_are_named_and_not_new(tmp_path):
    root = _sysfs(tmp_path, {"1-1": (1, 4, stick()), "2-3": (2, 7, serial_adapter())})
    devices = read_inventory(root)
    assert [(d.bus, d.address) for d in devices] == [(1, 4), (2, 7)]
    assert [(d.bus, d.address) for d in read_inventory(root, bus=2)] == [(2, 7)]
    path = tmp_path / "sbx-usb-inventory.pcapng"
    write_inventory(path, devices, 1000.0)
    dissector, items = Dissector(), []
    for seg in open_capture(path):
        items += dissector.feed(seg)
    items += dissector.close()
    named = sorted(info.destination for info in dissector.flows.values())
    assert named == ["usb 1.4 0781:5583 Ultra Fit", "usb 2.7 2341:0043 USB Serial"]
    assert {info.meta["usb_class"] for info in dissector.flows.values()} == {"msc", "cdc-acm"}
    assert not [i for i in items if isinstance(i, Observation)]
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "usb.iProduct || usb.bString", "-T", "fields",
                          "-e", "usb.bString"], capture_output=True, text=True, check=True).stdout
    assert "Ultra Fit" in out and "USB Serial" in out


def test_unreadable_or_hostile_entries_are_skipped(tmp_path):
    root = tmp_path / "devices"
    (root / "1-2").mkdir(parents=True)
    (root / "1-2" / "busnum").write_text("1\n")
    (root / "1-2" / "devnum").write_text("x\n")
    (root / "1-2" / "descriptors").write_bytes(bytes(18))
    (root / "1-3").mkdir()
    (root / "1-3" / "busnum").write_text("1\n")
    (root / "1-3" / "devnum").write_text("3\n")
    (root / "1-3" / "descriptors").write_bytes(b"\x12\x01" + bytes(16) + b"\x09\x02\x00\x00")   # config of 0
    (devices,) = [read_inventory(root)]
    assert [(d.address, d.configurations()) for d in devices] == [(3, [])]

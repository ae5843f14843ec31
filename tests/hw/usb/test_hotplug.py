"""Hot-plug: the handler the pyudev monitor calls, fed uevents of devices whose sysfs folders hold
real descriptors (this kernel has no USB bus to plug into), and the monitor itself on a real kernel
uevent of another subsystem."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from hw.usb.hotplug import MAX_EVENTS, HotPlug, watch_hotplug
from sandbox.captures import open_capture
from sandbox.captures.usbwriter import UsbmonWriter
from sandbox.model import Observation
from sandbox.protocols import Dissector
from sandbox.simulate.usb import keyboard, stick
from tests.hw.usb.test_inventory import served, sysfs_tree


def _event(action: str, path: Path, bus: int, address: int, device_type: str = "usb_device"):
    """What pyudev hands the callback: a Device with its uevent's action and properties."""
    return SimpleNamespace(action=action, sys_path=str(path), subsystem="usb", device_type=device_type,
                           properties={"ACTION": action, "BUSNUM": f"{bus:03d}", "DEVNUM": f"{address:03d}"})


def test_hotplug_a_new_stick_is_a_usb_device_finding_and_a_keyboard_is_not(tmp_path):
    root = sysfs_tree(tmp_path / "sys", {(1, 9): served(stick()), (1, 10): served(keyboard())})
    stick_dir, keyboard_dir = root / "1-9", root / "1-10"
    recording, log = tmp_path / "sbx-usb2-inventory.pcapng", tmp_path / "usb-hotplug.log"
    clock = iter(float(t) for t in range(1000, 1100))
    with UsbmonWriter(recording) as writer:
        hotplug = HotPlug(writer, log, clock=lambda: next(clock))
        hotplug(_event("add", stick_dir, 1, 9))
        hotplug(_event("add", stick_dir / "1-9:1.0", 1, 9, device_type="usb_interface"))   # not a device
        hotplug(_event("bind", stick_dir, 1, 9))
        hotplug(_event("add", keyboard_dir, 1, 10))
        hotplug(_event("remove", stick_dir, 1, 9))
        hotplug(_event("add", tmp_path / "gone", 1, 11))          # pulled out before it was read
        hotplug.close()
    dissector, items = Dissector(), []
    for seg in open_capture(recording):
        items += dissector.feed(seg)
    items += dissector.close()
    found = [i for i in items if isinstance(i, Observation)]
    assert [(f.kind, f.flow) for f in found] == [("usb-device", "usb host > 1.9")]
    assert log.read_text().splitlines() == [
        "1000.000000 add usb 1.9 0781:5583",
        "1001.000000 add usb 1.10 046d:c31c",
        "1002.000000 remove usb 1.9",
        "1003.000000 add usb 1.11 (descriptors not readable: only usbmon saw it)"]


def test_hotplug_other_buses_are_not_ours_and_a_flapping_device_is_bounded(tmp_path):
    d = sysfs_tree(tmp_path / "sys", {(2, 4): served(stick())}) / "2-4"
    with UsbmonWriter(tmp_path / "sbx-usb2-inventory.pcapng") as writer:
        hotplug = HotPlug(writer, tmp_path / "log", bus=1, clock=lambda: 1.0)
        hotplug(_event("add", d, 2, 4))
        assert hotplug.events == 0
        hotplug.bus = 2
        for _ in range(MAX_EVENTS + 5):
            hotplug(_event("remove", d, 2, 4))
        hotplug.close()
    lines = (tmp_path / "log").read_text().splitlines()
    assert len(lines) == MAX_EVENTS + 1 and lines[-1].startswith("5 more events not written")


def test_hotplug_monitor_delivers_the_kernel_uevents(tmp_path):
    """A real uevent (the loopback interface's ``change``) reaches the handler through pyudev's
    monitor; USB ones would too, but this kernel has no USB to send them."""
    trigger = Path("/sys/class/net/lo/uevent")
    got, seen = threading.Event(), []

    def handler(device) -> None:
        seen.append((device.action, device.subsystem))
        got.set()

    observer, line = watch_hotplug(handler)
    if observer is None:
        pytest.skip(line)
    try:
        try:
            trigger.write_text("change")
        except OSError as exc:
            pytest.skip(f"cannot make a uevent here: {exc}")
        assert got.wait(60)
    finally:
        observer.stop()
    assert ("change", "net") in seen and line == "usb hot-plug: watched (pyudev, kernel uevents)"

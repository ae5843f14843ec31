"""USB devices plugged in or pulled out while the session runs (pyudev on the kernel's uevents).

Each added device is read from sysfs (its descriptors and strings are there once the kernel emits
the event) and appended to the inventory recording as its enumeration: SET_ADDRESS on the default
address, then the descriptors, so the core calls a new mass-storage, network or serial device a
``usb-device`` finding and a replay of the folder sees the same.  usbmon records the real
enumeration too; the core announces a device once.  Every add and remove is also one line of
``usb-hotplug.log`` (removals leave nothing else behind: the device's transfers just stop).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from hw.usb.inventory import read_sysfs_device, write_device
from sandbox.captures.usbwriter import UsbmonWriter

HOTPLUG_LOG = "usb-hotplug.log"
# Events written in one session: a device that flaps thousands of times is a fault, not a bench.
MAX_EVENTS = 10_000


class UdevDevice(Protocol):
    """What the handler reads of a ``pyudev.Device``."""

    action: str | None
    sys_path: str
    subsystem: str
    device_type: str | None
    properties: Mapping[str, str]


class HotPlug:
    """The handler the monitor calls with each uevent of subsystem usb (and the tests call directly)."""

    def __init__(self, writer: UsbmonWriter, log: Path, bus: int | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.writer = writer
        self.log = open(log, "a", encoding="utf-8")
        self.bus = bus
        self.clock = clock
        self.events = 0
        self.dropped = 0

    def __call__(self, device: UdevDevice) -> None:
        if device.subsystem != "usb" or device.device_type != "usb_device" or device.action not in ("add", "remove"):
            return                                  # interfaces, bind/unbind, change: not a device coming or going
        if self.events >= MAX_EVENTS:
            self.dropped += 1
            return
        t = self.clock()
        props = device.properties
        busnum, devnum = props.get("BUSNUM", ""), props.get("DEVNUM", "")
        if not (busnum.isdigit() and devnum.isdigit()) or (self.bus is not None and int(busnum) != self.bus):
            return
        self.events += 1
        what = ""
        if device.action == "add":
            dev = read_sysfs_device(Path(device.sys_path))
            if dev is None:
                what = " (descriptors not readable: only usbmon saw it)"
            else:
                write_device(self.writer, dev, t, enumerated=True)
                self.writer.flush()
                what = " {:04x}:{:04x}".format(*struct.unpack_from("<HH", dev.descriptors, 8))
        self.log.write(f"{t:.6f} {device.action} usb {int(busnum)}.{int(devnum)}{what}\n")
        self.log.flush()

    def close(self) -> None:
        if self.dropped:
            self.log.write(f"{self.dropped} more events not written (at most {MAX_EVENTS})\n")
        self.log.close()


def watch_hotplug(handler: Callable[[Any], None]) -> tuple[Any, str]:
    """A running pyudev observer calling ``handler`` with each usb uevent, or None, and one line saying so."""
    try:
        import pyudev
        monitor = pyudev.Monitor.from_netlink(pyudev.Context(), source="kernel")
        monitor.start()
    except (ImportError, OSError, ValueError) as exc:
        return None, f"usb hot-plug: not watched ({exc}); devices plugged in show only in usb.pcapng"
    observer = pyudev.MonitorObserver(monitor, callback=handler, name="sbx-usb-hotplug", daemon=True)
    observer.start()
    return observer, "usb hot-plug: watched (pyudev, kernel uevents)"

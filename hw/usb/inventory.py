"""The devices already on the instrument's USB buses when the session starts, written as a recording.

A device enumerated before capture began shows no descriptors in the usbmon capture; the kernel
keeps them in sysfs (``/sys/bus/usb/devices/B-P/descriptors``: the device descriptor and every
configuration, as the device sent them; ``manufacturer``, ``product``, ``serial``).  They are written
to ``usb-inventory.pcapng`` as the GET_DESCRIPTOR transfers that fetched them (no SET_ADDRESS: they
did not appear during the session), so a live session and a replay of its folder name the same
devices.  Devices plugged in later enumerate on the bus, in the capture itself.  This is what pyusb
would list (libusb reads the same files), without the dependency.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from sandbox.captures.usbwriter import UsbmonWriter, setup, string_descriptor

INVENTORY = "usb-inventory.pcapng"
# Bytes read of a sysfs descriptors file: a device and a few configurations; more is not a device.
MAX_DESCRIPTORS = 64 << 10
# Devices listed: a bench PC has a few dozen at most.
MAX_DEVICES = 256
DEVICE_DESCRIPTOR = 18
GET_DESCRIPTOR, LANGID_EN_US = 0x06, 0x0409


@dataclass
class SysDevice:
    """One device as sysfs describes it."""

    bus: int
    address: int
    descriptors: bytes            # the device descriptor, then the configuration descriptors
    strings: dict[str, str]       # manufacturer, product, serial

    def configurations(self) -> list[bytes]:
        """Each configuration descriptor set, cut by its own wTotalLength."""
        out, data, at = [], self.descriptors, DEVICE_DESCRIPTOR
        while at + 4 <= len(data) and data[at + 1] == 2:
            total = struct.unpack_from("<H", data, at + 2)[0]
            if total < 9:
                break
            out.append(data[at:at + total])
            at += total
        return out


def _text(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip()[:126]
    except OSError:
        return None


def read_inventory(devices: Path, bus: int | None = None) -> list[SysDevice]:
    """Every device sysfs lists under ``devices`` (``/sys/bus/usb/devices``), on ``bus`` or all."""
    found = []
    for entry in sorted(devices.iterdir()) if devices.is_dir() else []:
        if ":" in entry.name or len(found) >= MAX_DEVICES:     # interfaces (1-1:1.0) are not devices
            continue
        busnum, devnum = _text(entry / "busnum"), _text(entry / "devnum")
        try:
            with open(entry / "descriptors", "rb") as f:
                descriptors = f.read(MAX_DESCRIPTORS)
        except OSError:
            continue
        if not (busnum and devnum and busnum.isdigit() and devnum.isdigit()) or len(descriptors) < DEVICE_DESCRIPTOR:
            continue
        if bus is not None and int(busnum) != bus:
            continue
        strings = {k: v for k in ("manufacturer", "product", "serial") if (v := _text(entry / k))}
        found.append(SysDevice(int(busnum), int(devnum), descriptors, strings))
    return found


def write_inventory(path: Path, devices: list[SysDevice], t: float) -> None:
    """The GET_DESCRIPTOR transfers that would have fetched what sysfs holds, at time ``t``."""
    with UsbmonWriter(path) as w:
        for dev in devices:
            device = dev.descriptors[:DEVICE_DESCRIPTOR]
            w.control(dev.bus, dev.address, setup(0x80, GET_DESCRIPTOR, 0x0100, 0, DEVICE_DESCRIPTOR), t,
                      data_in=device)
            for n, config in enumerate(dev.configurations()):
                w.control(dev.bus, dev.address, setup(0x80, GET_DESCRIPTOR, 0x0200 | n, 0, len(config)), t,
                          data_in=config)
            indexes = {"manufacturer": device[14], "product": device[15], "serial": device[16]}
            for key, index in indexes.items():
                if index and key in dev.strings:
                    w.control(dev.bus, dev.address, setup(0x80, GET_DESCRIPTOR, 0x0300 | index, LANGID_EN_US, 255),
                              t, data_in=string_descriptor(dev.strings[key]))

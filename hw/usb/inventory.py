"""The devices on the instrument's USB buses, written as a recording: those present when the session
starts, and (``hw.usb.hotplug``) those plugged in while it runs.

A device enumerated before capture began shows no descriptors in the usbmon capture.  The inventory
reads them (``Inventory``: pyusb over libusb where the machine has both, else sysfs, which keeps the
device descriptor and every configuration as the device sent them, and the manufacturer, product and
serial strings) and writes them to ``usb-inventory.pcapng`` as the GET_DESCRIPTOR transfers that
fetched them (no SET_ADDRESS: they did not appear during the session), so a live session and a
replay of its folder name the same devices.  Both readers give the same recording for the same
devices (tests/hw/usb/test_inventory.py).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sandbox.captures.usbwriter import UsbmonWriter, setup, string_descriptor

INVENTORY = "usb-inventory.pcapng"
# Bytes read of a device's descriptors: a device and a few configurations; more is not a device.
MAX_DESCRIPTORS = 64 << 10
# Devices listed: a bench PC has a few dozen at most.
MAX_DEVICES = 256
# Configurations read of one device (bNumConfigurations is the device's word; real ones have 1-2).
MAX_CONFIGURATIONS = 8
# Characters kept of a string descriptor: its most (126 UTF-16 units).
MAX_STRING = 126
DEVICE_DESCRIPTOR, CONFIG_HEADER = 18, 9
DT_DEVICE, DT_CONFIG = 1, 2
GET_DESCRIPTOR, SET_ADDRESS, SET_CONFIGURATION, LANGID_EN_US = 0x06, 0x05, 0x09, 0x0409
STRINGS = ("manufacturer", "product", "serial")   # sysfs names, in the device descriptor's index order


@dataclass
class PresentDevice:
    """One device as the machine describes it."""

    bus: int
    address: int
    descriptors: bytes            # the device descriptor, then the configuration descriptors
    strings: dict[str, str]       # manufacturer, product, serial (what could be read)

    def configurations(self) -> list[bytes]:
        """Each configuration descriptor set, cut by its own wTotalLength."""
        out, data, at = [], self.descriptors, DEVICE_DESCRIPTOR
        while at + 4 <= len(data) and data[at + 1] == DT_CONFIG:
            total = struct.unpack_from("<H", data, at + 2)[0]
            if total < CONFIG_HEADER:
                break
            out.append(data[at:at + total])
            at += total
        return out


class Inventory(Protocol):
    """A way to list the devices on the machine's USB buses."""

    name: str
    notes: list[str]      # what it could not read, one line each

    def devices(self, bus: int | None = None) -> list[PresentDevice]:
        """Every device on ``bus`` (all buses when None), by bus and address, at most ``MAX_DEVICES``."""


def _clean(text: str | None) -> str | None:
    """A string as sysfs shows it (the kernel's copy, one line): both readers keep the same."""
    return text.strip()[:MAX_STRING] if text is not None else None


def _text(path: Path) -> str | None:
    try:
        return _clean(path.read_text(errors="replace"))
    except OSError:
        return None


def read_sysfs_device(entry: Path) -> PresentDevice | None:
    """The device of one sysfs folder (``/sys/bus/usb/devices/1-4``), None when it is not one."""
    busnum, devnum = _text(entry / "busnum"), _text(entry / "devnum")
    try:
        with open(entry / "descriptors", "rb") as f:
            descriptors = f.read(MAX_DESCRIPTORS)
    except OSError:
        return None
    if not (busnum and devnum and busnum.isdigit() and devnum.isdigit()) or len(descriptors) < DEVICE_DESCRIPTOR:
        return None
    strings = {k: v for k in STRINGS if (v := _text(entry / k))}
    return PresentDevice(int(busnum), int(devnum), descriptors, strings)


class SysfsInventory:
    """What the kernel keeps of each device under ``/sys/bus/usb/devices`` (no library needed)."""

    name = "sysfs"

    def __init__(self, devices: Path) -> None:
        self.root = devices
        self.notes: list[str] = []

    def devices(self, bus: int | None = None) -> list[PresentDevice]:
        found = []
        for entry in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            if ":" in entry.name or len(found) >= MAX_DEVICES:     # interfaces (1-1:1.0) are not devices
                continue
            dev = read_sysfs_device(entry)
            if dev is not None and (bus is None or dev.bus == bus):
                found.append(dev)
        return sorted(found, key=lambda d: (d.bus, d.address))


def _device_descriptor(dev: Any) -> bytes:
    """The 18 bytes of the device descriptor, from the fields pyusb parsed out of it."""
    return struct.pack("<BBHBBBBHHHBBBB", dev.bLength & 0xFF, dev.bDescriptorType & 0xFF, dev.bcdUSB & 0xFFFF,
                       dev.bDeviceClass & 0xFF, dev.bDeviceSubClass & 0xFF, dev.bDeviceProtocol & 0xFF,
                       dev.bMaxPacketSize0 & 0xFF, dev.idVendor & 0xFFFF, dev.idProduct & 0xFFFF,
                       dev.bcdDevice & 0xFFFF, dev.iManufacturer & 0xFF, dev.iProduct & 0xFF,
                       dev.iSerialNumber & 0xFF, dev.bNumConfigurations & 0xFF)


class PyusbInventory:
    """pyusb's device list (``backend``: libusb1 on the bench; any ``usb.backend.IBackend``): the
    device descriptor as libusb parsed it, each configuration and string as the device answers
    GET_DESCRIPTOR where the device may be opened (a device that may not says so in ``notes``)."""

    name = "pyusb"

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.notes: list[str] = []

    def devices(self, bus: int | None = None) -> list[PresentDevice]:
        import usb.core
        found = []
        listed = sorted(usb.core.find(find_all=True, backend=self.backend), key=lambda d: (d.bus, d.address))
        for dev in listed:
            if len(found) >= MAX_DEVICES:
                break
            if bus is None or dev.bus == bus:
                found.append(self._read(dev))
        return found

    def _read(self, dev: Any) -> PresentDevice:
        import usb.control
        import usb.core
        import usb.util
        device = _device_descriptor(dev)
        configs, strings = [], {}
        try:
            for n in range(min(dev.bNumConfigurations, MAX_CONFIGURATIONS)):
                head = bytes(usb.control.get_descriptor(dev, CONFIG_HEADER, DT_CONFIG, n))
                total = struct.unpack_from("<H", head, 2)[0] if len(head) >= 4 else 0
                if total < CONFIG_HEADER or len(head) < CONFIG_HEADER:
                    break
                configs.append(bytes(usb.control.get_descriptor(dev, min(total, MAX_DESCRIPTORS), DT_CONFIG, n)))
            for key, index in zip(STRINGS, device[14:17], strict=True):
                try:
                    text = _clean(usb.util.get_string(dev, index)) if index else None
                except (ValueError, UnicodeDecodeError):     # no language, or not UTF-16
                    text = None
                if text:
                    strings[key] = text
        except usb.core.USBError as exc:
            self.notes.append(f"usb {dev.bus}.{dev.address}: descriptors beyond the device's own not read ({exc})")
        finally:
            usb.util.dispose_resources(dev)
        return PresentDevice(dev.bus, dev.address, device + b"".join(configs), strings)


def inventory_for(root: Path = Path("/")) -> tuple[Inventory, str]:
    """pyusb over libusb where the machine has both, else sysfs; and one line saying which, and why."""
    devices = root / "sys" / "bus" / "usb" / "devices"
    import usb.backend.libusb1
    backend = usb.backend.libusb1.get_backend()
    if backend is None:
        return SysfsInventory(devices), "usb inventory: from sysfs (libusb-1.0 not found)"
    if not (root / "dev" / "bus" / "usb").is_dir():
        return SysfsInventory(devices), f"usb inventory: from sysfs ({root / 'dev/bus/usb'} missing)"
    return PyusbInventory(backend), "usb inventory: pyusb (libusb-1.0)"


def write_device(w: UsbmonWriter, dev: PresentDevice, t: float, enumerated: bool = False) -> None:
    """The GET_DESCRIPTOR transfers that fetch what ``dev`` holds, at time ``t``; ``enumerated``: the
    device appeared now (hot-plug): SET_ADDRESS on the default address comes first and
    SET_CONFIGURATION (its first configuration, as the kernel chooses) last, as in an enumeration."""
    if enumerated:
        w.control(dev.bus, 0, setup(0x00, SET_ADDRESS, dev.address & 0x7F), t)
    device = dev.descriptors[:DEVICE_DESCRIPTOR]
    w.control(dev.bus, dev.address, setup(0x80, GET_DESCRIPTOR, DT_DEVICE << 8, 0, DEVICE_DESCRIPTOR), t,
              data_in=device)
    for n, config in enumerate(dev.configurations()):
        w.control(dev.bus, dev.address, setup(0x80, GET_DESCRIPTOR, DT_CONFIG << 8 | n, 0, len(config)), t,
                  data_in=config)
    for key, index in zip(STRINGS, device[14:17], strict=True):
        if index and key in dev.strings:
            w.control(dev.bus, dev.address, setup(0x80, GET_DESCRIPTOR, 0x0300 | index, LANGID_EN_US, 255), t,
                      data_in=string_descriptor(dev.strings[key]))
    configs = dev.configurations()
    if enumerated and configs and len(configs[0]) > 5:
        w.control(dev.bus, dev.address, setup(0x00, SET_CONFIGURATION, configs[0][5]), t)


def write_inventory(w: UsbmonWriter, devices: list[PresentDevice], t: float) -> None:
    """The devices present at time ``t``, written to ``w`` (left open for hot-plugged ones) and flushed."""
    for dev in devices:
        write_device(w, dev, t)
    w.flush()

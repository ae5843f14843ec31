"""USB descriptors (USB 2.0 chapter 9, CDC 1.2): who a device says it is, and what its interfaces are.

Descriptors come from the device (hostile input): every parser here is total (a short, long or
nonsensical descriptor yields what it can and never raises), strings are made safe where they
enter (``safe_text``), and lists are capped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from sandbox.safetext import safe_text

DEVICE = struct.Struct("<BBHBBBBHHHBBBB")    # 18 bytes: bLength .. bNumConfigurations
CONFIG = struct.Struct("<BBHBBBBB")          # 9 bytes
INTERFACE = struct.Struct("<BBBBBBBBB")      # 9 bytes
ENDPOINT = struct.Struct("<BBBBHB")          # 7 bytes
DT_DEVICE, DT_CONFIG, DT_STRING, DT_INTERFACE, DT_ENDPOINT, DT_IAD, DT_CS_INTERFACE = 1, 2, 3, 4, 5, 11, 0x24
CDC_UNION = 0x06                             # CDC functional descriptor subtype: master + slave interfaces
# Interfaces (and endpoints) kept per device: composite devices have a handful; hubs of gadgets a few
# dozen; more is a hostile descriptor.
MAX_INTERFACES = 64
MAX_ENDPOINTS = 32
# Characters kept of a string descriptor (at most 126 UTF-16 units fit in one anyway).
MAX_STRING = 126
# String descriptors kept per device: manufacturer, product, serial and interface names.
MAX_STRINGS = 32

CLASS_NAMES = {0x01: "audio", 0x02: "cdc", 0x03: "hid", 0x05: "physical", 0x06: "image", 0x07: "printer",
               0x08: "mass-storage", 0x09: "hub", 0x0A: "cdc-data", 0x0B: "smart-card", 0x0D: "content-security",
               0x0E: "video", 0x0F: "healthcare", 0x10: "audio-video", 0x11: "billboard", 0x12: "usb-c-bridge",
               0xDC: "diagnostic", 0xE0: "wireless", 0xEF: "misc", 0xFE: "application", 0xFF: "vendor"}


def class_name(cls: int) -> str:
    return CLASS_NAMES.get(cls, f"class {cls:#04x}")


@dataclass(slots=True)
class Endpoint:
    address: int          # bit 7 = IN
    kind: str             # "control", "isochronous", "bulk", "interrupt"
    max_packet: int


@dataclass(slots=True)
class Interface:
    number: int
    alternate: int
    cls: int
    subclass: int
    protocol: int
    endpoints: list[Endpoint] = field(default_factory=list)
    slaves: list[int] = field(default_factory=list)     # CDC union: the data interfaces it controls

    @property
    def triple(self) -> tuple[int, int, int]:
        return (self.cls, self.subclass, self.protocol)


@dataclass(slots=True)
class DeviceDescriptor:
    usb: int
    cls: int
    subclass: int
    protocol: int
    max_packet0: int
    vid: int
    pid: int
    release: int
    i_manufacturer: int
    i_product: int
    i_serial: int
    configurations: int


TRANSFER_KINDS = ("control", "isochronous", "bulk", "interrupt")


def parse_device(data: bytes) -> DeviceDescriptor | None:
    """The device descriptor, or None when ``data`` is not one (too short, wrong type)."""
    if len(data) < DEVICE.size or data[1] != DT_DEVICE:
        return None
    (_, _, usb, cls, sub, proto, mp0, vid, pid, release, i_man, i_prod, i_ser, n_conf) = DEVICE.unpack_from(data)
    return DeviceDescriptor(usb, cls, sub, proto, mp0, vid, pid, release, i_man, i_prod, i_ser, n_conf)


def parse_config(data: bytes) -> tuple[int, list[Interface]] | None:
    """(bConfigurationValue, interfaces with their endpoints) of a configuration descriptor set.

    Walks the descriptors by their own lengths; a zero or overlong length ends the walk (what was
    read so far stands).  Alternate settings are kept as separate entries.
    """
    if len(data) < CONFIG.size or data[1] != DT_CONFIG:
        return None
    value = data[5]
    interfaces: list[Interface] = []
    off = data[0] if data[0] >= CONFIG.size else CONFIG.size
    current: Interface | None = None
    while off + 2 <= len(data):
        length, dtype = data[off], data[off + 1]
        if length < 2 or off + length > len(data):
            break
        body = data[off:off + length]
        if dtype == DT_INTERFACE and length >= INTERFACE.size and len(interfaces) < MAX_INTERFACES:
            _, _, number, alt, _, cls, sub, proto, _ = INTERFACE.unpack_from(body)
            current = Interface(number, alt, cls, sub, proto)
            interfaces.append(current)
        elif dtype == DT_ENDPOINT and length >= ENDPOINT.size and current is not None \
                and len(current.endpoints) < MAX_ENDPOINTS:
            _, _, address, attributes, max_packet, _ = ENDPOINT.unpack_from(body)
            current.endpoints.append(Endpoint(address, TRANSFER_KINDS[attributes & 3], max_packet & 0x7FF))
        elif dtype == DT_CS_INTERFACE and length >= 5 and body[2] == CDC_UNION and current is not None:
            current.slaves = list(body[4:4 + MAX_INTERFACES])
        off += length
    return value, interfaces


def parse_string(data: bytes) -> str | None:
    """A string descriptor's text (UTF-16LE), made safe; None when ``data`` is not one."""
    if len(data) < 2 or data[1] != DT_STRING:
        return None
    body = data[2:min(len(data), max(2, data[0]))]
    text = body[: min(len(body) - len(body) % 2, 2 * MAX_STRING)].decode("utf-16-le", "replace")   # whole units
    return safe_text(text.rstrip("\0"))

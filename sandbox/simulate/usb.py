"""The instrument's USB bus, simulated: devices plugged in and used as a Linux host uses them.

Every transfer goes through ``sandbox.captures.usbwriter``, so the capture is what usbmon (or
USBPcap) would have recorded: enumeration (SET_ADDRESS, descriptors, strings, SET_CONFIGURATION),
then the class protocol.  Devices: a FAT stick (SCSI over Bulk-Only Transport), a CDC-ACM
USB-serial adapter (XMODEM sends), a USB network adapter (CDC-ECM, CDC-NCM or RNDIS: IP traffic
written with ``sandbox.captures.writer``), a HID keyboard.

The short way to a capture of a stick receiving a file, for tests and the demo:

    write_stick_capture(path, {"RUN/reads.fastq.gz": data})           # usbmon; fmt="usbpcap" too
"""

from __future__ import annotations

import binascii
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sandbox.captures.usbwriter import (
    BULK,
    INTERRUPT,
    UsbmonWriter,
    UsbPcapWriter,
    UsbWriter,
    setup,
    string_descriptor,
)
from sandbox.captures.writer import LINKTYPE_RAW, ethernet

from .diskimage import DiskImage, changes
from .fatimage import SECTOR, FatVolume, Write

T0 = 1763892000.0          # 2025-11-23T10:00:00Z, the demo run's date
BUS = 1
# usb-storage's default max_sectors: 240 sectors (120 KiB) per SCSI command.
MAX_SECTORS = 240
HOST_MAC = bytes.fromhex("02000000aa01")      # the instrument PC's side of a USB network link
DEVICE_MAC = bytes.fromhex("02000000aa02")    # the adapter's (the network's) side
XMODEM_BLOCK = 128
SOH, EOT, ACK, CRC_START = 0x01, 0x04, 0x06, ord("C")


# ---- descriptors ------------------------------------------------------------------------------

def device_descriptor(vid: int, pid: int, cls: int = 0, subclass: int = 0, protocol: int = 0,
                      strings: tuple[int, int, int] = (1, 2, 3), release: int = 0x0100) -> bytes:
    return struct.pack("<BBHBBBBHHHBBBB", 18, 1, 0x0200, cls, subclass, protocol, 64, vid, pid, release,
                       *strings, 1)


def interface(number: int, cls: int, subclass: int, protocol: int, endpoints: int, alternate: int = 0) -> bytes:
    return struct.pack("<BBBBBBBBB", 9, 4, number, alternate, endpoints, cls, subclass, protocol, 0)


def endpoint(address: int, kind: int, max_packet: int = 512, interval: int = 0) -> bytes:
    return struct.pack("<BBBBHB", 7, 5, address, kind, max_packet, interval)


def configuration(body: bytes, interfaces: int) -> bytes:
    return struct.pack("<BBHBBBBB", 9, 2, 9 + len(body), interfaces, 1, 0, 0x80, 50) + body


def cdc_functional(master: int, slave: int, extra: bytes = b"") -> bytes:
    """CDC header, union (master controls slave) and any class-specific functional descriptor."""
    return b"\x05\x24\x00\x10\x01" + extra + bytes([5, 0x24, 0x06, master, slave])


@dataclass
class Device:
    """What a device answers at enumeration."""

    name: str
    descriptor: bytes
    config: bytes
    strings: dict[int, str]
    address: int = 0
    out_ep: int = 0x02
    in_ep: int = 0x81
    extra: dict[str, object] = field(default_factory=dict)


def stick(vid: int = 0x0781, pid: int = 0x5583, product: str = "Ultra Fit", serial: str = "4C530001230817") -> Device:
    body = interface(0, 0x08, 0x06, 0x50, 2) + endpoint(0x81, BULK) + endpoint(0x02, BULK)
    return Device("stick", device_descriptor(vid, pid), configuration(body, 1),
                  {1: "SanDisk", 2: product, 3: serial})


def serial_adapter(vid: int = 0x2341, pid: int = 0x0043, product: str = "USB Serial") -> Device:
    acm = b"\x04\x24\x02\x02"          # ACM functional descriptor: line coding supported
    body = (interface(0, 0x02, 0x02, 0x01, 1) + cdc_functional(0, 1, acm) + endpoint(0x83, INTERRUPT, 8, 16)
            + interface(1, 0x0A, 0x00, 0x00, 2) + endpoint(0x02, BULK, 64) + endpoint(0x81, BULK, 64))
    return Device("serial", device_descriptor(vid, pid, 0x02), configuration(body, 2),
                  {1: "Arduino (www.arduino.cc)", 2: product, 3: "75833353035351E0A1D1"})


def network_adapter(kind: str = "ecm", vid: int = 0x12D1, pid: int = 0x14DC, product: str = "HUAWEI_MOBILE") -> Device:
    """A USB network function: ``ecm`` (a cellular modem), ``ncm`` or ``rndis``."""
    if kind == "rndis":
        control = interface(0, 0xE0, 0x01, 0x03, 1) + cdc_functional(0, 1)
    else:
        subclass = 0x06 if kind == "ecm" else 0x0D
        eth = struct.pack("<BBBBIHHB", 13, 0x24, 0x0F, 4, 0, 1514, 0, 0)    # iMACAddress = string 4
        control = interface(0, 0x02, subclass, 0x00, 1) + cdc_functional(0, 1, eth)
    body = (control + endpoint(0x83, INTERRUPT, 16, 9) + interface(1, 0x0A, 0, 0, 0)
            + interface(1, 0x0A, 0, 0x01 if kind == "ncm" else 0, 2, alternate=1)
            + endpoint(0x81, BULK) + endpoint(0x02, BULK))
    return Device(f"network-{kind}", device_descriptor(vid, pid, 0xEF, 0x02, 0x01), configuration(body, 2),
                  {1: "HUAWEI", 2: product, 3: "0123456789ABCDEF", 4: DEVICE_MAC.hex().upper()},
                  extra={"kind": kind})


def keyboard(vid: int = 0x046D, pid: int = 0xC31C, product: str = "USB Keyboard") -> Device:
    hid = struct.pack("<BBHBBBH", 9, 0x21, 0x0111, 0, 1, 0x22, 63)
    body = interface(0, 0x03, 0x01, 0x01, 1) + hid + endpoint(0x81, INTERRUPT, 8, 10)
    return Device("keyboard", device_descriptor(vid, pid), configuration(body, 1), {1: "Logitech", 2: product, 3: ""},
                  out_ep=0, in_ep=0x81)


# ---- the bus ----------------------------------------------------------------------------------

class UsbBench:
    """A host with devices on one bus, writing every transfer at the bench's clock."""

    def __init__(self, writer: UsbWriter, t0: float = T0, bus: int = BUS) -> None:
        self.w = writer
        self.t = t0
        self.bus = bus
        self.next_address = 2

    def wait(self, seconds: float) -> None:
        self.t += seconds

    def _tick(self, dt: float = 0.0005) -> float:
        self.t += dt
        return self.t

    def control(self, device: Device | int, request: bytes, data_out: bytes = b"", data_in: bytes = b"") -> None:
        address = device if isinstance(device, int) else device.address
        self.w.control(self.bus, address, request, self._tick(), data_out=data_out, data_in=data_in)

    def bulk(self, device: Device, endpoint: int, data: bytes, requested: int | None = None) -> None:
        self.w.bulk(self.bus, device.address, endpoint, data, self._tick(0.0002), requested=requested)

    def plug(self, device: Device, enumerate_address: bool = True) -> Device:
        """Enumerate ``device`` as Linux does (address, descriptors, strings, configuration)."""
        descriptor, config = device.descriptor, device.config
        device.address = self.next_address
        self.next_address += 1
        if enumerate_address:
            self.control(0, setup(0x80, 0x06, 0x0100, 0, 64), data_in=descriptor)
            self.control(0, setup(0x00, 0x05, device.address))
        self.control(device, setup(0x80, 0x06, 0x0100, 0, 18), data_in=descriptor)
        self.control(device, setup(0x80, 0x06, 0x0200, 0, 9), data_in=config[:9])
        self.control(device, setup(0x80, 0x06, 0x0200, 0, len(config)), data_in=config)
        self.control(device, setup(0x80, 0x06, 0x0300, 0, 255), data_in=b"\x04\x03\x09\x04")
        for index in (descriptor[15], descriptor[14], descriptor[16]):
            text = device.strings.get(index)
            if text:
                self.control(device, setup(0x80, 0x06, 0x0300 | index, 0x0409, 255), data_in=string_descriptor(text))
        self.control(device, setup(0x00, 0x09, 1))
        return device


# ---- mass storage -----------------------------------------------------------------------------

class StickImage(Protocol):
    """What a stick holds, as the host sees it: sectors to read and what mounting reads first."""

    last_lba: int

    def read(self, lba: int, count: int = 1) -> bytes: ...

    def mount_reads(self) -> list[tuple[int, int]]: ...


class StickHost:
    """The host's usb-storage driver talking SCSI to a stick that holds ``volume``."""

    def __init__(self, bench: UsbBench, device: Device, volume: FatVolume | StickImage) -> None:
        self.bench, self.device, self.volume = bench, device, volume
        self.tag = 1

    def command(self, cdb: bytes, data_out: bytes = b"", data_in: bytes = b"", length: int = 0) -> None:
        flags = 0x80 if data_in or (length and not data_out) else 0x00
        total = len(data_out) or len(data_in) or length
        cbw = struct.pack("<4sIIBBB16s", b"USBC", self.tag, total, flags, 0, len(cdb), cdb)
        bench, dev = self.bench, self.device
        bench.bulk(dev, dev.out_ep, cbw)
        if data_out:
            bench.bulk(dev, dev.out_ep, data_out)
        if data_in:
            bench.bulk(dev, dev.in_ep, data_in, requested=total)
        bench.bulk(dev, dev.in_ep, struct.pack("<4sIIB", b"USBS", self.tag, 0, 0), requested=13)
        self.tag += 1

    def attach(self) -> None:
        """What Linux does when a stick is plugged in: LUNs, INQUIRY, capacity, partition table, mount."""
        self.bench.control(self.device, setup(0xA1, 0xFE, 0, 0, 1), data_in=b"\x00")
        self.command(bytes([0x12, 0, 0, 0, 36, 0]), data_in=(b"\x00\x80\x06\x02\x1f\x00\x00\x00" + b"SanDisk "
                                                             + b"Ultra Fit       " + b"1.00"))
        self.command(bytes(6))                                            # TEST UNIT READY
        last = self.volume.last_lba
        self.command(bytes([0x25]) + bytes(9), data_in=struct.pack(">II", last, SECTOR))
        for lba, count in self.volume.mount_reads():
            self.read(lba, count)

    def read(self, lba: int, count: int) -> None:
        cdb = struct.pack(">BBIBHB", 0x28, 0, lba, 0, count, 0)
        self.command(cdb, data_in=self.volume.read(lba, count))

    def write(self, writes: Sequence[Write]) -> None:
        for w in writes:
            for off in range(0, len(w.data), MAX_SECTORS * SECTOR):
                chunk = w.data[off:off + MAX_SECTORS * SECTOR]
                cdb = struct.pack(">BBIBHB", 0x2A, 0, w.lba + off // SECTOR, 0, len(chunk) // SECTOR, 0)
                self.command(cdb, data_out=chunk)
        self.command(bytes([0x35]) + bytes(9))                           # SYNCHRONIZE CACHE(10)

    def copy(self, files: dict[str, bytes]) -> None:
        """``cp`` then ``sync``: directories made as needed, every file's writes in flush order."""
        writes: list[Write] = []
        for path, data in files.items():
            parts = path.strip("/").split("/")
            for depth in range(1, len(parts)):
                folder = "/" + "/".join(parts[:depth])
                if folder not in self.volume.dirs:
                    writes += self.volume.mkdir(folder)
            writes += self.volume.add_file("/" + "/".join(parts), data)
        data_first = [w for w in writes if w.lba >= self.volume.data_lba] + \
            [w for w in writes if w.lba < self.volume.data_lba]
        self.write(data_first)


# ---- serial and network -----------------------------------------------------------------------

def xmodem_blocks(data: bytes) -> list[bytes]:
    """XMODEM-CRC blocks of ``data`` (128 bytes each, padded with ^Z)."""
    blocks = []
    for n, off in enumerate(range(0, len(data), XMODEM_BLOCK), 1):
        body = data[off:off + XMODEM_BLOCK].ljust(XMODEM_BLOCK, b"\x1a")
        blocks.append(bytes([SOH, n & 0xFF, 0xFF - (n & 0xFF)]) + body
                      + struct.pack(">H", binascii.crc_hqx(body, 0)))
    return blocks


class SerialHost:
    """The host sending through a CDC-ACM adapter: line coding, then bytes on the data interface."""

    def __init__(self, bench: UsbBench, device: Device, baud: int = 115200) -> None:
        self.bench, self.device = bench, device
        bench.control(device, setup(0x21, 0x20, 0, 0, 7), data_out=struct.pack("<IBBB", baud, 0, 0, 8))
        bench.control(device, setup(0x21, 0x22, 0x03, 0, 0))                    # DTR and RTS up

    def send(self, data: bytes) -> None:
        self.bench.bulk(self.device, self.device.out_ep, data)

    def receive(self, data: bytes) -> None:
        self.bench.bulk(self.device, self.device.in_ep, data, requested=64)

    def xmodem(self, data: bytes) -> None:
        """An XMODEM-CRC send: the receiver asks with 'C', each block is ACKed, EOT ends it."""
        self.receive(bytes([CRC_START]))
        for block in xmodem_blocks(data):
            self.send(block)
            self.receive(bytes([ACK]))
        self.send(bytes([EOT]))
        self.receive(bytes([ACK]))


class NetworkLink:
    """A PacketSink (bare IP packets) that carries each packet through a USB network adapter.

    Packets from ``instrument`` go OUT (the host sends them), the others come IN; ECM sends each
    frame as one transfer, NCM in a transfer block, RNDIS in a REMOTE_NDIS_PACKET_MSG."""

    linktype = LINKTYPE_RAW

    def __init__(self, bench: UsbBench, device: Device, instrument: str) -> None:
        self.bench, self.device = bench, device
        self.instrument = instrument
        self.kind = str(device.extra.get("kind", "ecm"))
        self.sequence = 0
        bench.control(device, setup(0x01, 0x0B, 1, 1))      # SET_INTERFACE: data interface, alternate 1
        if self.kind == "rndis":
            init = struct.pack("<IIIIII", 2, 24, 1, 1, 0, 0x4000)    # REMOTE_NDIS_INITIALIZE_MSG
            bench.control(device, setup(0x21, 0x00, 0, 0, len(init)), data_out=init)
            bench.control(device, setup(0xA1, 0x01, 0, 0, 1025), data_in=struct.pack("<IIII", 0x80000002, 52, 1, 0)
                          + bytes(36))

    def write(self, ip: bytes, t: float) -> None:
        version = ip[0] >> 4
        src = ip[12:16] if version == 4 else ip[8:24]
        out = _address(src) == self.instrument
        frame = ethernet(ip, src=HOST_MAC if out else DEVICE_MAC, dst=DEVICE_MAC if out else HOST_MAC)
        payload = self._wrap(frame)
        self.bench.t = max(self.bench.t, t)
        dev = self.device
        if out:
            self.bench.bulk(dev, dev.out_ep, payload)
        else:
            self.bench.bulk(dev, dev.in_ep, payload, requested=16384 if self.kind != "ecm" else 1514)

    def _wrap(self, frame: bytes) -> bytes:
        if self.kind == "rndis":
            return struct.pack("<IIIIIIIIIII", 1, 44 + len(frame), 36, len(frame), 0, 0, 0, 0, 0, 0, 0) + frame
        if self.kind == "ncm":
            self.sequence += 1
            ndp_at = 12
            datagram_at = ndp_at + 16
            total = datagram_at + len(frame)
            nth = struct.pack("<4sHHHH", b"NCMH", 12, self.sequence & 0xFFFF, total, ndp_at)
            ndp = struct.pack("<4sHHHHHH", b"NCM0", 16, 0, datagram_at, len(frame), 0, 0)
            return nth + ndp + frame
        return frame


def _address(raw: bytes) -> str:
    import ipaddress

    return str(ipaddress.ip_address(raw))


# ---- the short ways ---------------------------------------------------------------------------

def open_writer(path: Path, fmt: str = "usbmon") -> UsbWriter:
    """A capture writer: ``usbmon`` (LINKTYPE 220, what dumpcap writes on Linux), ``usbmon48`` (189)
    or ``usbpcap`` (249, Windows)."""
    if fmt == "usbpcap":
        return UsbPcapWriter(path)
    if fmt in ("usbmon", "usbmon48"):
        return UsbmonWriter(path, mmapped=fmt == "usbmon")
    raise ValueError(f"unknown USB capture format {fmt!r} (usbmon, usbmon48, usbpcap)")


def write_stick_capture(path: Path, files: dict[str, bytes], *, fmt: str = "usbmon", fat_bits: int = 32,
                        t0: float = T0, device: Device | None = None) -> Device:
    """A capture of a FAT stick plugged into the instrument PC and given ``files`` (path -> bytes,
    directories made as needed); returns the stick (its ``address`` is the device on bus 1)."""
    with open_writer(path, fmt) as w:
        return stick_session(w, files, fat_bits=fat_bits, t0=t0, device=device)


def stick_session(w: UsbWriter, files: dict[str, bytes], *, fat_bits: int = 32, t0: float = T0,
                  device: Device | None = None) -> Device:
    """The stick of ``write_stick_capture``, into a writer the caller holds (a live recording)."""
    volume = FatVolume(bits=fat_bits, sectors=1 << 20 if fat_bits == 32 else 1 << 17,
                       cluster_sectors=8 if fat_bits == 32 else 4)
    bench = UsbBench(w, t0)
    dev = bench.plug(device or stick())
    host = StickHost(bench, dev, volume)
    host.attach()
    bench.wait(2.0)
    host.copy(files)
    return dev


def write_image_capture(path: Path, before: bytes, after: bytes, *, fmt: str = "usbmon", t0: float = T0,
                        device: Device | None = None) -> Device:
    """A capture of a stick holding disk image ``before`` that the host turns into ``after`` (images
    another tool made: mkfs.fat and mcopy for FAT12, mkfs.exfat and ``ExfatImage`` for exFAT)."""
    with open_writer(path, fmt) as w:
        bench = UsbBench(w, t0)
        dev = bench.plug(device or stick())
        host = StickHost(bench, dev, DiskImage(before))
        host.attach()
        bench.wait(2.0)
        host.write(changes(before, after))
    return dev

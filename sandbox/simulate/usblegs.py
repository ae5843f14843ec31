"""USB devices of a simulated instrument PC, written as the Linux usbmon capture the rig's USB tap makes.

No USB bus exists where the rig's tests run, so a scenario's USB legs are written here, URB by URB,
as dumpcap records ``usbmonN`` (LINKTYPE_USB_LINUX_MMAPPED, 64-byte headers; Documentation/usb/
usbmon.rst): a submission ('S') and a completion ('C') per transfer, OUT data on the submission,
IN data on the completion.  Two devices:

- ``UsbStick``: a USB mass-storage stick (Bulk-Only Transport, SCSI) holding a FAT16 volume; a
  file copied to it is the WRITE(10)s Linux's vfat issues: data clusters, both FATs, then the root
  directory sector with the long-name entries.  The mount's reads (boot sector, FAT, root
  directory) are in the capture too, so a parser can find file names from the bytes alone.
- ``UsbSerial``: a CDC-ACM USB-serial adapter (SET_LINE_CODING, then bulk OUT of what is printed).

Layouts are data (struct formats below); the same calls give the same bytes.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

LINKTYPE_USB_LINUX_MMAPPED = 220
URB = struct.Struct("<QBBBBHbbqiiII8siiII")   # the 64-byte mmapped usbmon header
CONTROL, BULK = 2, 3
EINPROGRESS = -115          # status of a submission
NO_SETUP, OUT_DONE, IN_SUBMIT = ord("-"), ord(">"), ord("<")
SETUP = struct.Struct("<BBHHH")    # bmRequestType, bRequest, wValue, wIndex, wLength
DEVICE_DESCRIPTOR = struct.Struct("<BBHBBBBHHHBBBB")
CONFIG_DESCRIPTOR = struct.Struct("<BBHBBBBB")
INTERFACE_DESCRIPTOR = struct.Struct("<BBBBBBBBB")
ENDPOINT_DESCRIPTOR = struct.Struct("<BBBBHB")
CBW = struct.Struct("<4sIIBBB16s")  # Bulk-Only Transport command block wrapper (31 bytes)
CSW = struct.Struct("<4sIIB")       # command status wrapper (13 bytes)
WRITE10 = struct.Struct(">BBIBHB")  # opcode, flags, LBA, group, blocks, control
LINE_CODING = struct.Struct("<IBBB")
SECTOR = 512
# Linux usb-storage's default max_sectors: 240 sectors (120 KiB) per WRITE(10).
MAX_SECTORS_PER_COMMAND = 240
# cdc-acm's write buffers on a full-speed adapter: 20 x 64-byte packets per URB.
ACM_WRITE_SIZE = 1280
# Seconds a transfer takes on the simulated bus (high-speed bulk: ~30 MB/s), so times move on.
BYTES_PER_SECOND = 30e6

# FAT16 "superfloppy" volume (no partition table, as many sticks ship): 64 MiB, 2 KiB clusters.
VOLUME_SECTORS = 131072
SECTORS_PER_CLUSTER = 4
RESERVED_SECTORS = 4
FATS = 2
ROOT_ENTRIES = 512
BPB = struct.Struct("<3s8sHBHBHHBHHHII BBBI11s8s")
DIRENT = struct.Struct("<8s3sBBBHHHHHHHI")
LFN = struct.Struct("<B10sBBB12sH4s")
FAT_EOC = 0xFFFF
ATTR_ARCHIVE, ATTR_LABEL, ATTR_LFN = 0x20, 0x08, 0x0F
# 2025-11-23 10:00:00 in FAT's packed date and time.
FAT_DATE = ((2025 - 1980) << 9) | (11 << 5) | 23
FAT_TIME = 10 << 11

Sink = Callable[[bytes, float], None]


class UsbDevice:
    """One device on the bus: writes its URBs (submission then completion) to ``sink``."""

    def __init__(self, sink: Sink, bus: int, device: int) -> None:
        self.sink, self.bus, self.device = sink, bus, device
        self.urb_id = 0xFFFF8880_00000000 | (device << 16)

    VID, PID = 0, 0

    @property
    def destination(self) -> str:
        """How the rig names this device in findings (``usb BUS.DEVICE VID:PID``; no product string)."""
        return f"usb {self.bus}.{self.device} {self.VID:04x}:{self.PID:04x}"

    def _urb(self, kind: str, transfer: int, endpoint: int, t: float, status: int, length: int, data: bytes,
             setup: bytes | None = None) -> None:
        flag_data = 0 if data else (IN_SUBMIT if kind == "S" else OUT_DONE)
        sec, usec = divmod(round(t * 1e6), 1_000_000)
        head = URB.pack(self.urb_id, ord(kind), transfer, endpoint, self.device, self.bus,
                        0 if setup is not None else NO_SETUP, flag_data, sec, usec,
                        status, length, len(data), setup or bytes(8), 0, 0, 0, 0)
        self.sink(head + data, t)

    def transfer(self, transfer: int, endpoint: int, t: float, data: bytes = b"", length: int = 0,
                 setup: bytes | None = None) -> float:
        """One transfer, submitted at ``t``; returns when it completed.  OUT: ``data`` goes with the
        submission; IN: ``data`` (``length`` asked for) comes with the completion."""
        self.urb_id += 0x40
        done = t + 0.000125 + len(data) / BYTES_PER_SECOND
        if endpoint & 0x80:
            self._urb("S", transfer, endpoint, t, EINPROGRESS, length or len(data), b"", setup)
            self._urb("C", transfer, endpoint, done, 0, len(data), data)
        else:
            self._urb("S", transfer, endpoint, t, EINPROGRESS, len(data), data, setup)
            self._urb("C", transfer, endpoint, done, 0, len(data), b"")
        return done

    def control_in(self, t: float, request_type: int, request: int, value: int, index: int, data: bytes) -> float:
        setup = SETUP.pack(request_type, request, value, index, len(data))
        return self.transfer(CONTROL, 0x80, t, data, len(data), setup)

    def control_out(self, t: float, request_type: int, request: int, value: int, index: int,
                    data: bytes = b"") -> float:
        return self.transfer(CONTROL, 0x00, t, data, setup=SETUP.pack(request_type, request, value, index, len(data)))

    def enumerate(self, t: float, device: bytes, config: bytes) -> float:
        """What the host asks a device it just found: descriptors, then SET_CONFIGURATION 1."""
        t = self.control_in(t, 0x80, 6, 0x0100, 0, device)
        t = self.control_in(t + 0.001, 0x80, 6, 0x0200, 0, config[:9])
        t = self.control_in(t + 0.001, 0x80, 6, 0x0200, 0, config)
        return self.control_out(t + 0.001, 0x00, 9, 1, 0)


def device_descriptor(vid: int, pid: int, cls: int = 0) -> bytes:
    return DEVICE_DESCRIPTOR.pack(18, 1, 0x0200, cls, 0, 0, 64, vid, pid, 0x0100, 1, 2, 3, 1)


def config_descriptor(interfaces: list[tuple[tuple[int, int, int], list[tuple[int, int, int]]]]) -> bytes:
    """A configuration of (class, subclass, protocol) interfaces with (address, attributes, max packet) endpoints."""
    body = b""
    for number, ((cls, sub, proto), endpoints) in enumerate(interfaces):
        body += INTERFACE_DESCRIPTOR.pack(9, 4, number, 0, len(endpoints), cls, sub, proto, 0)
        body += b"".join(ENDPOINT_DESCRIPTOR.pack(7, 5, addr, attrs, size, 0) for addr, attrs, size in endpoints)
    total = CONFIG_DESCRIPTOR.size + len(body)
    return CONFIG_DESCRIPTOR.pack(9, 2, total, len(interfaces), 1, 0, 0x80, 50) + body


class UsbStick(UsbDevice):
    """A SanDisk-like mass-storage stick with a freshly formatted FAT16 volume; see the module docstring."""

    VID, PID = 0x0781, 0x5583
    EP_OUT, EP_IN = 0x02, 0x81

    def __init__(self, sink: Sink, bus: int = 1, device: int = 5, label: str = "INSTRUMENT") -> None:
        super().__init__(sink, bus, device)
        self.tag = 0
        self.fat_sectors = math.ceil((VOLUME_SECTORS // SECTORS_PER_CLUSTER + 2) * 2 / SECTOR)
        self.root_lba = RESERVED_SECTORS + FATS * self.fat_sectors
        self.data_lba = self.root_lba + ROOT_ENTRIES * 32 // SECTOR
        self.fat = [0xFFF8, 0xFFFF]
        self.root = bytearray(ROOT_ENTRIES * 32)
        self.root[:32] = DIRENT.pack(label.upper().ljust(11)[:8].encode(), label.upper().ljust(11)[8:11].encode(),
                                     ATTR_LABEL, 0, 0, 0, 0, 0, 0, FAT_TIME, FAT_DATE, 0, 0)
        self.next_entry = 1
        self.names: set[bytes] = set()

    def boot_sector(self) -> bytes:
        bpb = BPB.pack(b"\xeb\x3c\x90", b"MSDOS5.0", SECTOR, SECTORS_PER_CLUSTER, RESERVED_SECTORS, FATS,
                       ROOT_ENTRIES, 0, 0xF8, self.fat_sectors, 32, 64, 0, VOLUME_SECTORS, 0x80, 0, 0x29,
                       0x5EC0DE42, b"INSTRUMENT ", b"FAT16   ")
        return bpb + bytes(SECTOR - 2 - len(bpb)) + b"\x55\xaa"

    def _scsi(self, t: float, cdb: bytes, data_out: bytes = b"", data_in: bytes = b"") -> float:
        self.tag += 1
        size = len(data_out) or len(data_in)
        flags = 0x80 if data_in else 0x00
        t = self.transfer(BULK, self.EP_OUT, t, CBW.pack(b"USBC", self.tag, size, flags, 0, len(cdb), cdb.ljust(16, b"\0")))
        if data_out:
            t = self.transfer(BULK, self.EP_OUT, t, data_out)
        if data_in:
            t = self.transfer(BULK, self.EP_IN, t, data_in, len(data_in))
        return self.transfer(BULK, self.EP_IN, t, CSW.pack(b"USBS", self.tag, 0, 0), 13)

    def _read(self, t: float, lba: int, data: bytes) -> float:
        return self._scsi(t, struct.pack(">BBIBHB", 0x28, 0, lba, 0, len(data) // SECTOR, 0), data_in=data)

    def _write(self, t: float, lba: int, data: bytes) -> float:
        data += bytes(-len(data) % SECTOR)
        step = MAX_SECTORS_PER_COMMAND * SECTOR
        for off in range(0, len(data), step):
            chunk = data[off:off + step]
            t = self._scsi(t, WRITE10.pack(0x2A, 0, lba + off // SECTOR, 0, len(chunk) // SECTOR, 0), data_out=chunk)
        return t

    def plug(self, t: float) -> float:
        """Plugged in and mounted: enumeration, INQUIRY, capacity, then the reads of a FAT mount."""
        config = config_descriptor([((0x08, 0x06, 0x50), [(self.EP_IN, 2, 512), (self.EP_OUT, 2, 512)])])
        t = self.enumerate(t, device_descriptor(self.VID, self.PID), config)
        inquiry = bytes([0, 0x80, 6, 2, 31, 0, 0, 0]) + b"SanDisk " + b"Ultra Fit       " + b"1.00"
        t = self._scsi(t + 0.01, bytes([0x12, 0, 0, 0, 36, 0]), data_in=inquiry)
        t = self._scsi(t, bytes(6))                                    # TEST UNIT READY
        t = self._scsi(t, bytes([0x25]) + bytes(9), data_in=struct.pack(">II", VOLUME_SECTORS - 1, SECTOR))
        t = self._read(t + 0.01, 0, self.boot_sector())
        t = self._read(t, RESERVED_SECTORS, self._fat_bytes()[:SECTOR])
        return self._read(t, self.root_lba, bytes(self.root[:SECTOR]))

    def _fat_bytes(self) -> bytes:
        raw = struct.pack(f"<{len(self.fat)}H", *self.fat)
        return raw + bytes(-len(raw) % SECTOR)

    def copy(self, t: float, name: str, data: bytes) -> float:
        """``name`` copied onto the stick: its clusters, then both FATs, then its directory entries."""
        first = len(self.fat)
        clusters = max(1, math.ceil(len(data) / (SECTORS_PER_CLUSTER * SECTOR)))
        self.fat += [first + i + 1 for i in range(clusters - 1)] + [FAT_EOC]
        t = self._write(t, self.data_lba + (first - 2) * SECTORS_PER_CLUSTER, data)
        fat = self._fat_bytes()
        lo, hi = first * 2 // SECTOR, math.ceil(len(self.fat) * 2 / SECTOR)
        for copy in range(FATS):
            t = self._write(t, RESERVED_SECTORS + copy * self.fat_sectors + lo, fat[lo * SECTOR:hi * SECTOR])
        entries = self._entries(name, first, len(data))
        start = self.next_entry * 32
        self.root[start:start + len(entries)] = entries
        first_sector, self.next_entry = start // SECTOR, self.next_entry + len(entries) // 32
        last_sector = (self.next_entry * 32 - 1) // SECTOR
        return self._write(t + 0.005, self.root_lba + first_sector,
                           bytes(self.root[first_sector * SECTOR:(last_sector + 1) * SECTOR]))

    def _entries(self, name: str, cluster: int, size: int) -> bytes:
        """Long-name entries (last first) and the 8.3 entry, as vfat writes them."""
        short = self._short_name(name)
        checksum = 0
        for byte in short:
            checksum = (((checksum & 1) << 7) + (checksum >> 1) + byte) & 0xFF
        units = name.encode("utf-16-le")
        units += b"\0\0" if len(units) % 26 else b""
        units += b"\xff" * (-len(units) % 26)
        parts = [units[i:i + 26] for i in range(0, len(units), 26)]
        lfn = b""
        for n in range(len(parts), 0, -1):
            p = parts[n - 1]
            lfn += LFN.pack(n | (0x40 if n == len(parts) else 0), p[:10], ATTR_LFN, 0, checksum, p[10:22], 0, p[22:26])
        entry = DIRENT.pack(short[:8], short[8:], ATTR_ARCHIVE, 0, 0, FAT_TIME, FAT_DATE, FAT_DATE, 0,
                            FAT_TIME, FAT_DATE, cluster, size)
        return lfn + entry

    def _short_name(self, name: str) -> bytes:
        """The 8.3 alias Linux's vfat makes for a long name (``BASENA~1EXT``)."""
        stem, _, ext = name.upper().rpartition(".") if "." in name else (name.upper(), "", "")
        keep = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
        stem = "".join(c for c in stem if c in keep) or "FILE"
        ext = "".join(c for c in ext if c in keep)[:3]
        n = 1
        while (short := f"{stem[:6]}~{n}".ljust(8).encode() + ext.ljust(3).encode()) in self.names:
            n += 1
        self.names.add(short)
        return short


class UsbSerial(UsbDevice):
    """A CDC-ACM USB-serial adapter: the instrument prints to it at ``baud``."""

    VID, PID = 0x0483, 0x5740
    EP_OUT, EP_IN, EP_NOTIFY = 0x02, 0x81, 0x83

    def __init__(self, sink: Sink, bus: int = 1, device: int = 6, baud: int = 115200) -> None:
        super().__init__(sink, bus, device)
        self.baud = baud

    def plug(self, t: float) -> float:
        config = config_descriptor([((0x02, 0x02, 0x01), [(self.EP_NOTIFY, 3, 16)]),
                                    ((0x0A, 0x00, 0x00), [(self.EP_OUT, 2, 64), (self.EP_IN, 2, 64)])])
        t = self.enumerate(t, device_descriptor(self.VID, self.PID, cls=0x02), config)
        t = self.control_out(t + 0.01, 0x21, 0x20, 0, 0, LINE_CODING.pack(self.baud, 0, 0, 8))   # SET_LINE_CODING
        return self.control_out(t, 0x21, 0x22, 0x03, 0)                                          # DTR | RTS

    def write(self, t: float, data: bytes) -> float:
        """What the instrument prints, in the URBs cdc-acm sends, paced at the line's baud rate."""
        for off in range(0, len(data), ACM_WRITE_SIZE):
            chunk = data[off:off + ACM_WRITE_SIZE]
            t = max(self.transfer(BULK, self.EP_OUT, t, chunk), t + len(chunk) * 10 / self.baud)
        return t


def usb_destination(via: str, device: int, bus: int = 1) -> str:
    """The name findings give the device a USB leg (``usb-storage`` or ``usb-serial``) plugs in."""
    kind = UsbStick if via == "usb-storage" else UsbSerial
    return kind(lambda urb, t: None, bus, device).destination

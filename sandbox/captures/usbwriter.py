"""Write USB captures byte-exactly as usbmon (LINKTYPE 220, or 189 without the mmapped fields) and
USBPcap (LINKTYPE 249) record them: the simulator and the tests build recordings with it, the USB
tap writes the device inventory with it.

    with UsbmonWriter(path) as usb:                       # or UsbPcapWriter(path)
        usb.control(1, 0, setup(0x00, 0x05, 4), t=1.0)    # SET_ADDRESS 4, to the default address
        usb.control(1, 4, setup(0x80, 0x06, 0x0100, 0, 18), data_in=device_descriptor, t=1.1)
        usb.bulk(1, 4, 0x02, cbw + data, t=1.2)           # OUT: host -> device
        usb.bulk(1, 4, 0x81, csw, t=1.3)                  # IN: device -> host

Each transfer is two records, the submission and the completion (USBPcap writes a control
transfer in stages: setup, OUT data, completion), as the capture drivers write them; data larger
than ``capture_limit`` is cut as usbmon cuts it (``length`` says what the transfer carried).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO, Self

from sandbox.captures.links import usbmon, usbpcap
from sandbox.captures.writer import PcapngWriter

LINKTYPE_USB_LINUX, LINKTYPE_USB_LINUX_MMAPPED, LINKTYPE_USBPCAP = 189, 220, 249
ISOCHRONOUS, INTERRUPT, CONTROL, BULK = 0, 1, 2, 3
EINPROGRESS = -115            # usbmon's status of a submitted, not yet completed URB
URB_DIR_IN = 0x0200           # usbmon xfer_flags bit of an IN URB
URB_ID_BASE = 0xFFFF88810A000000   # usbmon URB ids are kernel addresses; these look like them
# Seconds between a transfer's submission and completion in simulated captures: a full-speed frame.
TRANSFER_TIME = 0.000125
USBPCAP_CONTROL = 0x0008     # URB_FUNCTION_CONTROL_TRANSFER
USBPCAP_BULK = 0x0009        # URB_FUNCTION_BULK_OR_INTERRUPT_TRANSFER
STAGE_SETUP, STAGE_DATA, STAGE_COMPLETE = 0, 1, 3


def setup(request_type: int, request: int, value: int = 0, index: int = 0, length: int = 0) -> bytes:
    """A control request's 8-byte setup packet (USB 2.0 9.3)."""
    return struct.pack("<BBHHH", request_type, request, value, index, length)


def string_descriptor(text: str) -> bytes:
    """A string descriptor (USB 2.0 9.6.7): UTF-16LE, at most 126 units."""
    raw = text.encode("utf-16-le")[:252]
    return bytes([2 + len(raw), 3]) + raw


class _UsbWriter:
    linktype = LINKTYPE_USB_LINUX_MMAPPED

    def __init__(self, path: Path | str | BinaryIO, capture_limit: int | None = None, bus_name: str = "") -> None:
        self.pcap = PcapngWriter(path, interfaces=[])
        self.pcap.add_interface(self.linktype, 6, name=bus_name)
        self.capture_limit = capture_limit
        self._next_id = 0
        self.t = 0.0       # time of the last record written

    def _urb_id(self) -> int:
        self._next_id += 1
        return URB_ID_BASE + (self._next_id << 8)

    def _write(self, record: bytes, t: float) -> None:
        self.pcap.write(record, t)
        self.t = t

    def _kept(self, data: bytes) -> bytes:
        limit = self.capture_limit
        return data if limit is None else data[:limit]

    def flush(self) -> None:
        self.pcap.flush()

    def close(self) -> None:
        self.pcap.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class UsbmonWriter(_UsbWriter):
    """usbmon binary records (what dumpcap writes from ``usbmonN``): 64-byte headers, or 48 (189)."""

    def __init__(self, path: Path | str | BinaryIO, capture_limit: int | None = None, mmapped: bool = True,
                 bus_name: str = "usbmon0") -> None:
        self.mmapped = mmapped
        self.linktype = LINKTYPE_USB_LINUX_MMAPPED if mmapped else LINKTYPE_USB_LINUX
        super().__init__(path, capture_limit, bus_name)

    def record(self, urb_id: int, event: str, transfer: int, endpoint: int, bus: int, device: int, t: float, *,
               status: int = 0, length: int = 0, data: bytes = b"", setup_packet: bytes | None = None,
               data_flag: int = 0, interval: int = 0) -> None:
        """One usbmon event, as ``mon_bin`` fills ``struct usbmon_packet``."""
        usec = round(t * 1_000_000)
        kept = self._kept(data)
        flag_setup = 0 if setup_packet is not None else ord("-")
        head = usbmon.HEADER.pack(urb_id, ord(event), transfer, endpoint, device, bus, flag_setup,
                                  0 if kept else data_flag, usec // 1_000_000, usec % 1_000_000, status, length,
                                  len(kept), setup_packet if setup_packet is not None else bytes(8))
        if self.mmapped:
            flags = URB_DIR_IN if endpoint & 0x80 else 0
            head += usbmon.MMAPPED_EXTRA.pack(interval, 0, flags, 0)
        self._write(head + kept, t)

    def control(self, bus: int, device: int, request: bytes, t: float, data_out: bytes = b"",
                data_in: bytes = b"", status: int = 0) -> None:
        """A control transfer: the submission carries the request (and OUT data), the completion IN data."""
        urb = self._urb_id()
        endpoint = 0x80 if request[0] & 0x80 else 0x00
        wlength = struct.unpack_from("<H", request, 6)[0]
        self.record(urb, "S", CONTROL, endpoint, bus, device, t, status=EINPROGRESS,
                    length=wlength if endpoint else len(data_out), data=data_out, setup_packet=request,
                    data_flag=ord("<") if endpoint else 0)
        self.record(urb, "C", CONTROL, endpoint, bus, device, t + TRANSFER_TIME, status=status,
                    length=len(data_in) if endpoint else len(data_out), data=data_in,
                    data_flag=0 if endpoint else ord(">"))

    def bulk(self, bus: int, device: int, endpoint: int, data: bytes, t: float, requested: int | None = None,
             transfer: int = BULK, status: int = 0) -> None:
        """A bulk (or, with ``transfer=INTERRUPT``, interrupt) transfer; ``endpoint`` bit 7 = IN.

        OUT: the submission carries ``data``.  IN: the host asks for ``requested`` bytes (default
        ``len(data)``) and the completion brings ``data``."""
        urb = self._urb_id()
        interval = 8 if transfer == INTERRUPT else 0
        if endpoint & 0x80:
            self.record(urb, "S", transfer, endpoint, bus, device, t, status=EINPROGRESS,
                        length=len(data) if requested is None else requested, data_flag=ord("<"), interval=interval)
            self.record(urb, "C", transfer, endpoint, bus, device, t + TRANSFER_TIME, status=status,
                        length=len(data), data=data, interval=interval)
        else:
            self.record(urb, "S", transfer, endpoint, bus, device, t, status=EINPROGRESS, length=len(data),
                        data=data, interval=interval)
            self.record(urb, "C", transfer, endpoint, bus, device, t + TRANSFER_TIME, status=status,
                        length=len(data), data_flag=ord(">"), interval=interval)


class UsbPcapWriter(_UsbWriter):
    """USBPcap records (what Wireshark's USBPcap capture on Windows writes)."""

    linktype = LINKTYPE_USBPCAP

    def __init__(self, path: Path | str | BinaryIO, capture_limit: int | None = None,
                 bus_name: str = r"\\.\USBPcap1") -> None:
        super().__init__(path, capture_limit, bus_name)

    def record(self, irp: int, completion: bool, function: int, transfer: int, endpoint: int, bus: int,
               device: int, t: float, data: bytes = b"", status: int = 0, stage: int | None = None) -> None:
        kept = self._kept(data)
        extra = bytes([stage]) if stage is not None else b""
        head = usbpcap.HEADER.pack(usbpcap.HEADER.size + len(extra), irp, status, function, int(completion),
                                   bus, device, endpoint, transfer, len(kept))
        self._write(head + extra + kept, t)

    def control(self, bus: int, device: int, request: bytes, t: float, data_out: bytes = b"",
                data_in: bytes = b"", status: int = 0) -> None:
        irp = self._urb_id()
        endpoint = 0x80 if request[0] & 0x80 else 0x00
        self.record(irp, False, USBPCAP_CONTROL, CONTROL, endpoint, bus, device, t, request, stage=STAGE_SETUP)
        if data_out:
            self.record(irp, False, USBPCAP_CONTROL, CONTROL, endpoint, bus, device, t, data_out, stage=STAGE_DATA)
        self.record(irp, True, USBPCAP_CONTROL, CONTROL, endpoint, bus, device, t + TRANSFER_TIME, data_in,
                    status, stage=STAGE_COMPLETE)

    def bulk(self, bus: int, device: int, endpoint: int, data: bytes, t: float, requested: int | None = None,
             transfer: int = BULK, status: int = 0) -> None:
        irp = self._urb_id()
        if endpoint & 0x80:
            self.record(irp, False, USBPCAP_BULK, transfer, endpoint, bus, device, t)
            self.record(irp, True, USBPCAP_BULK, transfer, endpoint, bus, device, t + TRANSFER_TIME, data, status)
        else:
            self.record(irp, False, USBPCAP_BULK, transfer, endpoint, bus, device, t, data)
            self.record(irp, True, USBPCAP_BULK, transfer, endpoint, bus, device, t + TRANSFER_TIME, b"", status)


UsbWriter = UsbmonWriter | UsbPcapWriter

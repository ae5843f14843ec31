"""``sandbox watch --usb BUS|all``: the USB tap.

dumpcap captures the kernel's USB monitor (``usbmonN``; ``usbmon0`` for every bus) into
``RECORD_DIR/usb.pcapng`` (LINKTYPE_USB_LINUX_MMAPPED) before anything analyses it; the session
follows that recording, so a live session and a replay of its recording are the same by
construction.  The devices already present are written first to ``usb-inventory.pcapng``
(``hw.usb.inventory``); devices plugged in during the session enumerate in the capture itself.

usbmon ignores dumpcap's ``-B``: libpcap sizes its ring from the snaplen, so the full default
snaplen is kept (each transfer keeps at most ~240 KiB of its data; the report counts what was
cut).  Where the kernel has no usbmon or the user may not read it, the tap refuses with the reason
(``hw.usb.usbmon``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from hw.net.dumpcap import Dumpcap
from hw.tap import ProcessWatch, TapError
from hw.usb.inventory import INVENTORY, read_inventory, write_inventory
from hw.usb.usbmon import ALL_BUSES, UsbmonError, check, interface_for
from sandbox.model import NotExamined
from sandbox.session import CaptureSource, Source

RECORDING = "usb.pcapng"
# Seconds dumpcap may take to write a transfer after usbmon hands it over (as for the network tap).
WRITER_DELAY_S = 0.5


class UsbTap:
    """One usbmon interface recorded by dumpcap."""

    name = "usb"

    def __init__(self, bus: str, root: Path = Path("/"), writer_delay: float = WRITER_DELAY_S) -> None:
        try:
            self.interface = interface_for(bus)
        except UsbmonError as exc:
            raise TapError(str(exc)) from None
        self.bus = None if bus == ALL_BUSES else int(self.interface[6:])
        self.root = root
        self.writer_delay = writer_delay
        self.dumpcap: Dumpcap | None = None
        self.watch = ProcessWatch(f"usb {self.interface}")

    def start(self, session_dir: Path) -> list[Source]:
        try:
            check(self.interface, self.root)
        except UsbmonError as exc:
            raise TapError(str(exc)) from None
        path, inventory = Path(session_dir) / RECORDING, Path(session_dir) / INVENTORY
        if path.exists():
            raise TapError(f"{path} exists: record each session into a folder of its own")
        devices = read_inventory(self.root / "sys" / "bus" / "usb" / "devices", self.bus)
        write_inventory(inventory, devices, time.time())
        os.chmod(inventory, 0o600)
        self.dumpcap = Dumpcap(self.interface, path)
        self.dumpcap.start()
        self.watch.add("dumpcap", self.dumpcap.proc, "the USB recording ended and what the instrument sent over "
                       "USB was not examined")
        return [CaptureSource(inventory, follow=True, channel="usb", writer_delay=self.writer_delay),
                CaptureSource(path, follow=True, channel="usb", writer_delay=self.writer_delay)]

    def failures(self) -> list[NotExamined]:
        return self.watch.check()

    def stop(self) -> None:
        self.watch.stop()
        if self.dumpcap is not None:
            self.dumpcap.stop()


def add_arguments(parser) -> None:
    parser.add_argument("--usb", metavar="BUS|all",
                        help="capture a USB bus of the instrument PC through usbmon (a bus number as lsusb shows "
                             "it, or 'all'); recorded to RECORD_DIR/usb.pcapng, the devices already present to "
                             "RECORD_DIR/usb-inventory.pcapng (loads usbmon when root; needs read access to "
                             "/dev/usbmonN)")


def from_args(args) -> list[UsbTap]:
    return [UsbTap(args.usb)] if args.usb else []

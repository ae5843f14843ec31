"""``sandbox watch --usb BUS|all``: the USB tap.

dumpcap captures the kernel's USB monitor (``usbmonN``; ``usbmon0`` for every bus) into
``RECORD_DIR/usb.pcapng`` (LINKTYPE_USB_LINUX_MMAPPED) before anything analyses it; the session
follows that recording, so a live session and a replay of its recording are the same by
construction.  The devices already present are written first to ``usb-inventory.pcapng``
(``hw.usb.inventory``: pyusb over libusb, else sysfs); devices plugged in during the session
enumerate in the capture itself and, through the hot-plug monitor (``hw.usb.hotplug``), are
appended to the inventory recording too.

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
from hw.usb.hotplug import HOTPLUG_LOG, HotPlug, watch_hotplug
from hw.usb.inventory import INVENTORY, inventory_for, write_inventory
from hw.usb.usbmon import ALL_BUSES, UsbmonError, check, interface_for
from sandbox.captures.usbwriter import UsbmonWriter
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
        self.notes: list[str] = []
        self.inventory_writer: UsbmonWriter | None = None
        self.hotplug: HotPlug | None = None
        self.observer = None

    def start(self, session_dir: Path) -> list[Source]:
        try:
            check(self.interface, self.root)
        except UsbmonError as exc:
            raise TapError(str(exc)) from None
        path, inventory = Path(session_dir) / RECORDING, Path(session_dir) / INVENTORY
        if path.exists():
            raise TapError(f"{path} exists: record each session into a folder of its own")
        reader, how = inventory_for(self.root)
        devices = reader.devices(self.bus)
        self.notes = [f"{how}: {len(devices)} devices present", *reader.notes]
        self.inventory_writer = UsbmonWriter(inventory)
        os.chmod(inventory, 0o600)
        write_inventory(self.inventory_writer, devices, time.time())
        self.dumpcap = Dumpcap(self.interface, path)
        try:
            self.dumpcap.start()
        except TapError:
            self.stop()
            raise
        self.hotplug = HotPlug(self.inventory_writer, Path(session_dir) / HOTPLUG_LOG, self.bus)
        self.observer, line = watch_hotplug(self.hotplug)
        self.notes.append(line)
        self.watch.add("dumpcap", self.dumpcap.proc, "the USB recording ended and what the instrument sent over "
                       "USB was not examined")
        return [CaptureSource(inventory, follow=True, channel="usb", writer_delay=self.writer_delay),
                CaptureSource(path, follow=True, channel="usb", writer_delay=self.writer_delay)]

    def started_lines(self) -> list[str]:
        """Where the inventory came from and whether hot-plug is watched (or why not)."""
        return [f"usb tap: recording {self.interface}", *self.notes]

    def failures(self) -> list[NotExamined]:
        return self.watch.check()

    def stop(self) -> None:
        self.watch.stop()
        if self.observer is not None:
            self.observer.stop()
            self.observer = None
        if self.dumpcap is not None:
            self.dumpcap.stop()
        if self.hotplug is not None:
            self.hotplug.close()
            self.hotplug = None
        if self.inventory_writer is not None:
            self.inventory_writer.close()
            self.inventory_writer = None


def add_arguments(parser) -> None:
    parser.add_argument("--usb", metavar="BUS|all",
                        help="capture a USB bus of the instrument PC through usbmon (a bus number as lsusb shows "
                             "it, or 'all'); recorded to RECORD_DIR/usb.pcapng, the devices already present to "
                             "RECORD_DIR/usb-inventory.pcapng (loads usbmon when root; needs read access to "
                             "/dev/usbmonN)")


def from_args(args) -> list[UsbTap]:
    return [UsbTap(args.usb)] if args.usb else []

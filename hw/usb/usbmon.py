"""Where the kernel's USB monitor is, and a one-line reason when it is not.

usbmon is a kernel module (``CONFIG_USB_MON``) with one binary interface per bus (``/dev/usbmonN``;
``usbmon0`` sees every bus) that dumpcap and libpcap read.  It is loaded here when it is missing
and we may (root, ``modprobe`` present); otherwise the reason is said, never guessed around.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ALL_BUSES = "all"
MODPROBE_TIMEOUT_S = 30.0      # loading a module takes milliseconds; a hung modprobe must not hang the rig
_BUS = re.compile(r"^(?:usb|usbmon)?(\d{1,3})$")


class UsbmonError(Exception):
    """usbmon cannot be read: the one-line reason."""


def interface_for(bus: str) -> str:
    """``all`` -> ``usbmon0``; ``3``, ``usb3`` or ``usbmon3`` -> ``usbmon3``; else ``UsbmonError``."""
    if bus == ALL_BUSES:
        return "usbmon0"
    m = _BUS.match(bus.strip())
    if m is None or int(m.group(1)) == 0:
        raise UsbmonError(f"--usb {bus!r}: give a bus number (1, 2, ... as lsusb shows them) or 'all'")
    return f"usbmon{int(m.group(1))}"


def buses(root: Path = Path("/")) -> list[int]:
    """The USB bus numbers the kernel has (``/sys/bus/usb/devices/usbN``)."""
    devices = root / "sys" / "bus" / "usb" / "devices"
    if not devices.is_dir():
        return []
    return sorted(int(p.name[3:]) for p in devices.iterdir() if p.name.startswith("usb") and p.name[3:].isdigit())


def check(interface: str, root: Path = Path("/"), may_load: bool | None = None) -> Path:
    """The usbmon device node for ``interface`` once it can be read; ``UsbmonError`` with why not.

    ``may_load``: try ``modprobe usbmon`` when the module is missing (default: when running as root)."""
    if not (root / "sys" / "bus" / "usb").is_dir():
        raise UsbmonError("this kernel has no USB (/sys/bus/usb is missing): live USB capture cannot run here; "
                          "record on the instrument PC and use sandbox replay")
    node = root / "dev" / interface
    if not node.exists() and not (root / "dev" / "usbmon0").exists():
        _load(may_load if may_load is not None else os.geteuid() == 0)
    if not node.exists():
        if (root / "dev" / "usbmon0").exists():
            known = ", ".join(str(b) for b in buses(root)) or "none"
            raise UsbmonError(f"there is no USB bus {interface[6:]} (buses: {known}; 'all' captures every bus)")
        raise UsbmonError(f"{node} is missing after loading usbmon: is udev or devtmpfs running?")
    if not os.access(node, os.R_OK):
        raise UsbmonError(f"no permission to read {node}: run as root, or grant this user read access "
                          f"(e.g. setfacl -m u:$USER:r {node})")
    return node


def _load(allowed: bool) -> None:
    if not allowed:
        raise UsbmonError("the usbmon module is not loaded and only root may load it: run 'sudo modprobe usbmon'")
    modprobe = shutil.which("modprobe") or next((p for p in ("/sbin/modprobe", "/usr/sbin/modprobe")
                                                 if os.access(p, os.X_OK)), None)
    if modprobe is None:
        raise UsbmonError("the usbmon module is not loaded and modprobe is missing (Debian: apt-get install kmod)")
    try:
        res = subprocess.run([modprobe, "usbmon"], capture_output=True, text=True, timeout=MODPROBE_TIMEOUT_S,
                             check=False)
    except subprocess.TimeoutExpired:
        raise UsbmonError(f"modprobe usbmon did not return within {MODPROBE_TIMEOUT_S:.0f} s") from None
    if res.returncode != 0:
        why = (res.stderr.strip().splitlines() or ["it failed without saying why"])[-1]
        raise UsbmonError(f"cannot load usbmon: {why}")

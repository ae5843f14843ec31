"""Where usbmon is, and the one-line reason when it is not (this kernel has no USB: the refusal is
what can be tested here; the fake roots stand for kernels that have it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hw.usb.usbmon import UsbmonError, buses, check, interface_for


def _root(tmp_path: Path, buses_: tuple[int, ...] = (1, 2), nodes: tuple[int, ...] = (0, 1, 2)) -> Path:
    devices = tmp_path / "sys" / "bus" / "usb" / "devices"
    devices.mkdir(parents=True)
    for n in buses_:
        (devices / f"usb{n}").mkdir()
        (devices / f"{n}-1").mkdir()
    (tmp_path / "dev").mkdir()
    for n in nodes:
        (tmp_path / "dev" / f"usbmon{n}").write_bytes(b"")
    return tmp_path


@pytest.mark.parametrize(("bus", "iface"), [("all", "usbmon0"), ("3", "usbmon3"), ("usb2", "usbmon2"),
                                            ("usbmon12", "usbmon12")])
def test_bus_names(bus, iface):
    assert interface_for(bus) == iface


@pytest.mark.parametrize("bus", ["0", "x", "-1", "1.2", "", "9999"])
def test_bad_bus_names_say_what_to_give(bus):
    with pytest.raises(UsbmonError, match="give a bus number"):
        interface_for(bus)


def test_a_kernel_with_usbmon(tmp_path):
    root = _root(tmp_path)
    assert buses(root) == [1, 2]
    assert check("usbmon2", root) == root / "dev" / "usbmon2"


def test_a_bus_the_kernel_does_not_have(tmp_path):
    with pytest.raises(UsbmonError, match=r"there is no USB bus 7 \(buses: 1, 2; 'all' captures every bus\)"):
        check("usbmon7", _root(tmp_path))


def test_usbmon_not_loaded_and_not_ours_to_load(tmp_path):
    with pytest.raises(UsbmonError, match="only root may load it: run 'sudo modprobe usbmon'"):
        check("usbmon0", _root(tmp_path, nodes=()), may_load=False)


def test_no_usb_in_the_kernel(tmp_path):
    with pytest.raises(UsbmonError, match="this kernel has no USB"):
        check("usbmon0", tmp_path)


@pytest.mark.skipif(Path("/sys/bus/usb").exists(), reason="this machine's kernel has USB")
def test_this_machine_says_plainly_why_not():
    with pytest.raises(UsbmonError) as err:
        check("usbmon0")
    assert "\n" not in str(err.value) and "/sys/bus/usb is missing" in str(err.value)

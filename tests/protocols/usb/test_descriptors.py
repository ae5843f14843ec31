"""Descriptors are the device's own words: parsed as tshark parses them (real captures), total on
anything else (short, overlong, zero lengths, too many interfaces), strings made safe and bounded."""

from __future__ import annotations

import random
import subprocess

from sandbox.captures import open_capture
from sandbox.protocols.usb.descriptors import (
    MAX_INTERFACES,
    MAX_STRING,
    parse_config,
    parse_device,
    parse_string,
)
from sandbox.simulate.usb import configuration, endpoint, interface, network_adapter, serial_adapter


def test_the_real_composite_device_as_tshark_reads_it(shared_data):
    path = shared_data / "captures" / "usb" / "km003c_usbmon_orig_open_close.16.pcapng"
    configs = [s.data for s in open_capture(path) if s.data[:2] == b"\x09\x02" and len(s.data) > 9]
    value, interfaces = parse_config(configs[0])
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "usb.bInterfaceClass", "-T", "fields",
                          "-e", "usb.bInterfaceNumber", "-e", "usb.bInterfaceClass"],
                         capture_output=True, text=True, check=True).stdout.splitlines()[0].split("\t")
    numbers = [int(x, 16) if x.startswith("0x") else int(x) for x in out[0].split(",")]
    classes = [int(x, 16) for x in out[1].split(",")]
    assert [(i.number, i.cls) for i in interfaces] == list(zip(numbers, classes, strict=True))
    assert value == 1 and all(i.endpoints for i in interfaces if i.cls in (0x0A, 0xFF))


def test_cdc_unions_name_the_data_interfaces():
    _, interfaces = parse_config(serial_adapter().config)
    assert [(i.number, i.cls, i.slaves) for i in interfaces] == [(0, 0x02, [1]), (1, 0x0A, [])]
    _, interfaces = parse_config(network_adapter("ncm").config)
    assert [(i.number, i.alternate, len(i.endpoints)) for i in interfaces] == [(0, 0, 1), (1, 0, 0), (1, 1, 2)]


def test_garbage_never_raises_and_lists_are_capped():
    rng = random.Random(3)
    for _ in range(2000):
        blob = bytes([9, 2]) + rng.randbytes(rng.randrange(200))
        parse_config(blob)
        parse_device(bytes([18, 1]) + rng.randbytes(rng.randrange(30)))
        parse_string(bytes([rng.randrange(256), 3]) + rng.randbytes(rng.randrange(300)))
    many = configuration(b"".join(interface(n % 256, 0xFF, 0, 0, 1) + endpoint(0x81, 2) for n in range(500)), 255)
    _, interfaces = parse_config(many[:65535])
    assert len(interfaces) == MAX_INTERFACES
    assert parse_config(b"\x09\x02\x20\x00\x01\x01\x00\x80\x32" + b"\x00\x04" * 10) == (1, [])   # zero lengths
    assert parse_device(b"\x12\x02" + bytes(16)) is None and parse_config(b"\x09\x01") is None


def test_strings_are_made_safe_and_bounded():
    evil = "\x1b]0;owned\x07" + "A" * 400
    raw = evil.encode("utf-16-le")
    text = parse_string(bytes([255, 3]) + raw)
    assert "\x1b" not in text and "\x07" not in text and len(text) <= MAX_STRING
    assert parse_string(b"\x05\x03a\x00b") == "a" and parse_string(b"\x02\x02") is None

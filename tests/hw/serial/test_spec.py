"""``--serial`` specs: ports, settings, and the one-line reasons a bad one is refused."""

from __future__ import annotations

import pytest

from hw.serial.spec import LineSpec, SpecError, parse_spec


def test_defaults_and_full_settings():
    assert parse_spec("/dev/ttyUSB0:/dev/ttyS1") == LineSpec("/dev/ttyUSB0", "/dev/ttyS1")
    spec = parse_spec("/dev/ttyUSB0:/dev/ttyS1@9600,7e2,xonxoff")
    assert (spec.baud, spec.bytesize, spec.parity, spec.stopbits, spec.flow) == (9600, 7, "E", 2, "xonxoff")
    assert spec.settings == "9600 7E2 xonxoff"
    assert parse_spec("/dev/a:/dev/b@921600,rtscts").settings == "921600 8N1 rtscts"
    assert parse_spec("/dev/a:/dev/b@115200,8N1.5").stopbits == 1.5


def test_the_spec_round_trips_through_text():
    for text in ("/dev/a:/dev/b", "/dev/a:/dev/b@9600,7O1.5,rtscts", "ttyUSB0:ttyUSB1@300"):
        spec = parse_spec(text)
        assert parse_spec(spec.text) == spec


def test_bare_names_are_dev_and_colons_inside_names():
    assert parse_spec("ttyUSB0:ttyUSB1") == LineSpec("/dev/ttyUSB0", "/dev/ttyUSB1")
    by_path = "/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0"
    assert parse_spec(f"{by_path}:/dev/ttyS0@57600") == LineSpec(by_path, "/dev/ttyS0", baud=57600)
    assert parse_spec(f"{by_path}:{by_path}1").host == by_path + "1"


@pytest.mark.parametrize(("text", "why"), [
    ("/dev/ttyUSB0", "INSTRUMENT_PORT:HOST_PORT"),
    ("a:b:c", "INSTRUMENT_PORT:HOST_PORT"),
    ("/dev/a:/dev/b@fast", "is not a number"),
    ("/dev/a:/dev/b@0", "out of range"),
    ("/dev/a:/dev/b@115200,9N1", "neither a frame"),
    ("/dev/a:/dev/b@115200,8N1,dsrdtr", "neither a frame"),
    ("/dev/a:/dev/a", "two different ports"),
    ("rfc2217://10.0.0.5:4001:/dev/ttyS1", "not URLs"),
])
def test_bad_specs_say_why_in_one_line(text, why):
    with pytest.raises(SpecError) as err:
        parse_spec(text)
    assert why in str(err.value) and "\n" not in str(err.value)

"""``--serial INSTRUMENT_PORT:HOST_PORT[@BAUD[,8N1][,rtscts|xonxoff]]``: one bridged line.

The port before the colon is the one the instrument is cabled to: what the rig reads there is what
the instrument sent (direction "out", correlated); the port after it goes to the host (the control
PC, a service laptop).  Ports are device paths (``/dev/ttyUSB0``, ``/dev/serial/by-id/...``, whose
names survive a replug); a bare name such as ``ttyUSB0`` means ``/dev/ttyUSB0``.  A name with colons
of its own (``/dev/serial/by-path/pci-0000:00:14.0-...``) is fine when the host port is an
absolute path: the separator is the colon before the ``/``; ``@`` always begins the settings.
Settings apply to both ends: baud rate, frame (data bits 5-8, parity N/E/O/M/S, stop bits 1/1.5/2),
flow control (none, rtscts, xonxoff).  Default ``115200,8N1``, no flow control.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

DEFAULT_BAUD = 115200
FLOW_CONTROL = ("none", "rtscts", "xonxoff")
_FRAME = re.compile(r"([5-8])([NEOMS])(1|1\.5|2)", re.IGNORECASE)
# Highest baud rate accepted: 4 Mbit/s is the top of common USB-serial chips (FTDI FT232H: 12 Mbaud
# is rare on instruments); anything above is a typo.
MAX_BAUD = 4_000_000


class SpecError(ValueError):
    """A ``--serial`` value that cannot be a line: one line saying why."""


@dataclass(frozen=True)
class LineSpec:
    instrument: str
    host: str
    baud: int = DEFAULT_BAUD
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    flow: str = "none"

    @property
    def settings(self) -> str:
        """``115200 8N1`` (and the flow control, if any): how the recording describes the line."""
        stop = "1.5" if self.stopbits == 1.5 else str(int(self.stopbits))
        text = f"{self.baud} {self.bytesize}{self.parity}{stop}"
        return text if self.flow == "none" else f"{text} {self.flow}"

    @property
    def text(self) -> str:
        """The spec again, as ``parse_spec`` reads it (how the tap hands lines to the bridge)."""
        stop = "1.5" if self.stopbits == 1.5 else str(int(self.stopbits))
        return f"{self.instrument}:{self.host}@{self.baud},{self.bytesize}{self.parity}{stop},{self.flow}"


def _split_ports(ports: str) -> tuple[str, str]:
    colons = [i for i, c in enumerate(ports) if c == ":" and 0 < i < len(ports) - 1]
    if len(colons) > 1:
        colons = [i for i in colons if ports[i + 1] == "/"]
    if len(colons) != 1:
        raise SpecError(f"--serial {ports!r}: expected INSTRUMENT_PORT:HOST_PORT (a port name with colons "
                        "needs the host port as an absolute path)")
    i = colons[0]
    return _device(ports[:i]), _device(ports[i + 1:])


def _device(name: str) -> str:
    if "/" not in name and not os.path.exists(name):
        return f"/dev/{name}"
    return name


def _settings(text: str, spec: dict) -> None:
    parts = [p.strip() for p in text.split(",")]
    try:
        spec["baud"] = int(parts[0])
    except ValueError:
        raise SpecError(f"--serial: baud rate {parts[0]!r} is not a number") from None
    if not 0 < spec["baud"] <= MAX_BAUD:
        raise SpecError(f"--serial: baud rate {spec['baud']} is out of range (1 to {MAX_BAUD})")
    for part in parts[1:]:
        frame = _FRAME.fullmatch(part)
        if frame:
            spec["bytesize"], spec["parity"] = int(frame[1]), frame[2].upper()
            spec["stopbits"] = float(frame[3]) if frame[3] == "1.5" else int(frame[3])
        elif part.lower() in FLOW_CONTROL:
            spec["flow"] = part.lower()
        else:
            raise SpecError(f"--serial: {part!r} is neither a frame like 8N1 nor one of {', '.join(FLOW_CONTROL)}")


def parse_spec(text: str) -> LineSpec:
    if "://" in text:
        raise SpecError(f"--serial {text!r}: serial ports are device paths such as /dev/ttyUSB0, not URLs")
    ports, at, settings = text.rpartition("@")
    if not at:
        ports = text
    spec: dict = {}
    if at:
        _settings(settings, spec)
    instrument, host = _split_ports(ports)
    if os.path.realpath(instrument) == os.path.realpath(host):
        raise SpecError(f"--serial {text!r}: the instrument and the host need two different ports")
    return LineSpec(instrument, host, **spec)

"""Serial benches made of real PTYs: socat joins two PTYs per cable, so one line is
instrument end <-> rig's instrument port ... rig's host port <-> host end.

    with serial_bench(lines=1) as bench:
        line = bench.lines[0]      # .instrument_end, .rig_instrument, .rig_host, .host_end (paths)
        ... sandbox watch --serial {line.spec} ...; write on instrument_end, read on host_end
        line.instrument_cable.replug()     # the instrument's adapter pulled and put back

Links live in a folder ``/tmp/sbx-serial-XXXX`` of their own (removed at the end); socat removes a
cable's links when it stops and makes them again when it starts, as /dev/serial/by-id names do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT = 15.0   # socat makes its two PTYs in milliseconds, even on a loaded machine


class Cable:
    """Two PTYs joined by socat: what one end writes, the other reads."""

    def __init__(self, a: Path, b: Path) -> None:
        self.a, self.b = a, b
        self.proc: subprocess.Popen | None = None
        self.plug()

    def plug(self) -> None:
        if shutil.which("socat") is None:
            pytest.fail("socat is not installed (scripts/install-system-deps.sh installs it)")
        self.proc = subprocess.Popen(["socat", f"pty,rawer,link={self.a}", f"pty,rawer,link={self.b}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while not (self.a.exists() and self.b.exists()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"socat did not make {self.a} and {self.b}")
            time.sleep(0.01)

    def unplug(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
        deadline = time.monotonic() + START_TIMEOUT
        while (self.a.exists() or self.b.exists()) and time.monotonic() < deadline:
            time.sleep(0.01)

    def replug(self, after: float = 0.5) -> None:
        self.unplug()
        time.sleep(after)      # the adapter is out for a moment (not a timing assertion)
        self.plug()


@dataclass
class BenchLine:
    instrument_end: Path      # where the instrument (the test) writes and reads
    rig_instrument: Path      # the rig's port cabled to the instrument
    rig_host: Path            # the rig's port cabled to the host
    host_end: Path            # where the host (the test) writes and reads
    instrument_cable: Cable
    host_cable: Cable

    def spec(self, settings: str = "") -> str:
        return f"{self.rig_instrument}:{self.rig_host}" + (f"@{settings}" if settings else "")


@dataclass
class Bench:
    folder: Path
    lines: list[BenchLine]


@contextmanager
def serial_bench(lines: int = 1) -> Iterator[Bench]:
    folder = Path(tempfile.mkdtemp(prefix="sbx-serial-", dir="/tmp"))
    cables: list[Cable] = []
    try:
        bench = []
        for i in range(lines):
            ia, ib, hc, hd = (folder / f"{i}{n}" for n in ("instrument", "rig-i", "rig-h", "host"))
            ci, ch = Cable(ia, ib), Cable(hc, hd)
            cables += [ci, ch]
            bench.append(BenchLine(ia, ib, hc, hd, ci, ch))
        yield Bench(folder, bench)
    finally:
        for cable in cables:
            cable.unplug()
        shutil.rmtree(folder, ignore_errors=True)


def open_end(path: Path) -> int:
    """A bench end opened raw and blocking for the test to write and read."""
    import termios
    import tty

    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    return fd


def read_exactly(fd: int, size: int, timeout: float = 60.0) -> bytes:
    """``size`` bytes from ``fd`` (what the bridge forwarded), or fewer if they never come."""
    import select

    out = bytearray()
    deadline = time.monotonic() + timeout
    while len(out) < size and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            out += os.read(fd, size - len(out))
    return bytes(out)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]

"""``sandbox watch --serial INSTRUMENT_PORT:HOST_PORT[@115200,8N1[,rtscts|xonxoff]]``: the serial tap.

The rig sits in the middle of the line: one bridge process (``hw.serial.bridge``) forwards both
ways unchanged and records every chunk to ``RECORD_DIR/serial.pcapng`` (LINKTYPE_RTAC_SERIAL, one
interface per line) before anything analyses it; the session follows that recording, so a live
session and a replay of its recording are the same by construction.  The instrument's port comes
first in the spec (its bytes are "out", what may leak); the host's port is the destination findings
name.  See ``hw.serial.spec`` for the spec and ``hw.serial.bridge`` for what the bridge does.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

from hw.serial.spec import LineSpec, SpecError, parse_spec
from hw.tap import ProcessWatch, TapError
from sandbox.model import NotExamined
from sandbox.session import CaptureSource, Source

RECORDING = "serial.pcapng"
# Seconds the bridge may take to write a chunk after reading it: it writes within microseconds;
# this covers a bridge process kept off the CPU on a loaded machine (findings still land within
# a second: this plus the flow table's idle flush and the store's flush).
WRITER_DELAY_S = 0.2
# Seconds the bridge has to open its ports and say ready (a Python start on a loaded machine).
READY_TIMEOUT_S = 30.0
# Seconds the bridge has to close its recording once told to stop.
STOP_TIMEOUT_S = 10.0


class SerialTap:
    """Every ``--serial`` line of a session, bridged by one process."""

    name = "serial"

    def __init__(self, specs: list[LineSpec], writer_delay: float = WRITER_DELAY_S) -> None:
        self.specs = specs
        self.writer_delay = writer_delay
        self.proc: subprocess.Popen | None = None
        self.watch = ProcessWatch("serial " + ", ".join(f"{spec.instrument}:{spec.host}" for spec in specs))

    def start(self, session_dir: Path) -> list[Source]:
        path = Path(session_dir) / RECORDING
        if path.exists():
            raise TapError(f"{path} exists: record each session into a folder of its own")
        argv = [sys.executable, "-m", "hw.serial.bridge", "--record", str(path),
                "--log", str(Path(session_dir) / "serial-bridge.log")]
        for spec in self.specs:
            argv += ["--line", spec.text]
        # its own session: Ctrl-C reaches the session, which stops the bridge once it is done reading
        self.proc = proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT_S
        line = b""
        while time.monotonic() < deadline and not line.endswith(b"\n"):
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(proc.stdout.fileno(), 64)
            if not chunk:
                break
            line += chunk
        if line.strip() != b"ready":
            self._halt()
            err = (proc.stderr.read() or b"").decode(errors="replace").strip().splitlines()
            proc.stderr.close()
            why = err[-1] if err else f"the serial bridge did not start within {READY_TIMEOUT_S:.0f} s"
            raise TapError(why)
        self.watch.add("the serial bridge", proc, "its lines were neither bridged nor recorded, and what the "
                       "instrument sent was not examined")
        return [CaptureSource(path, follow=True, channel="serial", writer_delay=self.writer_delay)]

    def failures(self) -> list[NotExamined]:
        return self.watch.check()

    def stop(self) -> None:
        self.watch.stop()
        if self._halt():
            self.proc.stderr.close()

    def _halt(self) -> bool:
        """Stop the bridge (it closes the recording); False when there was none running."""
        proc = self.proc
        if proc is None or proc.stdout.closed:
            return False
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdin.close()
        proc.stdout.close()
        return True


def add_arguments(parser) -> None:
    parser.add_argument(
        "--serial", action="append", default=[], metavar="INSTRUMENT_PORT:HOST_PORT[@115200,8N1[,rtscts|xonxoff]]",
        help="bridge a serial line: the instrument's port, the host's port, settings for both (default "
             "115200,8N1, no flow control); bytes pass unchanged and are recorded to RECORD_DIR/serial.pcapng; "
             "repeat for several lines")


def from_args(args) -> list[SerialTap]:
    if not args.serial:
        return []
    try:
        specs = [parse_spec(text) for text in args.serial]
    except SpecError as exc:
        raise TapError(str(exc)) from None
    seen: dict[str, str] = {}
    for spec in specs:
        for port in (spec.instrument, spec.host):
            real = os.path.realpath(port)
            if real in seen:
                raise TapError(f"serial port {port} is named twice (--serial {seen[real]})")
            seen[real] = port
            if not os.path.exists(port):
                raise TapError(f"serial port {port} does not exist")
    return [SerialTap(specs)]

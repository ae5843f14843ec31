"""The serial bridge process: instrument port <-> host port, bytes unchanged, every chunk recorded first.

    python -m hw.serial.bridge --record serial.pcapng --line /dev/ttyUSB0:/dev/ttyS1@115200,8N1,none ...

One process runs every line of a session in one select loop (no thread, no lock; the session
process never blocks it).  A chunk read on one port is written to the recording (flushed) and then to
the other port, so the rig never lets through a byte it has not recorded.  Line settings and flow
control are applied to both ports; flow control is hop by hop, and a side whose bytes the other
side does not take stops being read (at MAX_PENDING), so back-pressure reaches the sender.

Modem lines are polled and forwarded where a DTE port can drive them (the instrument's RTS/DTR,
seen as our CTS/DSR, become the host port's RTS/DTR and back; DCD and RI are recorded only); with
rtscts the kernel owns RTS/CTS.  A BREAK (read through PARMRK) is recorded and sent on.  A port that
fails (a USB adapter pulled, a PTY closed) is closed, the gap is recorded, and the port is reopened
by name until it comes back; what the other side sends meanwhile is still recorded.

Exit status 2 with one line on stderr when a port cannot be opened at start; ``ready`` on stdout
once every line is up.  SIGTERM, SIGINT or the end of stdin (the session went away) stop it.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import os
import select
import signal
import struct
import sys
import termios
import time
from pathlib import Path

import serial

from hw.serial.marks import Unmarker
from hw.serial.spec import LineSpec, SpecError, parse_spec
from sandbox.captures.serialwriter import SerialRecording, line_bits

# Bytes per read: a few ms of the fastest line (921600 baud is ~92 bytes/ms); a chunk is recorded
# and forwarded as soon as it is read, so this bounds chunk size, not latency.
READ_SIZE = 4096
# Bytes queued towards a port that is not taking them before the other side stops being read:
# a 4 KiB UART/tty buffer and then some; more would only hide back-pressure.
MAX_PENDING = 64 * 1024
# How often modem lines are polled: TIOCMIWAIT would need a thread per port; 10 ms is well under
# any handshake an instrument waits for.
MODEM_POLL_S = 0.01
# How often a pulled port is tried again: a USB-serial adapter re-enumerates in ~0.5-1 s.
REOPEN_S = 0.2
# How often the kernel's overrun counters are read (bytes lost before the rig could read them).
OVERRUN_POLL_S = 1.0
# How long a forwarded BREAK holds the line: what tcsendbreak(fd, 0) sends (0.25-0.5 s).
BREAK_S = 0.25
# Longest sleep of the loop with nothing to do: how fast it notices a stop or a replug attempt.
IDLE_S = 0.1
# Scheduling priority raise: the bridge mostly sleeps in select, and a line must not wait for the
# session's decoding and matching (the same two cores) to hand over its next byte.
BRIDGE_NICE = -10
TIOCGICOUNT = 0x545D
ICOUNT = struct.Struct("20i")          # struct serial_icounter_struct
ICOUNT_OVERRUN, ICOUNT_BUF_OVERRUN = 7, 10
MODEM_BITS = {"CTS": termios.TIOCM_CTS, "DCD": termios.TIOCM_CAR, "DSR": termios.TIOCM_DSR,
              "RTS": termios.TIOCM_RTS, "DTR": termios.TIOCM_DTR, "RI": termios.TIOCM_RNG}
PARITY = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD, "M": serial.PARITY_MARK,
          "S": serial.PARITY_SPACE}
UNPLUG_ERRORS = (errno.EIO, errno.ENXIO, errno.ENODEV, errno.EBADF, errno.EPIPE)


class _KeepInput(serial.Serial):
    """pyserial's port, except that opening it keeps what the port already received: bytes that
    arrived between a replug and the reopen are the instrument's too."""

    def _reset_input_buffer(self) -> None:
        pass


class PortError(Exception):
    """A port that cannot be opened: one line."""


def open_error(side: str, port: str, exc: Exception) -> PortError:
    code = getattr(exc, "errno", None)
    why = {errno.ENOENT: "does not exist", errno.EBUSY: "is busy (another program holds it)",
           errno.EWOULDBLOCK: "is busy (another program holds it)", errno.EACCES: "permission denied",
           errno.ENXIO: "has no device behind it", errno.ENODEV: "has no device behind it"}.get(code)
    if why is None:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return PortError(f"cannot open the {side} serial port {port}: {why}")


class Port:
    """One end of a line, opened with the line's settings; read and written by its descriptor."""

    def __init__(self, path: str, side: str, spec: LineSpec) -> None:
        self.path, self.side, self.spec = path, side, spec
        self.serial: serial.Serial | None = None
        self.fd = -1
        self.modem = False            # TIOCMGET works (real UARTs, USB adapters; not PTYs)
        self.icount = False
        self.overruns = 0
        self.unmarker = Unmarker()

    def open(self) -> None:
        spec = self.spec
        port = _KeepInput()
        port.port = self.path
        port.baudrate, port.bytesize, port.parity = spec.baud, spec.bytesize, PARITY[spec.parity]
        port.stopbits = spec.stopbits
        port.rtscts, port.xonxoff = spec.flow == "rtscts", spec.flow == "xonxoff"
        port.exclusive = True         # flock: a second bridge or a pyserial program is refused
        try:
            port.open()
        except (serial.SerialException, OSError, ValueError) as exc:
            raise open_error(self.side, self.path, exc) from None
        try:
            attrs = termios.tcgetattr(port.fileno())
            attrs[0] = (attrs[0] | termios.PARMRK) & ~(termios.IGNBRK | termios.BRKINT | termios.ISTRIP
                                                       | termios.IGNPAR)
            termios.tcsetattr(port.fileno(), termios.TCSANOW, attrs)
        except (termios.error, OSError) as exc:     # the device went away while opening
            port.close()
            raise open_error(self.side, self.path, exc) from None
        self.serial, self.fd = port, port.fileno()
        self.unmarker = Unmarker()
        self.modem = self.lines() is not None
        try:
            self.overruns = self._overruns()
            self.icount = True
        except OSError:
            self.icount = False

    @property
    def is_open(self) -> bool:
        return self.fd >= 0

    def close(self) -> None:
        if self.serial is not None:
            try:
                self.serial.close()
            except (OSError, serial.SerialException):
                pass
        self.serial, self.fd = None, -1

    def read(self) -> bytes:
        """What the port has (b"" when it hung up); OSError when the device went away."""
        return os.read(self.fd, READ_SIZE)

    def write(self, data: bytes | bytearray) -> int:
        try:
            return os.write(self.fd, data)
        except BlockingIOError:
            return 0

    def lines(self) -> int | None:
        """TIOCMGET bits, or None where the port has no modem lines (a PTY)."""
        try:
            return struct.unpack("I", fcntl.ioctl(self.fd, termios.TIOCMGET, b"\0" * 4))[0]
        except OSError:
            return None

    def drive(self, rts: bool | None, dtr: bool) -> None:
        for bit, on in ((termios.TIOCM_RTS, rts), (termios.TIOCM_DTR, dtr)):
            if on is not None:
                fcntl.ioctl(self.fd, termios.TIOCMBIS if on else termios.TIOCMBIC, struct.pack("I", bit))

    def set_break(self, on: bool) -> None:
        fcntl.ioctl(self.fd, termios.TIOCSBRK if on else termios.TIOCCBRK)

    def _overruns(self) -> int:
        counts = ICOUNT.unpack(fcntl.ioctl(self.fd, TIOCGICOUNT, b"\0" * ICOUNT.size))
        return counts[ICOUNT_OVERRUN] + counts[ICOUNT_BUF_OVERRUN]

    def new_overruns(self) -> int:
        if not self.icount:
            return 0
        try:
            now = self._overruns()
        except OSError:
            return 0
        lost, self.overruns = max(0, now - self.overruns), now
        return lost


def line_names(bits: int) -> set[str]:
    return {name for name, bit in MODEM_BITS.items() if bits & bit}


class Line:
    """One bridged line: two ports, what each owes the other, the gaps."""

    def __init__(self, spec: LineSpec, rec: SerialRecording, port: type[Port] = Port) -> None:
        self.spec = spec
        self.id = rec.add_line(spec.instrument, spec.host, spec.settings, baud=spec.baud)
        self.ports = {"instrument": port(spec.instrument, "instrument", spec),
                      "host": port(spec.host, "host", spec)}
        self.pending = {"instrument": bytearray(), "host": bytearray()}    # bytes owed to that port
        self.down: dict[str, float] = {}
        self.undelivered = {"instrument": 0, "host": 0}
        self.bits = 0                  # modem lines at the instrument port, as recorded
        self.host_bits = 0
        self.break_until: dict[str, float] = {}


OTHER = {"instrument": "host", "host": "instrument"}
DIRECTION = {"instrument": "out", "host": "in"}      # who sent the bytes read on a side


class Bridge:
    """Every line of a session in one loop; ``port`` is the port class (tests give one with modem
    lines, which PTYs cannot have)."""

    def __init__(self, specs: list[LineSpec], rec: SerialRecording, clock=time.time, port: type[Port] = Port) -> None:
        self.rec = rec
        self.clock = clock
        self.lines = [Line(spec, rec, port) for spec in specs]
        self.last_t = 0.0
        self.stopping = False
        self._next_modem = self._next_reopen = self._next_overrun = 0.0

    def now(self) -> float:
        """Capture time, never going back (a recording's Segments are in time order)."""
        self.last_t = max(self.last_t, self.clock())
        return self.last_t

    # -- start and stop ------------------------------------------------------------------------
    def open(self) -> None:
        """Open every port (PortError: nothing stays open), record each line as opened."""
        opened: list[Port] = []
        try:
            for line in self.lines:
                for port in line.ports.values():
                    port.open()
                    opened.append(port)
        except PortError:
            for port in opened:
                port.close()
            raise
        for line in self.lines:
            self._poll_lines(line, forward=True, record=False)
            t = self.now()
            modem = "" if all(p.modem for p in line.ports.values()) else "modem lines not available on this port"
            self.rec.event(line.id, "opened", "line", t, line_bits(line_names(line.bits)), detail=modem)

    def close(self) -> None:
        t = self.now()
        for line in self.lines:
            for port in line.ports.values():
                port.close()
            self.rec.event(line.id, "closed", "line", t)

    # -- the loop ------------------------------------------------------------------------------
    def run(self, stdin: int | None = None) -> None:
        while not self.stopping:
            readers: dict[int, tuple[Line, str]] = {}
            writers: dict[int, tuple[Line, str]] = {}
            for line in self.lines:
                for side, port in line.ports.items():
                    if not port.is_open:
                        continue
                    if len(line.pending[OTHER[side]]) < MAX_PENDING:
                        readers[port.fd] = (line, side)
                    if line.pending[side]:
                        writers[port.fd] = (line, side)
            rlist = list(readers) + ([stdin] if stdin is not None else [])
            try:
                ready_r, ready_w, _ = select.select(rlist, list(writers), [], self._timeout())
            except InterruptedError:
                continue
            if stdin is not None and stdin in ready_r and not os.read(stdin, 4096):
                break                  # the session went away
            for fd in ready_r:
                if fd in readers:
                    self._read(*readers[fd])
            for fd in ready_w:
                line, side = writers[fd]
                if line.ports[side].is_open:
                    self._flush(line, side)
            self._housekeeping()

    def _timeout(self) -> float:
        modem = any(p.modem and p.is_open for line in self.lines for p in line.ports.values())
        busy = modem or any(line.down or line.break_until for line in self.lines)
        return MODEM_POLL_S if busy else IDLE_S

    def _read(self, line: Line, side: str) -> None:
        port = line.ports[side]
        if not port.is_open:        # closed earlier in this round (a write to it failed)
            return
        try:
            data = port.read()
        except BlockingIOError:
            return
        except OSError as exc:
            self._unplugged(line, side, f"[Errno {exc.errno}] {exc.strerror}")
            return
        if not data:
            self._unplugged(line, side, "hung up")
            return
        direction, other = DIRECTION[side], OTHER[side]
        for kind, payload in port.unmarker.feed(data):
            t = self.now()
            bits = line_bits(line_names(line.bits))
            if kind == "break":
                self.rec.event(line.id, "break", side, t, bits)
                self._send_break(line, other, t)
                continue
            if kind == "error":
                event = "framing-error" if line.spec.parity == "N" else "parity-error"
                self.rec.event(line.id, event, side, t, bits)
            self.rec.data(line.id, direction, payload, t, bits)       # recorded first
            if line.ports[other].is_open:
                line.pending[other] += payload
                self._flush(line, other)
            else:
                line.undelivered[other] += len(payload)

    def _flush(self, line: Line, side: str) -> None:
        pending = line.pending[side]
        try:
            sent = line.ports[side].write(pending)
        except OSError as exc:
            self._unplugged(line, side, f"[Errno {exc.errno}] {exc.strerror}")
            return
        del pending[:sent]

    def _send_break(self, line: Line, side: str, t: float) -> None:
        port = line.ports[side]
        if port.is_open:
            try:
                port.set_break(True)
                line.break_until[side] = t + BREAK_S
            except OSError:
                pass

    def _unplugged(self, line: Line, side: str, why: str) -> None:
        line.ports[side].close()
        line.undelivered[side] += len(line.pending[side])
        line.pending[side].clear()
        line.break_until.pop(side, None)
        t = self.now()
        line.down[side] = t
        self.rec.event(line.id, "unplugged", side, t, detail=why)

    # -- what the clock brings -----------------------------------------------------------------
    def _housekeeping(self) -> None:
        now = time.monotonic()
        for line in self.lines:
            for side, until in list(line.break_until.items()):
                if self.clock() >= until:
                    del line.break_until[side]
                    try:
                        line.ports[side].set_break(False)
                    except OSError:
                        pass
        if now >= self._next_modem:
            self._next_modem = now + MODEM_POLL_S
            for line in self.lines:
                self._poll_lines(line, forward=False)
        if now >= self._next_reopen:
            self._next_reopen = now + REOPEN_S
            for line in self.lines:
                for side in list(line.down):
                    self._reopen(line, side)
        if now >= self._next_overrun:
            self._next_overrun = now + OVERRUN_POLL_S
            for line in self.lines:
                for side, port in line.ports.items():
                    lost = port.new_overruns() if port.is_open else 0
                    if lost:
                        self.rec.data_lost(line.id, lost, side, self.now(), f"{lost} bytes (UART overrun)")

    def _reopen(self, line: Line, side: str) -> None:
        port = line.ports[side]
        try:
            port.open()
        except PortError:
            return
        since = line.down.pop(side)
        t = self.now()
        gap = f"after {t - since:.1f} s"
        if line.undelivered[side]:
            gap += f"; {line.undelivered[side]} bytes recorded meanwhile were not delivered to it"
            line.undelivered[side] = 0
        self.rec.event(line.id, "replugged", side, t, line_bits(line_names(line.bits)), detail=gap)
        self._poll_lines(line, forward=True)

    def _poll_lines(self, line: Line, forward: bool, record: bool = True) -> None:
        """Record modem-line changes; drive each port's RTS/DTR from what the other side asserts."""
        inst, host = line.ports["instrument"], line.ports["host"]
        bits = inst.lines() if inst.modem and inst.is_open else None
        host_bits = host.lines() if host.modem and host.is_open else None
        changed = False
        if bits is not None and bits != line.bits:
            line.bits, changed = bits, True
        if host_bits is not None and host_bits != line.host_bits:
            line.host_bits, changed = host_bits, True
        if not (changed or forward):
            return
        own_rts = line.spec.flow == "rtscts"           # then the kernel drives RTS from its buffer
        try:
            if bits is not None and host.modem and host.is_open:
                host.drive(None if own_rts else bool(bits & termios.TIOCM_CTS), bool(bits & termios.TIOCM_DSR))
            if host_bits is not None and inst.modem and inst.is_open:
                inst.drive(None if own_rts else bool(host_bits & termios.TIOCM_CTS),
                           bool(host_bits & termios.TIOCM_DSR))
        except OSError:
            pass
        if changed and record:
            after = inst.lines() if inst.modem and inst.is_open else None   # our RTS/DTR as now driven
            if after is not None:
                line.bits = after
            host_names = " ".join(sorted(line_names(line.host_bits))) or "none"
            self.rec.event(line.id, "lines", "line", self.now(), line_bits(line_names(line.bits)),
                           detail=f"host port: {host_names}")


def _private(path: Path):
    """The recording file, readable by its owner only (it holds what the instrument sent)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "wb")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hw.serial.bridge", description=__doc__.splitlines()[0])
    p.add_argument("--record", type=Path, required=True, help="the pcapng to write")
    p.add_argument("--line", action="append", required=True, metavar="SPEC",
                   help="INSTRUMENT_PORT:HOST_PORT[@BAUD[,8N1][,rtscts|xonxoff]]")
    p.add_argument("--log", type=Path, help="where messages go once the lines are up")
    args = p.parse_args(argv)
    try:
        specs = [parse_spec(text) for text in args.line]
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return 2
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(True))
    try:
        out = _private(args.record)
    except OSError as exc:
        print(f"cannot record into {args.record}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    rec = SerialRecording(out)
    bridge = Bridge(specs, rec)
    try:
        bridge.open()
    except PortError as exc:
        print(exc, file=sys.stderr)
        out.close()
        args.record.unlink()          # nothing was recorded: no empty recording left behind
        return 2
    if args.log is not None:
        log = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log, 2)
    try:              # ahead of the session's analysis on a busy machine, when allowed (root)
        os.nice(BRIDGE_NICE)
    except OSError:
        pass
    print("ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: setattr(bridge, "stopping", True))
    signal.signal(signal.SIGINT, lambda *_: setattr(bridge, "stopping", True))
    if stop:
        bridge.stopping = True
    try:
        bridge.run(stdin=sys.stdin.fileno())
    finally:
        bridge.close()
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The serial bridge process on real PTYs: bytes pass unchanged both ways at every baud setting and
are recorded first; an unplugged port is reopened with the gap recorded; a missing or busy port is
one line and exit 2.  Modem lines and BREAKs, which PTYs cannot carry (TIOCMGET is ENOTTY there and
a break is dropped), are checked on ports that have them in memory."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest
import serial

from hw.serial.bridge import BREAK_S, Bridge, Port
from hw.serial.spec import parse_spec
from sandbox.captures import open_capture
from sandbox.captures.serialwriter import SerialRecording
from tests.serialpty import open_end, read_exactly, serial_bench, write_all

REPO = Path(__file__).resolve().parents[3]
WAIT_S = 60   # generous: a loaded 2-core machine; never a performance assertion
# What a noisy line and a hostile instrument put on the wire: PARMRK marks, escapes, NULs, 0xFF.
NOISE = b"\xff\x00\x00\xff\xff\xff\x00x\x18\x18\x18\x18\x18**\x18B00\x01\x01\xfe\x04\x00\xff"


def start(record: Path, *specs: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "hw.serial.bridge", "--record", str(record),
                             *[a for s in specs for a in ("--line", s)]],
                            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"ready\n", proc.stderr.read()
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    assert proc.wait(WAIT_S) == 0, proc.stderr.read()
    proc.stdin.close()
    proc.stdout.close()
    proc.stderr.close()


def recorded(path: Path) -> tuple[bytes, bytes, list[dict]]:
    segs = list(open_capture(path))
    out = b"".join(s.data for s in segs if s.data and s.meta["direction"] == "out")
    inn = b"".join(s.data for s in segs if s.data and s.meta["direction"] == "in")
    return out, inn, [s.meta["line"] for s in segs if not s.data]


def through(write_fd: int, read_fd: int, data: bytes) -> bytes:
    """Write ``data`` on one end while the other end reads it (PTY buffers are small)."""
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(read_exactly(read_fd, len(data), WAIT_S)))
    reader.start()
    write_all(write_fd, data)
    reader.join()
    return got[0]


@pytest.mark.parametrize(("baud", "speed"), [(9600, termios.B9600), (115200, termios.B115200),
                                             (921600, termios.B921600)])
def test_bytes_pass_unchanged_both_ways_and_are_recorded(tmp_path, baud, speed):
    rng = random.Random(baud)
    to_host = NOISE + bytes(rng.randrange(256) for _ in range(200_000)) + NOISE
    to_instrument = b"ACK\r\n" + bytes(rng.randrange(256) for _ in range(20_000)) + NOISE
    with serial_bench() as bench:
        line = bench.lines[0]
        proc = start(tmp_path / "serial.pcapng", line.spec(f"{baud},8N1"))
        try:
            for rig_port in (line.rig_instrument, line.rig_host):    # the settings are on both ports
                fd = os.open(rig_port, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
                try:
                    attrs = termios.tcgetattr(fd)
                finally:
                    os.close(fd)
                assert attrs[4] == attrs[5] == speed and attrs[0] & termios.PARMRK
            inst, host = open_end(line.instrument_end), open_end(line.host_end)
            assert through(inst, host, to_host) == to_host
            assert through(host, inst, to_instrument) == to_instrument
        finally:
            stop(proc)
    out, inn, events = recorded(tmp_path / "serial.pcapng")
    assert out == to_host and inn == to_instrument
    assert [e["event"] for e in events] == ["opened", "closed"]
    assert events[0]["settings"] == f"{baud} 8N1" and events[0]["baud"] == baud
    assert (tmp_path / "serial.pcapng").stat().st_mode & 0o077 == 0


def test_a_host_that_stops_reading_slows_the_instrument_and_loses_nothing(tmp_path):
    data = bytes(random.Random(1).randrange(256) for _ in range(600_000))
    with serial_bench() as bench:
        line = bench.lines[0]
        proc = start(tmp_path / "serial.pcapng", line.spec())
        try:
            inst, host = open_end(line.instrument_end), open_end(line.host_end)
            writer = threading.Thread(target=write_all, args=(inst, data))
            writer.start()
            time.sleep(1.0)           # the host reads nothing for a while: buffers fill up
            got = read_exactly(host, len(data), WAIT_S)
            writer.join()
        finally:
            stop(proc)
    assert got == data
    assert recorded(tmp_path / "serial.pcapng")[0] == data


def test_unplug_and_replug_on_either_side_records_the_gap_and_loses_nothing(tmp_path):
    with serial_bench() as bench:
        line = bench.lines[0]
        proc = start(tmp_path / "serial.pcapng", line.spec("115200"))
        try:
            inst, host = open_end(line.instrument_end), open_end(line.host_end)
            assert through(inst, host, b"before\n") == b"before\n"
            os.close(inst)
            line.instrument_cable.replug()
            inst = open_end(line.instrument_end)
            assert through(inst, host, b"after the instrument came back\n") == b"after the instrument came back\n"
            os.close(host)
            line.host_cable.unplug()
            write_all(inst, b"while the host was away\n")       # recorded, but nowhere to go
            time.sleep(0.5)
            line.host_cable.plug()
            host = open_end(line.host_end)
            deadline = time.monotonic() + WAIT_S               # until the bridge has the port again
            got = b""
            while not got.endswith(b"host is back\n") and time.monotonic() < deadline:
                write_all(inst, b"host is back\n")
                got += read_exactly(host, 13, 1.0)
            assert got.endswith(b"host is back\n")
        finally:
            stop(proc)
    out, _, events = recorded(tmp_path / "serial.pcapng")
    assert out.startswith(b"before\nafter the instrument came back\nwhile the host was away\nhost is back\n")
    kinds = [(e["event"], e["side"]) for e in events]
    assert kinds[:5] == [("opened", "line"), ("unplugged", "instrument"), ("replugged", "instrument"),
                         ("unplugged", "host"), ("replugged", "host")], events
    undelivered = int(events[4]["note"].split("; ")[1].split()[0])       # "after 0.6 s; 37 bytes recorded..."
    assert undelivered >= 24 and "recorded meanwhile were not delivered" in events[4]["note"]


def test_a_missing_port_is_one_line_and_exit_2(tmp_path):
    with serial_bench() as bench:
        line = bench.lines[0]
        for spec in (f"{bench.folder}/nope:{line.rig_host}", f"{line.rig_instrument}:{bench.folder}/nope"):
            result = subprocess.run([sys.executable, "-m", "hw.serial.bridge", "--record",
                                     str(tmp_path / "serial.pcapng"), "--line", spec],
                                    cwd=REPO, capture_output=True, text=True, timeout=WAIT_S, stdin=subprocess.PIPE)
            assert result.returncode == 2 and result.stdout == ""
            assert result.stderr.strip().splitlines() == [result.stderr.strip()]
            assert "nope: does not exist" in result.stderr


def test_a_busy_port_is_one_line_and_exit_2(tmp_path):
    with serial_bench() as bench:
        line = bench.lines[0]
        holder = serial.Serial(str(line.rig_host), exclusive=True)    # a terminal program has it
        try:
            result = subprocess.run([sys.executable, "-m", "hw.serial.bridge", "--record",
                                     str(tmp_path / "serial.pcapng"), "--line", line.spec()],
                                    cwd=REPO, capture_output=True, text=True, timeout=WAIT_S, stdin=subprocess.PIPE)
        finally:
            holder.close()
    assert result.returncode == 2
    assert result.stderr.strip() == f"cannot open the host serial port {line.rig_host}: is busy (another program holds it)"


# -- modem lines and breaks: ports that have them ------------------------------------------------

class ModemPort(Port):
    """A UART with modem lines and breaks, in memory: what no PTY here can be.  ``arrive`` queues
    what the kernel would hand a read (PARMRK-marked); a pipe makes the port readable."""

    def open(self) -> None:
        self._r, self._w = os.pipe()
        self.fd, self.modem, self.icount = self._r, True, False
        self.rx, self.tx, self.bits, self.breaks = b"", bytearray(), 0, []
        self.lock = threading.Lock()

    def arrive(self, marked: bytes) -> None:
        with self.lock:
            self.rx += marked
        os.write(self._w, b".")

    def read(self) -> bytes:
        os.read(self.fd, 4096)
        with self.lock:
            data, self.rx = self.rx, b""
        return data

    def write(self, data) -> int:
        self.tx += data
        return len(data)

    def lines(self) -> int:
        return self.bits

    def drive(self, rts, dtr) -> None:
        for bit, on in ((termios.TIOCM_RTS, rts), (termios.TIOCM_DTR, dtr)):
            if on is not None:
                self.bits = self.bits | bit if on else self.bits & ~bit

    def set_break(self, on: bool) -> None:
        self.breaks.append(on)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self._r)
            os.close(self._w)
        self.fd = -1


def wait_until(predicate, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_modem_lines_and_breaks_are_forwarded_and_recorded(tmp_path):
    rec = SerialRecording(tmp_path / "serial.pcapng")
    bridge = Bridge([parse_spec("/dev/inst:/dev/host@19200")], rec, port=ModemPort)
    bridge.open()
    line = bridge.lines[0]
    inst, host = line.ports["instrument"], line.ports["host"]
    loop = threading.Thread(target=bridge.run)
    loop.start()
    try:
        inst.bits = termios.TIOCM_CTS | termios.TIOCM_DSR | termios.TIOCM_CAR   # the instrument raised RTS, DTR
        wait_until(lambda: host.bits & termios.TIOCM_RTS and host.bits & termios.TIOCM_DTR, "host RTS/DTR up")
        host.bits |= termios.TIOCM_CTS                                          # the host raised RTS
        wait_until(lambda: inst.bits & termios.TIOCM_RTS, "instrument RTS up")
        inst.arrive(b"abc\xff\x00\x00def\xff\xff\xff\x00zg")                    # a BREAK, 0xFF, a framing error
        wait_until(lambda: host.tx == b"abcdef\xffzg" and host.breaks == [True, False], "data and break")
        host.bits &= ~termios.TIOCM_CTS
        wait_until(lambda: not inst.bits & termios.TIOCM_RTS, "instrument RTS down")
    finally:
        bridge.stopping = True
        loop.join()
        bridge.close()
        rec.close()
    out, _, events = recorded(tmp_path / "serial.pcapng")
    assert out == b"abcdef\xffzg"
    kinds = [e["event"] for e in events]
    assert kinds[0] == "opened" and kinds[-1] == "closed"
    assert "break" in kinds and "framing-error" in kinds and kinds.count("lines") >= 3
    lines = [e["lines"] for e in events if e["event"] == "lines"]
    assert "CTS DCD DSR" in lines[0] and any("RTS" in x for x in lines)
    assert BREAK_S > 0

"""Fuzz targets: one per capture reader, protocol parser and decoder, and what each may raise.

A target takes bytes and drives one component the way the replay does; it returns normally or
raises what the component's contract allows (a capture that is not one: ``CaptureError``; a
protocol's forbidden bytes: ``ParseError``).  Anything else is a crash.  The targets need no
fuzzer: ``tests/fuzz`` runs them over their seeds, ``fuzz/run.py`` under atheris.

Stream and datagram parser input is a list of records ``[flags][len hi][len lo][bytes]``: flags
bit 0 says the direction (1 = out), bit 1 makes the record a gap of ``len`` bytes (streams only).
USB input is the same records, each a transfer: its first byte the endpoint, the second the
transfer type (mod 4), then a control transfer's 8-byte setup, then the data.
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sandbox.captures import CaptureError, open_capture
from sandbox.captures.capture import READERS
from sandbox.decode import DECODERS, Budget, expand
from sandbox.model import FlowInfo, Segment
from sandbox.protocols import DATAGRAM_PARSERS, STREAM_PARSERS, Dissector
from sandbox.protocols.context import FlowContext, ParseError
from sandbox.protocols.usb import FUNCTIONS
from sandbox.protocols.usb.function import Transfer
from sandbox.protocols.usb.raw import RawFunction

# Bytes one decoding step may produce in a target: enough for every decoder's real work, small
# enough that a bomb costs milliseconds.
DECODE_BUDGET = 4 << 20
# Ports each parser is tried on: its own first (its detect and port hints), then a neutral one.
NEUTRAL_PORT = 40000
RECORD = struct.Struct("!BH")


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], None]
    kind: str                 # which seeds fit it: "capture-pcap", "capture-pcapng", "parser", "datagram", "decoder",
    #                           "usb" (records whose first two bytes are the endpoint and the transfer type)


def slug(name: str) -> str:
    """A target name fit for a file name: "parser-http/2" -> "parser-http2"."""
    return name.replace("/", "")


def records(data: bytes) -> Iterator[tuple[str, bool, bytes, int]]:
    """(direction, is_gap, bytes, size) records of a parser target's input."""
    pos = 0
    while pos + RECORD.size <= len(data):
        flags, size = RECORD.unpack_from(data, pos)
        pos += RECORD.size
        chunk = data[pos:pos + size] if not flags & 2 else b""
        if not flags & 2:
            pos += len(chunk)
        yield ("out" if flags & 1 else "in"), bool(flags & 2), chunk, size


def encode_records(parts: list[tuple[str, bytes]]) -> bytes:
    """Seed input for a parser target: ``(direction, bytes)`` in order, 64 KB a record at most."""
    out = bytearray()
    for direction, data in parts:
        for off in range(0, max(len(data), 1), 0xFFFF):
            piece = data[off:off + 0xFFFF]
            out += RECORD.pack(1 if direction == "out" else 0, len(piece)) + piece
    return bytes(out)


# ---- capture readers -------------------------------------------------------------------------

_SCRATCH = Path(tempfile.gettempdir()) / f"sandbox-fuzz-{os.getpid()}.cap"


def _read_capture(data: bytes) -> None:
    """Open and read the bytes as a capture file (the readers take paths, as the replay gives them)."""
    _SCRATCH.write_bytes(data)
    try:
        capture = open_capture(_SCRATCH)
    except CaptureError:
        _SCRATCH.unlink()
        return
    try:
        for seg in capture:
            assert isinstance(seg.data, bytes)
        capture.stats.not_examined(str(_SCRATCH))
    finally:
        capture.close()
        _SCRATCH.unlink()


def _capture_target(reader: type) -> Target:
    return Target(f"capture-{reader.name}", _read_capture, f"capture-{reader.name}")


# ---- protocol parsers ------------------------------------------------------------------------

def _stream_target(cls: type) -> Target:
    def run(data: bytes) -> None:
        port = next(iter(getattr(cls, "ports", ())), NEUTRAL_PORT)
        first = {"out": b"", "in": b""}
        for direction, gap, chunk, _ in records(data):
            if not gap:
                first[direction] += chunk[:4096 - len(first[direction])]
        cls.detect(first["out"], first["in"], NEUTRAL_PORT, port)
        info = FlowInfo("tcp fuzz", "net", "tcp", "10.0.0.2", NEUTRAL_PORT, "10.0.0.9", port, destination="10.0.0.9")
        parser = cls(FlowContext(flow=info.flow, info=info, shared={}, chain=("tcp",)))
        t = 0.0
        try:
            for direction, gap, chunk, size in records(data):
                t += 0.01
                if gap:
                    if hasattr(parser, "gap"):
                        parser.gap(direction, size)
                else:
                    parser.feed(direction, chunk, t)
            parser.close(t)
        except ParseError:
            pass
    return Target(f"parser-{slug(cls.name)}", run, "parser")


def _datagram_target(cls: type) -> Target:
    def run(data: bytes) -> None:
        info = FlowInfo("udp fuzz", "net", "udp", "10.0.0.2", NEUTRAL_PORT, "10.0.0.9", 53, destination="10.0.0.9")
        parser = cls(FlowContext(flow=info.flow, info=info, shared={}, chain=("udp",)))
        t = 0.0
        try:
            for direction, _, chunk, _ in records(data):
                t += 0.01
                cls.detect(chunk, NEUTRAL_PORT, 53)
                cls.detect(chunk, NEUTRAL_PORT, NEUTRAL_PORT)
                parser.feed(direction, chunk, t)
            parser.close(t)
        except ParseError:
            pass
    return Target(f"parser-{slug(cls.name)}", run, "datagram")


# ---- USB ---------------------------------------------------------------------------------------

USB_TRANSFERS = ("isochronous", "interrupt", "control", "bulk")


def usb_transfers(data: bytes) -> Iterator[tuple[str, int, str, bytes, bytes]]:
    """(direction, endpoint, transfer type, setup, data) of each USB record."""
    for direction, _, chunk, _ in records(data):
        endpoint = chunk[0] if chunk else 0
        kind = USB_TRANSFERS[chunk[1] % 4] if len(chunk) > 1 else "bulk"
        body = chunk[2:]
        setup, body = (body[:8], body[8:]) if kind == "control" and len(body) >= 8 else (b"", body)
        yield direction, endpoint, kind, setup, body


def _usb_function_target(cls: type) -> Target:
    def run(data: bytes) -> None:
        info = FlowInfo("usb host > 1.2", "usb", "usb", "host", 0, "1.2", 0, destination="usb 1.2")
        fn = cls(FlowContext(flow=info.flow, info=info, shared={}, chain=("usb 1.2", cls.name), channel="usb"))
        t = 0.0
        for direction, endpoint, kind, setup, body in usb_transfers(data):
            t += 0.01
            cls.detect(body)
            fn.transfer(Transfer(direction, endpoint, kind, body, t, setup=setup))
        fn.idle(t + 10)
        fn.close(t + 20)
    return Target(f"usb-{slug(cls.name)}", run, "usb")


def _usb_device(data: bytes) -> None:
    """The whole device through the flow table: descriptors, binding, functions, frames re-dissected."""
    dissector = Dissector()
    for i, (direction, endpoint, kind, setup, body) in enumerate(usb_transfers(data)):
        meta = {"direction": direction, "endpoint": endpoint, "transfer": kind, "urb_id": i % 3}
        if setup:
            meta["setup"] = setup
        dissector.feed(Segment(i * 0.01, "usb", "usb", "1.2" if i % 5 else "1.0", 0, "host", 0, body, meta=meta))
    dissector.close()


# ---- decoders --------------------------------------------------------------------------------

def _decoder_target(cls: type) -> Target:
    def run(data: bytes) -> None:
        cls.sniff(data)
        for label, out in cls.decode(data, Budget(DECODE_BUDGET, "fuzz budget")):
            assert isinstance(label, str) and isinstance(out, bytes | bytearray | memoryview)
    return Target(f"decoder-{cls.name}", run, "decoder")


def _expand(data: bytes) -> None:
    expand(data, ("tcp",))


TARGETS: dict[str, Target] = {
    t.name: t for t in [
        *(_capture_target(r) for r in READERS),
        *(_stream_target(c) for c in STREAM_PARSERS),
        *(_datagram_target(c) for c in DATAGRAM_PARSERS),
        *(_decoder_target(c) for c in DECODERS),
        Target("decoder-expand", _expand, "decoder"),
        *(_usb_function_target(c) for c in [*FUNCTIONS, RawFunction]),
        Target("usb-device", _usb_device, "usb"),
    ]
}

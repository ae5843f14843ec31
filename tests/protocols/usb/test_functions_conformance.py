"""One suite for every registered USB class decoder (``sandbox.protocols.usb.FUNCTIONS``, and the raw
fallback): a real session of its device class (written by the simulator) is decoded; garbage,
transfers the capture cut short and sessions cut at any transfer never raise; no OUT byte is left
unexamined (it reaches the correlator, comes back as a frame for the network pipeline, or is a
``not_examined`` row); IN data is context only.

A function registered without a session here fails ``test_every_registered_function_has_a_session``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.captures import open_capture
from sandbox.model import NOT_EXAMINED_KIND, FlowInfo, Observation, Payload
from sandbox.protocols.context import INJECTED, FlowContext
from sandbox.protocols.usb import FUNCTIONS
from sandbox.protocols.usb.descriptors import Endpoint, Interface
from sandbox.protocols.usb.function import Transfer
from sandbox.protocols.usb.raw import RawFunction
from sandbox.simulate.traffic import INSTRUMENT, Bench
from sandbox.simulate.usb import (
    NetworkLink,
    SerialHost,
    UsbBench,
    keyboard,
    network_adapter,
    open_writer,
    serial_adapter,
    write_stick_capture,
)
from sandbox.simulate.wire import http_request, http_response

MARK = b"sbx-usb-conformance " * 40        # what each session sends out; the decoder must hand it on
RNG = random.Random(9)


def _stick(path: Path) -> None:
    write_stick_capture(path, {"MARK.TXT": MARK}, fat_bits=16)


def _serial(path: Path) -> None:
    with open_writer(path) as w:
        bench = UsbBench(w)
        host = SerialHost(bench, bench.plug(serial_adapter()))
        host.send(MARK)
        host.xmodem(MARK)


def _network(kind: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with open_writer(path) as w:
            usb = UsbBench(w)
            net = Bench(NetworkLink(usb, usb.plug(network_adapter(kind)), INSTRUMENT), t0=usb.t)
            net.resolve("upload.example.net", "203.0.113.50")
            conv = net.connect(("203.0.113.50", 80))
            net.exchange(conv, http_request("POST", "/up", "upload.example.net", MARK), http_response(b"{}"))
            net.close(conv)
    return write


def _keyboard(path: Path) -> None:
    with open_writer(path) as w:
        bench = UsbBench(w)
        dev = bench.plug(keyboard())
        for key in (4, 5, 6):
            w.bulk(bench.bus, dev.address, 0x81, bytes([0, 0, key, 0, 0, 0, 0, 0]), bench._tick(0.01), transfer=1)
        # an output report (keyboard LEDs) by SET_REPORT: OUT data on the control pipe
        w.control(bench.bus, dev.address, bytes([0x21, 0x09, 0x00, 0x02, 0, 0, len(MARK) & 0xFF, len(MARK) >> 8]),
                  bench._tick(), data_out=MARK)


SESSIONS: dict[str, Callable[[Path], None]] = {
    "msc": _stick, "cdc-acm": _serial, "cdc-ecm": _network("ecm"), "cdc-ncm": _network("ncm"),
    "rndis": _network("rndis"), "hid": _keyboard,
}
ALL = [*FUNCTIONS, RawFunction]


def _ctx(cls: type) -> FlowContext:
    info = FlowInfo(flow="usb host > 1.2", channel="usb", transport="usb", src="host", sport=0, dst="1.2", dport=0,
                    destination="usb 1.2")
    return FlowContext(flow=info.flow, info=info, shared={}, chain=("usb 1.2", cls.name), channel="usb")


def _transfers(path: Path) -> list[Transfer]:
    """The session's transfers on endpoints other than the control pipe, and class requests."""
    out, pending = [], {}
    for seg in open_capture(path):
        meta = seg.meta
        setup = meta.get("setup")
        if isinstance(setup, bytes):
            pending[meta.get("urb_id", 0)] = setup
        tr = Transfer(meta["direction"], int(meta["endpoint"]), meta["transfer"], seg.data, seg.t,
                      int(meta.get("length", len(seg.data))), setup=pending.get(meta.get("urb_id", 0), b""))
        if tr.kind == "control" and (not tr.setup or not tr.setup[0] & 0x60):
            continue        # standard requests are the device parser's
        if tr.data:
            out.append(tr)
    return out


@pytest.fixture(scope="module")
def sessions(tmp_path_factory) -> dict[str, list[Transfer]]:
    folder = tmp_path_factory.mktemp("sbx-usb-functions")
    out = {}
    for name, write in SESSIONS.items():
        write(folder / f"{name}.pcapng")
        out[name] = _transfers(folder / f"{name}.pcapng")
    out["raw"] = out["msc"]
    return out


def _run(cls: type, transfers: list[Transfer]) -> tuple[list, FlowContext]:
    ctx = _ctx(cls)
    fn = cls(ctx)
    items = []
    for tr in transfers:
        items += fn.transfer(tr)
    items += fn.idle(transfers[-1].t + 10 if transfers else 0.0)
    items += fn.close(transfers[-1].t + 20 if transfers else 0.0)
    return items, ctx


def _examined(items: list, ctx: FlowContext) -> int:
    """OUT bytes handed on: to the correlator, as frames to the network pipeline, or said unexamined."""
    payload = sum(len(i.data) for i in items if isinstance(i, Payload) and i.direction == "out")
    blind = sum(i.bytes_out for i in items if isinstance(i, Observation) and i.kind == NOT_EXAMINED_KIND)
    frames = sum(len(seg.data) for seg in ctx.shared.get(INJECTED, ()))
    return payload + blind + frames


def test_every_registered_function_has_a_session():
    assert {cls.name for cls in FUNCTIONS} <= set(SESSIONS)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_claims_and_detect_are_total(cls):
    for _ in range(300):
        iface = Interface(RNG.randrange(256), RNG.randrange(2), RNG.randrange(256), RNG.randrange(256),
                          RNG.randrange(256), [Endpoint(RNG.randrange(256), RNG.choice(["bulk", "interrupt"]), 512)], [])
        assert cls.claims(iface) in (True, False)
        assert cls.detect(RNG.randbytes(RNG.randrange(64))) in (True, False)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_the_session_is_decoded_and_its_out_data_handed_on(cls, sessions):
    items, ctx = _run(cls, sessions[cls.name])
    seen = b"".join(i.data for i in items if isinstance(i, Payload)) + b"".join(
        seg.data for seg in ctx.shared.get(INJECTED, ()))
    assert MARK[:200] in seen
    assert not ctx.info.errors


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_garbage_out_is_examined_and_never_raises(cls):
    transfers = [Transfer("out", 0x02, "bulk", RNG.randbytes(RNG.randrange(1, 2000)), float(i)) for i in range(60)]
    transfers += [Transfer("in", 0x81, "bulk", RNG.randbytes(100), 61.0),
                  Transfer("out", 0x00, "control", RNG.randbytes(40), 62.0, setup=bytes([0x21, 0, 0, 0, 0, 0, 40, 0]))]
    items, ctx = _run(cls, transfers)
    assert _examined(items, ctx) >= sum(len(t.data) for t in transfers if t.direction == "out") * 0.99


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_sessions_cut_at_any_transfer_and_cut_transfers_never_raise(cls, sessions):
    transfers = sessions[cls.name]
    for end in range(0, len(transfers), max(1, len(transfers) // 25)):
        _run(cls, transfers[:end])
    cut = [Transfer(t.direction, t.endpoint, t.kind, t.data[: len(t.data) // 2], t.t, len(t.data), t.setup)
           for t in transfers]
    items, ctx = _run(cls, cut)
    assert _examined(items, ctx) > 0


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_in_data_alone_is_context_never_a_payload(cls, sessions):
    items, _ = _run(cls, [t for t in sessions[cls.name] if t.direction == "in"])
    assert not [i for i in items if isinstance(i, Payload) and i.direction == "out"]

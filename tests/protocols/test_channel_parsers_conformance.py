"""One suite for every channel parser (``sandbox.protocols.CHANNEL_PARSERS``: the whole USB device, the
whole serial line): each is what ``context.ChannelParser`` declares; through the flow table, garbage
Segments of its channel (any bytes, any metadata) never raise and every OUT byte still reaches the
correlator or a ``not_examined`` row; a parser appended to the registry is used by later Dissectors.
"""

from __future__ import annotations

import inspect
import random

import pytest

from sandbox.model import NOT_EXAMINED_KIND, FlowInfo, Observation, Payload, Segment
from sandbox.protocols import CHANNEL_PARSERS, ChannelParser, Dissector, FlowContext
from sandbox.protocols.registry import CHANNEL_PARSERS as REGISTERED

RNG = random.Random(11)
CASES = [(channel, cls) for channel, parsers in CHANNEL_PARSERS.items() for cls in parsers]
TRANSFER_KINDS = ("bulk", "interrupt", "control", "isochronous")


def _params(fn: object) -> list[str]:
    return [p.name for p in inspect.signature(fn).parameters.values()]  # type: ignore[arg-type]


def _ctx(channel: str) -> FlowContext:
    info = FlowInfo(flow=f"{channel} host > 1.2", channel=channel, transport=channel, src="host", sport=0,
                    dst="1.2", dport=0, destination=f"{channel} 1.2")
    return FlowContext(flow=info.flow, info=info, shared={}, chain=(channel,), channel=channel)


def _garbage(channel: str, n: int) -> list[Segment]:
    """Segments as the channel's capture readers make them, with hostile content and metadata."""
    segs = []
    for i in range(n):
        direction = RNG.choice(("out", "in"))
        meta: dict = {"direction": direction}
        if channel == "usb":
            meta.update(endpoint=RNG.randrange(256), transfer=RNG.choice(TRANSFER_KINDS), urb_id=RNG.randrange(4),
                        length=RNG.randrange(4096))
            if RNG.random() < 0.3:
                meta["setup"] = RNG.randbytes(8)
        elif RNG.random() < 0.05:
            meta["line"] = {"event": RNG.choice(("unplugged", "replugged", "break")), "side": "instrument"}
        segs.append(Segment(t=float(i), channel=channel, transport=channel, src=RNG.choice(("1.0", "1.2", "1.3")),
                            sport=0, dst="host", dport=0, data=RNG.randbytes(RNG.randrange(0, 600)), frame=i + 1,
                            meta=meta))
    return segs


@pytest.mark.parametrize(("channel", "cls"), CASES, ids=lambda c: getattr(c, "name", c))
def test_is_a_channel_parser(channel, cls):
    assert isinstance(cls.name, str) and cls.name
    assert isinstance(inspect.getattr_static(cls, "detect"), staticmethod)
    assert _params(cls.detect) == _params(ChannelParser.detect)
    for method in ("feed", "idle", "close"):
        assert _params(getattr(cls, method)) == _params(getattr(ChannelParser, method)), method
    if hasattr(cls, "feed_segment"):
        assert _params(cls.feed_segment) == ["self", "direction", "seg"]
    init = [p for p in inspect.signature(cls.__init__).parameters.values() if p.default is inspect.Parameter.empty]
    assert [p.name for p in init] == ["self", "ctx"]
    parser = cls(_ctx(channel))
    assert isinstance(parser.feed("out", b"some bytes", 1.0), list)
    assert isinstance(parser.idle(2.0), list) and isinstance(parser.close(3.0), list)


@pytest.mark.parametrize(("channel", "cls"), CASES, ids=lambda c: getattr(c, "name", c))
def test_garbage_segments_never_raise_and_out_bytes_are_examined(channel, cls):
    segs = _garbage(channel, 400)
    dissector = Dissector(channel_parsers={channel: [cls]})
    items = []
    for seg in segs:
        items += dissector.feed(seg)
    items += dissector.close()
    sent = sum(len(s.data) for s in segs if s.meta["direction"] == "out")
    examined = sum(len(i.data) for i in items if isinstance(i, Payload) and i.direction == "out")
    examined += sum(i.bytes_out for i in items if isinstance(i, Observation) and i.kind == NOT_EXAMINED_KIND)
    assert examined >= sent * 0.99
    assert {info.channel for info in dissector.flows.values()} == {channel}


@pytest.mark.parametrize(("channel", "cls"), CASES, ids=lambda c: getattr(c, "name", c))
def test_feeding_bytes_split_anywhere_never_raises(channel, cls):
    data = RNG.randbytes(3000)
    for cut in (1, 7, 64, 512):
        parser = cls(_ctx(channel))
        for off in range(0, len(data), cut):
            parser.feed("out", data[off:off + cut], float(off))
        parser.close(1e6)


def test_a_parser_appended_to_the_registry_is_used_by_later_dissectors():
    assert CHANNEL_PARSERS is REGISTERED

    class Marker:
        name = "marker"

        @staticmethod
        def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
            return True

        def __init__(self, ctx: FlowContext) -> None:
            self.ctx = ctx

        def feed(self, direction: str, data: bytes, t: float) -> list:
            return [self.ctx.payload(data, "marked", direction, t)]

        def idle(self, t: float) -> list:
            return []

        def close(self, t: float) -> list:
            return []

    REGISTERED["sbx-usb-test"] = [Marker]
    try:
        seg = Segment(t=1.0, channel="sbx-usb-test", transport="sbx-usb-test", src="far", sport=0, dst="near",
                      dport=0, data=b"hello", meta={"direction": "out"})
        items = Dissector().feed(seg)
    finally:
        del REGISTERED["sbx-usb-test"]
    assert [(p.data, p.chain[-1]) for p in items if isinstance(p, Payload)] == [(b"hello", "marked")]

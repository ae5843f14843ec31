"""WebSocket parser: masking, fragments, control frames, permessage-deflate; real websockets traffic."""

from __future__ import annotations

import asyncio
import functools
import random
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest

from sandbox.decode import limits
from sandbox.decode.limits import DECODE_STEP
from sandbox.model import Observation, Payload
from sandbox.protocols import websocket
from sandbox.protocols.http1 import Http1Parser
from sandbox.protocols.websocket import WebSocketParser, unmask
from tests.protocols.test_httpbody import SECRET, TIGHT, allowance
from tests.protocols.test_stream_parsers_conformance import make_ctx, parse_pcap, run, ws_mask

KEY = b"\x11\x22\x33\x44"
READS = [b"@r%d\nACGGTTAACCA%d\n+\nIIIIIIIIIIII\n" % (i, i) * 40 for i in range(6)]
LABEL = "http/1.1 GET /ws"


def ws_frame(payload: bytes, opcode: int = 2, fin: bool = True, masked: bool = True, rsv1: bool = False) -> bytes:
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head = struct.pack(">BB", b0, mask_bit | n)
    elif n < 65536:
        head = struct.pack(">BBH", b0, mask_bit | 126, n)
    else:
        head = struct.pack(">BBQ", b0, mask_bit | 127, n)
    return head + (KEY + ws_mask(payload, KEY) if masked else payload)


def deflate_messages(msgs: list[bytes], takeover: bool) -> list[bytes]:
    """RFC 7692 compression as a peer does it: sync flush, drop the 00 00 ff ff tail."""
    comp = zlib.compressobj(wbits=-15)
    out = []
    for m in msgs:
        if not takeover:
            comp = zlib.compressobj(wbits=-15)
        data = comp.compress(m) + comp.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        out.append(data[:-4])
    return out


def messages(items: list, direction: str | None = None) -> list[Payload]:
    """The messages' payloads (not the stream of the client's masking keys)."""
    return [p for p in items if isinstance(p, Payload) and "websocket" in p.chain
            and websocket.MASKING_KEYS not in p.chain and (direction is None or p.direction == direction)]


def parser(extensions: str | None = "") -> WebSocketParser:
    return WebSocketParser(make_ctx(), client="out", label=LABEL, extensions=extensions)


def feed_all(p: WebSocketParser, conv: list[tuple[str, bytes]], step: int = 0) -> list:
    out = []
    for direction, data in conv:
        for i in range(0, len(data), step or len(data) or 1):
            out += p.feed(direction, data[i : i + (step or len(data))], 1.0)
    return out + p.close(2.0)


def test_unmask_matches_plain_xor_at_any_offset() -> None:
    data = bytes(range(256)) * 3
    for offset in range(5):
        expected = bytes(b ^ KEY[(i + offset) % 4] for i, b in enumerate(data))
        assert unmask(data, KEY, offset) == expected


def test_messages_fragments_and_control_frames() -> None:
    conv = [("out", ws_frame(b"frag-1 ", opcode=1, fin=False) + ws_frame(b"ping!", opcode=9)
             + ws_frame(b"frag-2 ", opcode=0, fin=False) + ws_frame(b"end", opcode=0)),
            ("in", ws_frame(b"server says", masked=False)),
            ("out", ws_frame(READS[0] * 50)),  # 64 KiB+: 8-byte length
            ("out", ws_frame(b"\x03\xe8bye", opcode=8))]
    for step in (0, 1, 1000):
        got = messages(feed_all(parser(), conv, step))
        assert [(p.direction, p.data, p.meta["opcode"]) for p in got] == [
            ("out", b"ping!", "ping"), ("out", b"frag-1 frag-2 end", "text"), ("in", b"server says", "binary"),
            ("out", READS[0] * 50, "binary"), ("out", b"\x03\xe8bye", "close")]
        assert all(p.chain == ("tcp", LABEL, "websocket") for p in got)


@pytest.mark.parametrize("takeover", [True, False])
def test_permessage_deflate(takeover: bool) -> None:
    ext = "permessage-deflate" if takeover else "permessage-deflate; client_no_context_takeover"
    frames = b"".join(ws_frame(c, rsv1=True) for c in deflate_messages(READS, takeover))
    # a fragmented compressed message: RSV1 only on the first frame
    (big,) = deflate_messages([READS[0] * 10], True)
    frames += ws_frame(big[:100], fin=False, rsv1=True) + ws_frame(big[100:], opcode=0)
    got = messages(feed_all(parser(ext), [("out", frames)], 77))
    assert [p.data for p in got] == READS + [READS[0] * 10]
    assert all(p.chain[-1] == "permessage-deflate" for p in got)


def test_context_takeover_needs_the_previous_messages() -> None:
    """A message compressed against earlier ones only decodes with the shared window kept."""
    blob = random.Random(7).randbytes(3000)  # incompressible alone, so only the window helps
    compressed = deflate_messages([blob, blob], takeover=True)
    assert len(compressed[1]) < len(compressed[0]) // 20  # really back-references the first
    items = feed_all(parser("permessage-deflate"), [("out", b"".join(ws_frame(c, rsv1=True) for c in compressed))])
    assert [p.data for p in messages(items)] == [blob, blob]


def test_bad_deflate_is_kept_raw() -> None:
    ctx = make_ctx()
    p = WebSocketParser(ctx, client="out", label=LABEL, extensions="permessage-deflate")
    (got,) = messages(feed_all(p, [("out", ws_frame(b"\xff\xff not deflate", rsv1=True))]))
    assert got.data == b"\xff\xff not deflate" and got.meta["decode_errors"] and ctx.info.errors


def test_pieces_and_gaps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(websocket, "MAX_MESSAGE_PIECE", 1000)
    data = b"".join(READS)
    got = messages(feed_all(parser(), [("out", ws_frame(data))], 300))
    assert b"".join(p.data for p in got) == data and len(got) > 3
    p = parser()
    frame = ws_frame(data)
    items = p.feed("out", frame[:500], 1.0) + p.gap("out", 1000) + p.feed("out", frame[1500:] + ws_frame(b"next"), 2.0)
    items += p.close(3.0)
    got = messages(items)
    assert got[-1].data == b"next"
    head = 2 + 2 + 4  # 16-bit length form + mask key
    assert b"".join(x.data for x in got[:-1]) == data[: 500 - head] + data[1500 - head :]
    assert got[0].meta["gap_after"] == 1000


def test_garbage_goes_raw() -> None:
    ctx = make_ctx()
    items = feed_all(WebSocketParser(ctx, client="out", label=LABEL, extensions=""),
                     [("out", ws_frame(b"ok") + b"\x8f\x00garbage follows")])
    assert [p.data for p in messages(items)] == [b"ok"]
    assert [p.data for p in items if p.chain[-1] == "websocket unparsed"] == [b"\x8f\x00garbage follows"]
    assert ctx.info.errors


def test_detect_mid_stream() -> None:
    assert WebSocketParser.detect(ws_frame(b"hello"), ws_frame(b"hi", masked=False), 5000, 80)
    assert WebSocketParser.detect(ws_frame(b"a") + ws_frame(b"b", opcode=1), b"", 5000, 80)
    assert not WebSocketParser.detect(ws_frame(b"hello", masked=False), b"", 5000, 80)
    assert not WebSocketParser.detect(ws_frame(b"hello")[:-1], b"", 5000, 80)
    assert not WebSocketParser.detect(b"GET / HTTP/1.1\r\n\r\n", b"", 5000, 80)
    got = messages(run(WebSocketParser, [("out", ws_frame(b"hello")), ("in", ws_frame(b"hi", masked=False))]))
    assert [(p.chain, p.data) for p in got] == [(("tcp", "websocket"), b"hello"), (("tcp", "websocket"), b"hi")]


# --------------------------------------------------------------------------- bombs behind real data


@functools.cache
def deflate_bomb(zeros_mib: int) -> bytes:
    """SECRET then a run of zeros as ONE permessage-deflate message (sync flush, tail removed)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(1 << 20)
    data = c.compress(SECRET) + b"".join(c.compress(zeros) for _ in range(zeros_mib)) + c.flush(zlib.Z_SYNC_FLUSH)
    return data[:-4]


def run_bomb(comp: bytes, step: int) -> tuple[list[Payload], list[str], int, float]:
    """A masked client frame holding ``comp``, then a plain message; (messages, errors, peak, s)."""
    ctx = make_ctx()
    p = WebSocketParser(ctx, client="out", label=LABEL, extensions="permessage-deflate")
    wire = ws_frame(comp, rsv1=True) + ws_frame(b"next message")
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        items = feed_all(p, [("out", wire)], step)
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return messages(items), ctx.info.errors, peak, seconds


def check_bomb(got: list[Payload], errors: list[str], comp: bytes, ratio: int) -> None:
    """Decoded part first (labelled, with the note), then the compressed rest raw, then framing goes on."""
    note = f"permessage-deflate: limit: expansion ratio {ratio}x reached"
    *bomb, after = got
    assert after.data == b"next message" and after.meta["message"] == 1 and "decode_errors" not in after.meta
    decoded = [p for p in bomb if not p.meta.get("raw")]
    raw = [p for p in bomb if p.meta.get("raw")]
    assert bomb == decoded + raw and len(decoded) == 1 and raw
    first = decoded[0]
    assert first.chain == ("tcp", LABEL, "websocket", "permessage-deflate")
    assert first.data.startswith(SECRET) and not first.data[len(SECRET):].strip(b"\0")
    assert len(first.data) <= allowance(len(comp)) + DECODE_STEP
    assert first.meta["decode_errors"] == [note] and errors == [f"websocket out: {note}"]
    rest = b"".join(p.data for p in raw)
    assert comp.endswith(rest) and len(rest) < len(comp)  # the compressed remainder, to the end
    assert all(p.chain == ("tcp", LABEL, "websocket") and p.meta["decode_errors"] == [note] for p in raw)
    assert [p.meta["piece"] for p in bomb] == list(range(len(bomb)))


@pytest.mark.parametrize("step", [4096, 10**9])
def test_bomb_behind_real_data_keeps_the_data(step: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ratio 100x so deflate (at most ~1030x) is a bomb even when the frame arrives whole."""
    monkeypatch.setattr(limits, "DEFAULT_LIMITS", TIGHT)
    comp = deflate_bomb(64)
    got, errors, peak, seconds = run_bomb(comp, step)
    check_bomb(got, errors, comp, 100)
    bound = 3 * allowance(len(comp)) + 2 * DECODE_STEP
    assert bound < 64 << 20 and peak < bound  # a few times the limit, never the 64 MiB
    assert seconds < 5


def test_bomb_after_earlier_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces already flushed count towards the ratio; the note lands on the piece the stop flushes."""
    monkeypatch.setattr(limits, "DEFAULT_LIMITS", TIGHT)
    monkeypatch.setattr(websocket, "MAX_MESSAGE_PIECE", 1 << 20)
    comp = deflate_bomb(64)
    got, errors, _peak, _s = run_bomb(comp, 4096)
    *bomb, after = got
    decoded = b"".join(p.data for p in bomb if not p.meta.get("raw"))
    assert decoded.startswith(SECRET) and len(decoded) <= allowance(len(comp)) + DECODE_STEP
    assert comp.endswith(b"".join(p.data for p in bomb if p.meta.get("raw")))
    assert bomb[-1].meta["raw"] and after.data == b"next message"


def test_a_limit_on_an_outbound_message_is_a_decode_limit_observation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "DEFAULT_LIMITS", TIGHT)
    comp = deflate_bomb(64)
    p = parser("permessage-deflate")
    items = feed_all(p, [("out", ws_frame(comp, rsv1=True))])
    (obs,) = [x for x in items if isinstance(x, Observation)]
    assert obs.kind == "decode-limit" and obs.chain == ("tcp", LABEL, "websocket")
    assert obs.detail["decoder"] == "permessage-deflate" and 0 < obs.detail["bytes_not_examined"] < len(comp)
    server = feed_all(parser("permessage-deflate"), [("in", ws_frame(comp, masked=False, rsv1=True))])
    assert not [x for x in server if isinstance(x, Observation)]  # inbound: never a finding


# --------------------------------------------------------------------------- live loopback (e2e)


async def _exchange(host: str, port: int, server_ext, client_ext, upload: list[bytes]) -> list[bytes]:
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    received: list[bytes] = []

    async def handler(ws) -> None:
        async for message in ws:
            received.append(message if isinstance(message, bytes) else message.encode())
            await ws.send(f"ack {len(received)}")

    async with serve(handler, host, port, compression=None, extensions=server_ext):
        async with connect(f"ws://{host}:{port}/ws/upload", compression=None, extensions=client_ext) as ws:
            for message in upload:
                await ws.send(message)
                await ws.recv()
            await ws.ping(b"keepalive-RUN42")
            await ws.send("text " * 300)
            await ws.recv()
    return received


@pytest.mark.e2e
@pytest.mark.parametrize("takeover", [True, False])
def test_e2e_websockets_permessage_deflate(tmp_path: Path, takeover: bool) -> None:
    from websockets.extensions.permessage_deflate import (
        ClientPerMessageDeflateFactory,
        ServerPerMessageDeflateFactory,
    )

    from tests.protocols.test_stream_parsers_conformance import check_dissector, record_lo

    host, port = "127.66.4.1", 18565 + int(takeover)
    no_takeover = not takeover
    server_ext = [ServerPerMessageDeflateFactory(server_no_context_takeover=no_takeover,
                                                 client_no_context_takeover=no_takeover, compress_settings={"memLevel": 5})]
    client_ext = [ClientPerMessageDeflateFactory(server_no_context_takeover=no_takeover,
                                                 client_no_context_takeover=no_takeover)]
    with record_lo(tmp_path / "ws.pcapng", host, port) as pcap:
        received = asyncio.run(_exchange(host, port, server_ext, client_ext, READS))
    assert received[: len(READS)] == READS
    items, ctxs = parse_pcap(pcap, Http1Parser)
    check_dissector(pcap, items)
    out = messages(items, "out")
    assert [p.data for p in out if p.meta["opcode"] == "binary"] == READS
    assert [p.data for p in out if p.meta["opcode"] == "text"] == [b"text " * 300]
    assert [p.data for p in out if p.meta["opcode"] == "ping"] == [b"keepalive-RUN42"]
    assert all(p.chain[:3] == ("tcp", "http/1.1 GET /ws/upload", "websocket") for p in out)
    assert any(p.chain[-1] == "permessage-deflate" for p in out)
    acks = [p.data for p in messages(items, "in") if p.meta["opcode"] == "text"]
    assert acks == [b"ack %d" % i for i in range(1, len(READS) + 2)]
    assert ctxs[0].info.meta["websocket"] is True and not ctxs[0].info.errors


def test_mqtt_carried_in_messages_is_parsed_by_topic() -> None:
    """The subprotocol the server chose is MQTT (AWS IoT, Azure IoT Hub over WebSockets): the messages'
    bytes are one MQTT stream each way, packets spanning messages; PUBLISHes are read by topic under
    the connection's labels, and the rest of MQTT is scanned."""
    from sandbox.simulate import wire

    stream = wire.mqtt_connect("seq-01") + b"".join(wire.mqtt_publish("lab/t", r) for r in READS)
    conv = [("out", ws_frame(stream[at: at + 700])) for at in range(0, len(stream), 700)]
    conv.append(("in", ws_frame(b"\x20\x02\x00\x00", masked=False)))
    p = WebSocketParser(make_ctx(), client="out", label=LABEL, extensions="", protocol="mqtt")
    items = feed_all(p, conv)
    published = [x for x in items if isinstance(x, Payload) and x.chain[-1] == "mqtt PUBLISH lab/t"]
    assert [x.data for x in published] == READS
    assert published[0].chain == ("tcp", LABEL, "websocket", "mqtt PUBLISH lab/t")
    assert not [x for x in items if isinstance(x, Payload) and x.chain[-1] == "websocket"]   # not read twice
    other = b"".join(x.data for x in items if isinstance(x, Payload) and x.chain[-1] == "mqtt")
    assert b"seq-01" in other and b"\x20\x02\x00\x00" in other
    assert p.ctx.info.app != "mqtt" and p.ctx.info.meta["websocket_carries"] == "mqtt"


def test_a_first_client_message_that_is_an_mqtt_connect_carries_mqtt() -> None:
    """No subprotocol named (the handshake missed, or a client that names none): a CONNECT in the
    first client message is enough; a first message that is no CONNECT leaves messages as they are."""
    from sandbox.simulate import wire

    conv = [("out", ws_frame(wire.mqtt_connect("x"))), ("out", ws_frame(wire.mqtt_publish("t", READS[0])))]
    items = feed_all(parser(), conv)
    assert [x.data for x in items if isinstance(x, Payload) and x.chain[-1] == "mqtt PUBLISH t"] == [READS[0]]
    plain = feed_all(parser(), [("out", ws_frame(b"hello")), ("out", ws_frame(wire.mqtt_connect("x")))])
    assert not [x for x in plain if isinstance(x, Payload) and x.chain[-1].startswith("mqtt")]


def test_a_hole_in_a_message_carrying_mqtt_keeps_both_framings() -> None:
    """A hole inside a WebSocket frame inside an MQTT message: both framings survive, the message is
    read on both sides of the hole and the next one whole."""
    from sandbox.simulate import wire

    body = READS[0] + READS[1]
    publish = wire.mqtt_publish("t", body)
    frame = ws_frame(publish)
    head, mqtt_head = len(frame) - len(publish), len(publish) - len(body)
    p = WebSocketParser(make_ctx(), client="out", label=LABEL, extensions="", protocol="mqtt")
    items = p.feed("out", ws_frame(wire.mqtt_connect("x")), 1.0) + p.feed("out", frame[:head + 300], 1.0)
    items += p.gap("out", 100) + p.feed("out", frame[head + 400:], 1.0)
    items += p.feed("out", ws_frame(wire.mqtt_publish("t", b"after the hole")), 1.0) + p.close(2.0)
    got = [x.data for x in items if isinstance(x, Payload) and x.chain[-1] == "mqtt PUBLISH t"]
    assert got == [body[:300 - mqtt_head], body[400 - mqtt_head:], b"after the hole"]


def test_a_client_s_masking_keys_are_a_stream_of_their_own() -> None:
    """Four bytes a frame the client draws: read joined over its frames (the server's are unmasked)."""
    keys = [b"@r1 ", b"ACGT", b"TTGA", b"+\nFF"]
    frames = b"".join(bytes([0x89, 0x80]) + key for key in keys)          # empty pings
    items = feed_all(parser(), [("out", frames), ("in", ws_frame(b"pong", opcode=10, masked=False))])
    joined = [p for p in items if isinstance(p, Payload) and p.chain[-2:] == (websocket.MASKING_KEYS, "messages joined")]
    assert b"".join(p.data[p.repeated:] for p in joined) == b"".join(keys)
    assert all(p.direction == "out" for p in joined)

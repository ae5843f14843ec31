"""One conformance suite for every registered TCP stream parser (sourmash style).

Whatever the parser: the same conversation fed whole, split at every position, or cut into
random chunks gives the same Payloads; garbage, truncation and gaps never raise.  The
helpers at the bottom (loopback recording by ``host:port``, tshark "follow" as oracle) are
shared with the protocol tests of this folder.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import h2.config
import h2.connection
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.model import FlowInfo, Observation, Payload
from sandbox.protocols import STREAM_PARSERS
from sandbox.protocols.context import FlowContext
from tests import loopback

Conversation = list[tuple[str, bytes]]
_HEX_LINE = re.compile(r"\t?[0-9a-f]+$")
# streams handed on in pieces their bytes' times cut
TIME_CUT = {("tcp",), ("tcp", "mqtt"), ("tcp", "amqp"), ("tcp", "postgres"), ("tcp", "amqp1"), ("tcp", "tls framing lost")}


def make_ctx(opener: str = "out") -> FlowContext:
    info = FlowInfo(flow="tcp 10.0.0.2:50000 > 10.0.0.1:80", channel="net", transport="tcp",
                    src="10.0.0.2", sport=50000, dst="10.0.0.1", dport=80)
    return FlowContext(flow=info.flow, info=info, shared={}, opener=opener)


def run(cls: type, conversation: Conversation, ctx: FlowContext | None = None,
        close: bool = True) -> list[Payload | Observation]:
    parser = cls(ctx or make_ctx())
    out: list[Payload | Observation] = []
    for i, (direction, data) in enumerate(conversation):
        if direction == "gap-out" or direction == "gap-in":
            out += parser.gap(direction[4:], len(data))
        else:
            out += parser.feed(direction, data, float(i))
    if close:
        out += parser.close(float(len(conversation)))
    return out


def key(items: list[Payload | Observation]) -> list[tuple]:
    """What must not depend on how the bytes were chunked (times do: they follow the feeds).

    Raw chunks (chain ``("tcp",)``) and a parser's bytes outside its messages (``("tcp", "amqp")``) are
    cut where the bytes' arrival times say (a busy stream is handed on every ``RAW_FLUSH_SECONDS``):
    what must not change is the stream they rebuild, each way.  Short messages read joined are batched
    by the times they came (``follow.JOINED_WAIT``): left out."""
    raw: dict[tuple, bytearray] = {}
    out: list[tuple] = []
    for p in items:
        if isinstance(p, Payload) and p.chain[-1] == "messages joined":
            continue
        if isinstance(p, Payload) and p.chain in TIME_CUT and p.stream_offset is not None:
            stream = raw.setdefault((p.chain, p.direction), bytearray())
            stream[p.stream_offset:] = p.data
        else:
            out.append((p.chain, p.direction, p.data, p.stream_offset) if isinstance(p, Payload)
                       else (p.kind, p.chain))
    return out + sorted(("raw", *k, bytes(b)) for k, b in raw.items())


def _h2_conversation() -> Conversation:
    """A real HTTP/2 exchange made by the h2 library (sans-IO, no socket needed)."""
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    client.initiate_connection()
    conv: Conversation = [("out", client.data_to_send())]
    server.initiate_connection()
    server.receive_data(conv[0][1])
    conv.append(("in", server.data_to_send()))
    client.receive_data(conv[1][1])
    client.send_headers(1, [(":method", "POST"), (":path", "/svc/Put"), (":scheme", "http"),
                            (":authority", "example"), ("content-type", "application/grpc")])
    client.send_data(1, b"\x00\x00\x00\x00\x05hello" + b"\x00\x00\x00\x00\x03abc", end_stream=True)
    conv.append(("out", client.data_to_send()))
    server.receive_data(conv[-1][1])
    server.send_headers(1, [(":status", "200"), ("content-type", "text/plain")])
    server.send_data(1, b"response body", end_stream=True)
    conv.append(("in", server.data_to_send()))
    return conv


def ws_mask(data: bytes, key: bytes) -> bytes:
    """RFC 6455 5.3 masking, written out plainly (the parser's is vectorised)."""
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


_HTTP1 = [
    ("out", b"POST /up?run=X1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nACGTA\r\n3;ext=1\r\nCGT\r\n0\r\nX-Checksum: 1\r\n\r\n"),
    ("in", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nokay"),
    ("out", b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
    ("in", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
           b"\x81\x05hello"),
    ("out", b"\x81\x84abcd" + ws_mask(b"data", b"abcd")),
]
_WS = [
    ("out", b"\x01\x83abcd" + ws_mask(b"dat", b"abcd")),
    ("out", b"\x89\x80wxyz"),
    ("out", b"\x80\x82abcd" + ws_mask(b"a!", b"abcd")),
    ("in", b"\x82\x03\x01\x02\x03"),
]
# A conversation per parser name; parsers of other protocols get a generic mix, which
# still checks that chunking does not change their output.
# SSH: banners, a KEXINIT and NEWKEYS each way (message numbers 20, 21), then ciphertext
_SSH_CLEAR = (5).to_bytes(4, "big") + b"\x04\x14" + bytes(3) + (12).to_bytes(4, "big") + b"\x0a\x15" + bytes(10)
_SSH: Conversation = [("in", b"SSH-2.0-OpenSSH_9.6\r\n" + _SSH_CLEAR),
                      ("out", b"SSH-2.0-OpenSSH_9.2p1\r\n" + _SSH_CLEAR + random.Random(1).randbytes(400)),
                      ("in", random.Random(2).randbytes(300))]

def _smb_conversation() -> Conversation:
    """A share named, a file opened, a write in clear and one compressed (tests.protocols.smb_messages)."""
    from sandbox.decode import msxca
    from sandbox.simulate import wire
    from tests.protocols import smb_messages as m
    conv = wire.smb_upload("run\\reads.fastq", b"@r1\nACGTACGTAA\n+\nIIIIIIIIII\n" * 4, piece=64)
    conv.append(("out", wire.smb_frame(m.compressed(wire.smb_write(9, wire.SMB_FILE_ID, 256, b"ACGT" * 40), msxca.LZ77, keep=112))))
    return conv


def _mqtt_conversation() -> Conversation:
    """MQTT 5: CONNECT, a topic alias set then used, a message of QoS 1 acknowledged, a short one, PINGREQ."""
    from sandbox.simulate import wire
    return [("out", wire.mqtt_connect("seq-01", level=5, user="lab", password=b"pw")), ("in", b"\x20\x03\x00\x00\x00"),
            ("out", wire.mqtt_publish("run/42/reads", b"@r1\nACGTACGTAA\n+\nIIIIIIIIII\n" * 4, qos=1, level=5,
                                      properties=b"\x23\x00\x01")),
            ("in", b"\x40\x02\x00\x01"),
            ("out", wire.mqtt_publish("", b"ACGT" * 30, level=5, properties=b"\x23\x00\x01")), ("out", b"\xc0\x00")]


def _amqp_conversation() -> Conversation:
    """AMQP 0-9-1: the protocol header, connection.start, a message in frames of 96 bytes interleaved with
    another channel's, a heartbeat."""
    from sandbox.simulate import wire
    start = wire.amqp_frame(1, 0, b"\x00\x0a\x00\x0a\x00\x09" + bytes(4) + b"\x00\x00\x00\x05PLAIN" + b"\x00\x00\x00\x05en_US")
    one = wire.amqp_publish(1, "runs", "run42.reads", b"@r1\nACGTACGTAA\n+\nIIIIIIIIII\n" * 8, frame_max=96)
    two = wire.amqp_publish(2, "", "status", b"ok")
    return [("out", wire.AMQP_HEADER), ("in", start), ("out", one[:150]), ("out", two), ("out", one[150:]),
            ("in", wire.amqp_frame(8, 0, b""))]


def _postgres_conversation() -> Conversation:
    """PostgreSQL: SSLRequest refused, a startup, a COPY in CopyData of 40 bytes, its answers."""
    from sandbox.simulate import wire
    return [("out", b"\x00\x00\x00\x08\x04\xd2\x16\x2f"), ("in", b"N"), ("out", wire.pg_startup("lims", "runs")),
            ("in", wire.pg_message(b"R", bytes(4)) + wire.pg_message(b"Z", b"I")),
            ("out", wire.pg_copy("runs", b"run42\t\\x1f8b0800ACGTACGTAA\n" * 6, piece=40)),
            ("in", wire.pg_message(b"C", b"COPY 6\0") + wire.pg_message(b"Z", b"I"))]


def _amqp10_conversation() -> Conversation:
    """AMQP 1.0: SASL, the AMQP header, an attach, a message in transfers of 120 bytes interleaved with
    another link's, a heartbeat."""
    from sandbox.simulate import wire
    one = wire.amqp10_transfers(0, 0, wire.amqp10_data(b"@r1\nACGTACGTAA\n+\nIIIIIIIIII\n" * 8), max_frame=184)
    two = wire.amqp10_transfers(1, 0, wire.amqp10_data(b"ok"))
    return [("out", wire.AMQP10_SASL_HEADER), ("in", wire.AMQP10_SASL_HEADER),
            ("in", wire.amqp10_frame(0x44, b"\x50\x00", 1, kind=1)), ("out", wire.AMQP10_HEADER),
            ("out", wire.amqp10_attach("l0", 0, "/queue/runs")), ("out", wire.amqp10_attach("l1", 1, "/queue/status")),
            ("out", one[:200]), ("out", two), ("out", one[200:]), ("in", b"\x00\x00\x00\x08\x02\x00\x00\x00")]


SAMPLES: dict[str, Conversation] = {"http/1.1": _HTTP1, "http/2": _h2_conversation(), "websocket": _WS,
                                    "ssh": _SSH, "smb": _smb_conversation(), "mqtt": _mqtt_conversation(),
                                    "amqp": _amqp_conversation(), "postgres": _postgres_conversation(),
                                    "amqp1": _amqp10_conversation()}
GENERIC: Conversation = [("out", b"HELO x\r\nUSER a\r\n\x16\x03\x01\x00\x05hello"), ("in", b"220 ok\r\n+OK\r\n")]
PARSERS = [pytest.param(cls, id=getattr(cls, "name", cls.__name__)) for cls in STREAM_PARSERS]


def _sample(cls: type) -> Conversation:
    return SAMPLES.get(getattr(cls, "name", ""), GENERIC)


def _split(conv: Conversation, k: int, i: int) -> Conversation:
    direction, data = conv[k]
    return conv[:k] + [(direction, data[:i]), (direction, data[i:])] + conv[k + 1 :]


@pytest.mark.parametrize("cls", PARSERS)
def test_interface(cls: type) -> None:
    assert isinstance(cls.name, str) and cls.name
    assert isinstance(cls.detect(b"", b"", 1, 2), bool)
    for method in ("feed", "gap", "close"):
        assert callable(getattr(cls, method))


@pytest.mark.parametrize("cls", PARSERS)
def test_split_at_every_position(cls: type) -> None:
    conv = _sample(cls)
    whole = key(run(cls, conv))
    assert whole, "the sample conversation gives no payload at all"
    for k, (_, data) in enumerate(conv):
        for i in range(1, len(data)):
            assert key(run(cls, _split(conv, k, i))) == whole, (k, i)


@pytest.mark.parametrize("cls", PARSERS)
def test_byte_at_a_time(cls: type) -> None:
    conv = _sample(cls)
    single = [(d, data[i : i + 1]) for d, data in conv for i in range(len(data))]
    assert key(run(cls, single)) == key(run(cls, conv))


@pytest.mark.parametrize("cls", PARSERS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_random_chunkings(cls: type, seed: int) -> None:
    conv = _sample(cls)
    rng = random.Random(seed)
    chunked: Conversation = []
    for direction, data in conv:
        i = 0
        while i < len(data):
            n = rng.randint(1, max(1, len(data) // 3))
            chunked.append((direction, data[i : i + n]))
            i += n
    assert key(run(cls, chunked)) == key(run(cls, conv))


@pytest.mark.parametrize("cls", PARSERS)
def test_truncation_never_raises(cls: type) -> None:
    conv = _sample(cls)
    for k, (direction, data) in enumerate(conv):
        for i in range(0, len(data), max(1, len(data) // 40)):
            run(cls, conv[:k] + [(direction, data[:i])])


@pytest.mark.parametrize("cls", PARSERS)
@settings(max_examples=60, deadline=None)
@given(chunks=st.lists(st.tuples(st.sampled_from(["out", "in", "gap-out", "gap-in"]),
                                 st.binary(max_size=300)), max_size=12))
def test_garbage_and_gaps_never_raise(cls: type, chunks: Conversation) -> None:
    items = run(cls, chunks)
    assert all(isinstance(p, Payload | Observation) for p in items)


@pytest.mark.parametrize("cls", PARSERS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_mutated_sample_never_raises(cls: type, data: st.DataObject) -> None:
    conv = [(d, bytearray(b)) for d, b in _sample(cls)]
    for _ in range(data.draw(st.integers(1, 6))):
        k = data.draw(st.integers(0, len(conv) - 1))
        if conv[k][1]:
            i = data.draw(st.integers(0, len(conv[k][1]) - 1))
            conv[k][1][i] = data.draw(st.integers(0, 255))
    run(cls, [(d, bytes(b)) for d, b in conv])


# --------------------------------------------------------------------------- shared helpers


@contextmanager
def record_lo(path: Path, host: str, port: int) -> Iterator[Path]:
    """Record ``host:port`` TCP traffic on ``lo`` (tests.loopback) for the tshark-oracle tests here."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed")
    with loopback.record_lo(path, f"host {host} and tcp port {port}") as rec:
        yield rec.path


def tcp_streams(pcap: Path) -> dict[int, Conversation]:
    """Each TCP stream of ``pcap`` as tshark reassembles it: [(direction, bytes)] in order.

    Node 0 (the side that sent first, i.e. the client) is "out".
    """
    fields = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-e", "tcp.stream"],
                            capture_output=True, text=True, check=True).stdout.split()
    ids = sorted({int(x) for x in fields if x})
    if not ids:
        return {}
    follow = [arg for n in ids for arg in ("-z", f"follow,tcp,raw,{n}")]
    text = subprocess.run(["tshark", "-r", str(pcap), "-q", *follow],
                          capture_output=True, text=True, check=True).stdout
    streams: dict[int, Conversation] = {}
    for block in text.split("Filter: tcp.stream eq ")[1:]:
        n = int(block.split("\n", 1)[0])
        conv: Conversation = []
        body = block.split("Node 1:", 1)[1].split("\n", 1)[1]
        for line in body.splitlines():
            if not _HEX_LINE.match(line):
                continue  # separators, the next block's "Follow:" banner
            direction = "in" if line.startswith("\t") else "out"
            conv.append((direction, bytes.fromhex(line.strip())))
        streams[n] = conv
    return dict(sorted(streams.items()))


def parse_pcap(pcap: Path, cls: type, opener: str = "out") -> tuple[list[Payload | Observation], list[FlowContext]]:
    """Feed every TCP stream of ``pcap`` (tshark follow) to a fresh ``cls`` parser."""
    out: list[Payload | Observation] = []
    ctxs = []
    for conv in tcp_streams(pcap).values():
        if not conv:
            continue
        ctx = make_ctx(opener)
        out += run(cls, conv, ctx)
        ctxs.append(ctx)
    return out, ctxs


def dissect_pcap(pcap: Path) -> list[Payload | Observation] | None:
    """The whole pipeline (helper A's capture reader + Dissector), None when not there yet."""
    try:
        from sandbox.captures import open_capture
        from sandbox.protocols import Dissector

        dissector = Dissector(None)
        out: list[Payload | Observation] = []
        with_capture: Callable = open_capture
        capture = with_capture(pcap)
        for seg in capture:
            out += dissector.feed(seg)
        out += dissector.close()
        return out
    except (ImportError, NotImplementedError):
        return None


def check_dissector(pcap: Path, items: list[Payload | Observation]) -> None:
    """The full pipeline (capture reader + Dissector + registry) gives the Payloads that feeding
    the parser with tshark's reassembled streams gives (loopback captures have no holes).  Short
    messages read joined are batched by the time they came and by the flow going quiet (which only
    the Dissector says): they are left out."""
    whole = dissect_pcap(pcap)
    if whole is None:
        return

    def k(ps: list) -> list:
        return sorted((p.chain, p.direction, p.data) for p in ps if isinstance(p, Payload)
                      and p.chain[-1] != "messages joined")

    assert k(whole) == k(items)


def payloads(items: list[Payload | Observation], *chain_part: str) -> list[Payload]:
    """Payloads whose chain contains every element given (prefix match per element)."""
    return [p for p in items if isinstance(p, Payload)
            and all(any(c.startswith(part) for c in p.chain) for part in chain_part)]

"""A gzip of reads behind 150 kB of noise, uploaded in numbered parts of 1 kB that come out of order,
replays as a leak.

Each part a POST of its number (``/upload/part/7``, ``?partNumber=7``, ``/up/7.bin``, ``?offset=7168``,
a ``Content-Range``, tus's ``Upload-Offset``, an ``X-Chunk-Index`` header, an HTTP/2 stream a part): sent shuffled on one connection, a connection a part (in order or not), or
round-robin over three connections, they replayed clean.  A part is smaller than a deflate block, so no
part holds a block of its own to read from, and every part came after another part than the one before
it in the file; so were parts that name no number sent in order, a connection a part or round-robin
over three.  Now the pieces of a site's numbered parts are read in their numbers' order, and a path's
unnumbered ones in the order they come (``sandbox.protocols.parts``).  The controls: a gzip of another genome's reads and random bytes, sent
the same ways, find nothing.
"""

from __future__ import annotations

import gzip
import random

import h2.config
import h2.connection
import h2.settings
import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.replay import replay
from tests.hostile.uploads import (
    ALLOWED,
    assert_content_leak,
    assert_no_content,
    run_and_reads,
    unrelated_reads,
    written_report,
)

NOISE = random.Random(3).randbytes(150_000)
PART = 1024
TARGETS = {"path": b"/upload/part/%d", "query": b"/upload?uploadId=Zm9vYmFy2&partNumber=%d",
           "file name": b"/up/%d.bin", "offset": b"/upload?offset=%d", "no number": b"/upload",
           # the part named in a header: a range's first byte, tus's offset, a chunk's index
           "Content-Range": b"/upload/session7 Content-Range: bytes %d-%d/%d",
           "Upload-Offset": b"/files/24e533e0 Upload-Offset: %d", "X-Chunk-Index": b"/chunks X-Chunk-Index: %d",
           # a random number after the part's (a nonce, a timestamp)
           "nonce after the number": b"/upload/part/%d/r%d", "query of other names": b"/u?x=%d&t=%d"}
ORDERS = ("shuffled", "reversed", "in order")


def _order(count: int, order: str) -> list[int]:
    numbers = list(range(count))
    if order == "shuffled":
        random.Random(4).shuffle(numbers)
    elif order == "reversed":
        numbers.reverse()
    return numbers


def _http1(path, data: bytes, target: bytes, conns: int, order: str) -> None:
    """Parts over ``conns`` connections round-robin (0: a connection a part, one after another)."""
    parts = [data[i:i + PART] for i in range(0, len(data), PART)]
    first = 1 if b"partNumber" in target else 0
    with PcapWriter(path) as w:
        flows = [TcpConversation(w, ("10.0.0.2", 40000 + k), (ALLOWED, 80), t0=1.0 + k * 0.001) for k in range(conns)]
        for k, n in enumerate(_order(len(parts), order)):
            flow = flows[k % conns] if conns else TcpConversation(w, ("10.0.0.2", 41000 + k), (ALLOWED, 80),
                                                                 t0=2.0 + k * 0.005)
            number = n * PART if b"offset" in target.lower() or b"Range" in target else n + first
            line, _, header = target.partition(b" ")
            if header:
                values = (number, number + len(parts[n]) - 1, len(data))[:header.count(b"%")]
                header = header % values + b"\r\n"
            else:
                line = line % (number, random.Random(k).randrange(10**9))[:line.count(b"%")]
            flow.send(b"POST " + line + b" HTTP/1.1\r\nHost: lims.lab.example\r\n" + header
                      + b"Content-Length: %d\r\n\r\n%s" % (len(parts[n]), parts[n]))
            flow.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", from_client=False)
            if not conns:
                flow.close()
        for flow in flows:
            flow.close()


def _http2(path, data: bytes) -> None:
    """A stream a part on one HTTP/2 connection (h2's encoder), the parts shuffled."""
    parts = [data[i:i + PART] for i in range(0, len(data), PART)]
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    server.initiate_connection()
    server.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 30})
    server.increment_flow_control_window(1 << 30)
    with PcapWriter(path) as w:
        flow = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 80), t0=1.0)
        preface = conn.data_to_send()
        flow.send(preface)
        server.receive_data(preface)
        window = server.data_to_send()      # the server's settings: a window for the uploads
        flow.send(window, from_client=False)
        conn.receive_data(window)
        for k, n in enumerate(_order(len(parts), "shuffled")):
            sid = 1 + 2 * k
            conn.send_headers(sid, [(":method", "POST"), (":path", f"/v1/chunks/{n}"), (":scheme", "http"),
                                    (":authority", "lims.lab.example")])
            conn.send_data(sid, parts[n], end_stream=True)
            request = conn.data_to_send()
            flow.send(request)
            server.receive_data(request)
            server.send_headers(sid, [(":status", "200")], end_stream=True)
            response = server.data_to_send()
            flow.send(response, from_client=False)
            conn.receive_data(response)
        flow.close()


WAYS = {f"{name}, {order}, {'a connection a part' if conns == 0 else f'over {conns} connections'}":
        (lambda path, data, t=target, c=conns, o=order: _http1(path, data, t, c, o))
        for name, target in TARGETS.items() for conns, order in ((1, "shuffled"), (0, "in order"), (0, "shuffled"),
                                                                 (3, "reversed"), (3, "shuffled"), (3, "in order"))
        # parts that name no number are read in the order they come (shuffled: nothing says their order)
        if name != "no number" or order == "in order"}
WAYS["HTTP/2, a stream a part, shuffled"] = _http2


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "numbered-parts")


def _report(tmp, run, name: str, data: bytes, control: str = "") -> dict:
    return written_report(tmp, run, control + name, lambda path: WAYS[name](path, data))


@pytest.mark.parametrize("name", WAYS)
def test_a_gzip_of_reads_in_numbered_parts_out_of_order_replays_as_a_leak(run_reads, name):
    tmp, run, reads = run_reads
    assert_content_leak(_report(tmp, run, name, gzip.compress(NOISE + reads)), name)


@pytest.mark.parametrize("name", WAYS)
def test_the_same_of_other_bytes_finds_nothing(run_reads, name):
    tmp, run, _ = run_reads
    for control, data in (("other-", gzip.compress(NOISE + unrelated_reads(name))),
                          ("random-", random.Random(name).randbytes(160_000))):
        report = _report(tmp, run, name, data, control)
        assert_no_content(report, name)



OTHER_SITE = "192.0.2.10"     # a second allowed place


@pytest.mark.parametrize("order", ["in order", "shuffled"])
def test_numbered_parts_sent_to_two_sites_by_turns_replay_as_a_leak(run_reads, order):
    """Each site got every second part (each site's parts read alone start inside the stream): the
    parts of a key to every site are read together once they came to two."""
    tmp, run, reads = run_reads
    for leak, data in ((True, gzip.compress(NOISE + reads)), (False, gzip.compress(NOISE + unrelated_reads(order)))):
        parts = [data[i:i + PART] for i in range(0, len(data), PART)]
        path = tmp / f"two-sites-{order.replace(' ', '-')}-{leak}.pcap"
        with PcapWriter(path) as w:
            flows = [TcpConversation(w, ("10.0.0.2", 40000 + k), (dst, 80), t0=1.0 + k * 0.001)
                     for k, dst in enumerate((ALLOWED, OTHER_SITE))]
            for n in _order(len(parts), order):
                flow = flows[n % 2]
                flow.send(b"POST /upload/part/%d HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s"
                          % (n, (b"lims.lab.example", b"cloud.vendor.example")[n % 2], len(parts[n]), parts[n]))
                flow.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", from_client=False)
            for flow in flows:
                flow.close()
        report = replay([path], [run], allow=[ALLOWED, OTHER_SITE], cache_dir=tmp / "cache", jobs=1).report
        if leak:
            assert_content_leak(report, order)
        else:
            assert_no_content(report, order)

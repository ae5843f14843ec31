"""PostgreSQL: psycopg against a PostgreSQL server of the test's own on lo, recorded with dumpcap; COPY's
data, Bind's parameters and SQL read as messages, the rest scanned; TLS asked for, holes, broken framing."""

from __future__ import annotations

import gzip
import os
import random
from pathlib import Path

import pytest

from sandbox.model import Payload
from sandbox.protocols.postgres import PostgresParser
from sandbox.simulate import wire
from tests.loopback import record_lo
from tests.pgserver import PgServer
from tests.protocols.test_integration import dissect
from tests.protocols.test_stream_parsers_conformance import make_ctx, run

rng = random.Random(7)
READS = b"".join(b"@r%d\n%s\n+\n%s\n" % (i, bytes(rng.choice(b"ACGT") for _ in range(100)), b"F" * 100)
                 for i in range(600))


@pytest.fixture(scope="module")
def server():
    pg = PgServer()
    try:
        yield pg
    finally:
        pg.stop()


def _chains(items: list, tail: str) -> bytes:
    return b"".join(p.data for p in items if isinstance(p, Payload) and p.direction == "out" and p.chain[-1] == tail)


@pytest.mark.parametrize("fmt", ["text", "binary"])
def test_a_copy_is_read_across_its_messages(tmp_path: Path, server: PgServer, fmt: str) -> None:
    """A gzip of reads behind 150 kB of noise in a bytea column, copied from STDIN (psycopg cuts CopyData
    at 32 kB): the messages are read one after another, hex (text format) and gzip followed across them."""
    import psycopg

    data = gzip.compress(os.urandom(150_000) + READS)
    with record_lo(tmp_path / "copy.pcapng", f"tcp port {server.port}") as rec, psycopg.connect(server.url()) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS runs (name text, data bytea)")
        with conn.cursor().copy(f"COPY runs FROM STDIN (FORMAT {fmt})") as copy:
            copy.write_row(("run42", data))
    items, d = dissect(rec.path)
    copies = [p for p in items if isinstance(p, Payload) and p.chain == ("tcp", "postgres COPY")]
    assert len(copies) > 2 and all(p.meta["message"] == "d" for p in copies)
    followed = b"".join(p.data for p in items if isinstance(p, Payload) and p.chain[:2] == ("tcp", "postgres COPY")
                        and p.chain[-1] == "gzip stream")
    assert READS[-5000:] in followed
    assert b"COPY runs FROM STDIN" in _chains(items, "postgres Query")
    assert b"user\0postgres" in _chains(items, "postgres")          # the startup packet: scanned as it is
    (flow,) = [f for f in d.flows.values() if f.app == "postgres"]
    assert not flow.errors


def test_a_bytea_parameter_is_read_in_its_bind(tmp_path: Path, server: PgServer) -> None:
    import psycopg

    data = gzip.compress(READS)
    with record_lo(tmp_path / "bind.pcapng", f"tcp port {server.port}") as rec, psycopg.connect(server.url()) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS blobs (name text, data bytea)")
        conn.execute("INSERT INTO blobs VALUES (%s, %s)", ("run42", data))
    items, _ = dissect(rec.path)
    assert data in _chains(items, "postgres Bind")
    assert b"INSERT INTO blobs" in _chains(items, "postgres Parse")


def test_tls_asked_for_and_refused_or_taken() -> None:
    """SSLRequest answered N: a StartupMessage follows, messages are read; answered S: TLS from there,
    read raw, said as a protocol error."""
    ssl_request = b"\x00\x00\x00\x08\x04\xd2\x16\x2f"
    copy = wire.pg_copy("runs", READS[:3000], piece=1000)
    conv = [("out", ssl_request), ("in", b"N"), ("out", wire.pg_startup("lims", "runs")), ("out", copy)]
    items = run(PostgresParser, conv)
    assert _chains(items, "postgres COPY") == READS[:3000]
    tls = [("out", ssl_request), ("in", b"S"), ("out", b"\x16\x03\x01" + READS[:2000])]
    parser = PostgresParser(make_ctx())
    items = [i for d, b in tls for i in parser.feed(d, b, 1.0)] + parser.close(2.0)
    assert READS[:2000] in b"".join(p.data for p in items if isinstance(p, Payload) and p.chain == ("tcp",))
    assert any("TLS" in e for e in parser.ctx.info.errors)


def test_mid_connection_holes_and_broken_framing() -> None:
    """Seen mid-connection (no startup): the opener is the client; a hole inside CopyData keeps the framing;
    a length under 4 sends the rest of the side raw, nothing lost."""
    copy = wire.pg_copy("runs", READS[:6000], piece=3000)
    items = run(PostgresParser, [("out", copy)])
    assert _chains(items, "postgres COPY") == READS[:6000]
    head = len(wire.pg_message(b"Q", b"COPY runs FROM STDIN\0")) + 5
    items = run(PostgresParser, [("out", copy[:head + 1000]), ("gap-out", bytes(500)), ("out", copy[head + 1500:])])
    assert _chains(items, "postgres COPY") == READS[:1000] + READS[1500:6000]
    bad = b"Q\x00\x00\x00\x02" + READS[:3000]
    items = run(PostgresParser, [("out", wire.pg_startup("a", "b")), ("out", bad)])
    assert b"".join(p.data for p in items if isinstance(p, Payload) and p.chain == ("tcp",)) == bad


def test_detection() -> None:
    assert PostgresParser.detect(wire.pg_startup("a", "b"), b"", 50000, 5432)
    assert PostgresParser.detect(b"\x00\x00\x00\x08\x04\xd2\x16\x2f", b"", 50000, 5432)
    assert not PostgresParser.detect(b"\x00\x00\x00\x08\x00\x00\x00\x01", b"", 50000, 5432)
    assert not PostgresParser.detect(b"GET / HTTP/1.1\r\n", b"", 50000, 80)

"""The shared ring that carries large bytes to the analyzer worker: they arrive exactly, in order,
across the wrap; a ring that is full says so (the bytes are then pickled as before) and is free
again once the worker has taken what it holds; an object met twice in a batch crosses once."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os

import pytest

from sandbox.bytes_ring import RING_MIN, BytesRing, dumps, loads
from sandbox.model import Payload, View


def _payload(data: bytes, n: int = 0) -> Payload:
    return Payload(data, ("tcp", "http/1.1 PUT /x"), f"flow {n}", "out", 1.0, 2.0, destination="x",
                   stream_offset=n)


def _worker(ring: BytesRing, requests, answers) -> None:
    """Loads what it is sent, when it is sent, and answers with what it got."""
    while (blob := requests.get()) is not None:
        batch = loads(blob, ring)
        answers.put([(p.flow, hashlib.sha256(p.data).hexdigest()) for p in batch])


@pytest.fixture
def worker():
    ctx = mp.get_context("fork")
    ring = BytesRing(4 * RING_MIN)
    requests, answers = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_worker, args=(ring, requests, answers), daemon=True)
    proc.start()
    yield ring, requests, answers
    requests.put(None)
    proc.join(10)
    ring.close()


def _sums(batch: list[Payload]) -> list[tuple[str, str]]:
    return [(p.flow, hashlib.sha256(p.data).hexdigest()) for p in batch]


def test_bytes_cross_to_the_worker_exactly_across_the_wrap(worker):
    ring, requests, answers = worker
    sizes = [RING_MIN, 3 * RING_MIN // 2, 5, 2 * RING_MIN + 7, 4 * RING_MIN, RING_MIN + 1, 3 * RING_MIN] * 2
    for n, size in enumerate(sizes):
        batch = [_payload(os.urandom(size), n), _payload(b"small", n)]
        blob = dumps(batch, ring)
        assert len(blob) < 1000 or size < RING_MIN          # only the place travels
        requests.put(blob)
        assert answers.get(timeout=10) == _sums(batch)
    assert ring.put(bytes(4 * RING_MIN + 1)) is None          # larger than the ring


def test_a_full_ring_refuses_until_the_worker_takes_what_it_holds(worker):
    ring, requests, answers = worker
    held = [[_payload(os.urandom(3 * RING_MIN // 2), n)] for n in range(2)]
    blobs = [dumps(batch, ring) for batch in held]
    third = [_payload(os.urandom(3 * RING_MIN // 2), 2)]
    inline = dumps(third, ring)     # 3 of 4 MB held: the third does not fit and is pickled whole
    assert len(inline) > RING_MIN
    for blob, batch in zip([*blobs, inline], [*held, third], strict=True):
        requests.put(blob)
        assert answers.get(timeout=10) == _sums(batch)
    assert len(dumps(third, ring)) < 1000                   # freed in order: room again


def test_bytes_met_twice_cross_once_and_stay_one_object():
    """A view whose bytes are its payload's (nothing decoded, nothing collapsed) is one object."""
    ring = BytesRing(4 * RING_MIN)
    try:
        data = os.urandom(RING_MIN)
        p = _payload(data)
        back = loads(dumps([p, View(data, ("raw",))], ring), ring)
        assert back[0].data == data and back[1].data is back[0].data
        assert p.data is data                                # the caller's payload keeps its bytes
        ring.warm()
        assert len(dumps([p, p], ring)) < 1000 and ring._head == 2 * RING_MIN
    finally:
        ring.close()


def test_warming_the_ring_keeps_what_is_in_it():
    """The worker warms the ring while the session may already have put bytes there."""
    ring = BytesRing(4 * RING_MIN)
    try:
        data = os.urandom(RING_MIN)
        blob = dumps([data], ring)
        ring.warm()
        assert loads(blob, ring) == [data]
    finally:
        ring.close()

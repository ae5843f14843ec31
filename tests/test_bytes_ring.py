"""The shared ring that carries large payloads to the analyzer worker: bytes arrive exactly, in
order, across the wrap; a ring that is full says so (the payload then takes the queue) and is free
again once the worker has taken what it holds."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os

import pytest

from sandbox.bytes_ring import BytesRing, InRing
from sandbox.model import Payload


def _payload(data: bytes, n: int = 0) -> Payload:
    return Payload(data, ("tcp", "http/1.1 PUT /x"), f"flow {n}", "out", 1.0, 2.0, destination="x",
                   stream_offset=n)


def _worker(ring: BytesRing, requests, answers) -> None:
    """Takes what it is told to, when it is told to, and answers with what it got."""
    while (item := requests.get()) is not None:
        p = ring.take(item)
        answers.put((p.flow, p.stream_offset, hashlib.sha256(p.data).hexdigest(), len(p.data)))


@pytest.fixture
def worker():
    ctx = mp.get_context("fork")
    ring = BytesRing(1 << 20)
    requests, answers = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_worker, args=(ring, requests, answers), daemon=True)
    proc.start()
    yield ring, requests, answers
    requests.put(None)
    proc.join(10)
    ring.close()


def test_bytes_cross_to_the_worker_exactly_across_the_wrap(worker):
    ring, requests, answers = worker
    sizes = [300_000, 400_000, 200_000, 350_000, 1 << 20, 5, 700_000, 999_999] * 3
    for n, size in enumerate(sizes):
        data = os.urandom(size)
        item = ring.put(_payload(data, n))
        assert isinstance(item, InRing) and item.payload.data == b""      # only the place travels
        requests.put(item)
        assert answers.get(timeout=10) == (f"flow {n}", n, hashlib.sha256(data).hexdigest(), size)
    assert ring.put(_payload(bytes((1 << 20) + 1))) is None                # larger than the ring


def test_a_full_ring_refuses_until_the_worker_takes_what_it_holds(worker):
    ring, requests, answers = worker
    held = [ring.put(_payload(os.urandom(400_000), n)) for n in range(2)]
    assert all(held)
    third = _payload(os.urandom(400_000), 2)
    assert ring.put(third) is None          # 800 kB held of 1 MB: it does not fit, the caller goes on
    for item in held:
        requests.put(item)
        answers.get(timeout=10)
    item = ring.put(third)                  # freed in order: room again (placed after the wrap)
    assert item is not None and item.at == 0
    requests.put(item)
    assert answers.get(timeout=10)[2] == hashlib.sha256(third.data).hexdigest()


def test_the_callers_payload_keeps_its_bytes():
    ring = BytesRing(1 << 20)
    try:
        p = _payload(b"x" * 1000)
        item = ring.put(p)
        assert p.data == b"x" * 1000 and item.payload.data == b""
        assert ring.take(item).data == p.data      # one process can be both ends
    finally:
        ring.close()


def test_warming_the_ring_keeps_what_is_in_it():
    """The worker warms the ring while the session may already have put a payload there."""
    ring = BytesRing(1 << 20)
    try:
        data = os.urandom(300_000)
        item = ring.put(_payload(data))
        ring.warm()
        assert ring.take(item).data == data
    finally:
        ring.close()

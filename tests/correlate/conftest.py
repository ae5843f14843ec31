"""The generated run folder and its index, shared by the correlator tests."""

from __future__ import annotations

import pytest

from sandbox.index import build_index
from sandbox.model import Payload, View
from tests.index.genrun import make_run


@pytest.fixture(scope="session")
def gen_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("gen") / "run", samples=2, reads_per_sample=3000)


@pytest.fixture(scope="session")
def gen_index(gen_run, tmp_path_factory):
    return build_index(gen_run.path, cache_dir=tmp_path_factory.mktemp("cache"))


def payload(data: bytes, flow: str = "tcp 10.0.0.2:5000 > 203.0.113.9:80", t: float = 1.0,
            destination: str = "upload.example", chain: tuple[str, ...] = ("tcp", "http/1.1 POST /x"),
            direction: str = "out") -> Payload:
    return Payload(data, chain, flow, direction, t, t + 0.5, destination=destination, stream_offset=0)


def views(data: bytes, *extra: tuple[bytes, tuple[str, ...]]) -> list[View]:
    return [View(data, ("tcp", "http/1.1 POST /x")), *(View(d, c) for d, c in extra)]

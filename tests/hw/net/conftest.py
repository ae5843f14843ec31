"""Fixtures the network tap's loopback tests share."""

from __future__ import annotations

import pytest

from tests.hw.net.servers import https_sink, make_pki


@pytest.fixture()
def cloud(tmp_path):
    """An HTTPS server on loopback that keeps what it receives: its PKI, its port, what it got."""
    pki = make_pki(tmp_path / "pki", ["localhost", "127.0.0.1"])
    server, received = https_sink(pki)
    yield pki, server.server_address[1], received
    server.shutdown()

"""dumpcap's recording gets the TLS keys embedded, so a replay decrypts it on its own."""

from __future__ import annotations

import shutil

import pytest

from hw.net.dumpcap import Dumpcap
from sandbox.captures import open_capture
from sandbox.captures.writer import PcapngWriter

KEYLOG = b"CLIENT_RANDOM " + b"ab" * 32 + b" " + b"cd" * 48 + b"\n"


def test_keys_are_injected_and_the_key_log_can_go(tmp_path):
    if shutil.which("editcap") is None:
        pytest.skip("editcap not installed")
    out = tmp_path / "net.pcapng"
    with PcapngWriter(out) as w:
        w.write(b"\0" * 60, 1.0)
    keylog = tmp_path / "tls-keys.log"
    keylog.write_bytes(KEYLOG)
    d = Dumpcap("lo", out)
    assert d.inject_secrets(keylog) is None
    assert open_capture(out).tls_secrets.strip() == KEYLOG.strip()
    assert len(list(open_capture(out))) == 0 and open_capture(out).size > 0


def test_nothing_to_inject_is_not_an_error(tmp_path):
    d = Dumpcap("lo", tmp_path / "net.pcapng")
    assert d.inject_secrets(tmp_path / "none.log") is None

from __future__ import annotations

from sandbox.correlate.redact import preview


def test_text_is_masked_binary_is_short_hex():
    assert preview(b"ACGTTGCAACGTTGCAACGT") == "A***************…"
    assert preview(b'{"seq":"ACGT"}') == '{"***":"****"}'
    assert preview(b"@M0:1\nAC") == "@**:*\\n**"
    assert preview(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03abc") == "1f8b080000000000…"
    assert preview(b"") == ""

"""Previews for evidence: enough to recognise the place in a payload, never run data itself."""

from __future__ import annotations

import re

PREVIEW_CHARS = 16  # characters of text shown, masked
PREVIEW_HEX = 8  # bytes of binary shown as hex (compressed or packed data: meaningless alone)
_MASK = re.compile(rb"[A-Za-z0-9]")
_PRINTABLE = re.compile(rb"^[\x20-\x7e\t\r\n]*$")


def preview(data: bytes) -> str:
    """Text keeps its first character and its punctuation, every letter or digit after it becomes
    '*' ("ACGTTG..." -> "A*****…", '{"seq":"ACG' -> '{"***":"***'); binary shows 8 bytes of hex."""
    head = data[:PREVIEW_CHARS]
    if not head:
        return ""
    more = "…" if len(data) > len(head) else ""
    if _PRINTABLE.match(head):
        masked = head[:1] + _MASK.sub(b"*", head[1:])
        return masked.decode("ascii").replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t") + more
    return data[:PREVIEW_HEX].hex() + ("…" if len(data) > PREVIEW_HEX else "")

"""LINKTYPE_PPP (9): a PPP frame, with or without the HDLC address and control bytes (FF 03)."""

from __future__ import annotations

from sandbox.captures.numbers import PPP


def network(data: bytes) -> tuple[int, int]:
    return PPP, 0

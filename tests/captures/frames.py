"""One frame through a link module and the network layer, for tests of single headers."""

from __future__ import annotations

from sandbox.captures.capture import LINK_BROKEN, PACKET_ERRORS
from sandbox.captures.ip import IpDecoder
from sandbox.captures.links import LINKTYPES
from sandbox.model import Segment


def decode(frame: bytes, linktype: int = 1) -> tuple[Segment | None, IpDecoder]:
    """The Segment in ``frame`` (or None) and the decoder, whose counters say why there is none
    (as ``Capture`` counts a link header it cannot read)."""
    decoder = IpDecoder()
    try:
        proto, off = LINKTYPES[linktype].network(frame)
    except PACKET_ERRORS:
        decoder.not_examined(LINK_BROKEN.format(linktype), len(frame))
        return None, decoder
    return decoder.decode(proto, frame, off, 1.0, 1), decoder


def outcome(frame: bytes, linktype: int = 1) -> str:
    """"segment", or the one reason the frame was skipped or not examined."""
    seg, decoder = decode(frame, linktype)
    if seg is not None:
        return "segment"
    (reason,) = list(decoder.skipped) + list(decoder.unexamined)
    return reason

"""Inputs the fuzzers (`make fuzz`) found crashing a component, kept as regression tests."""

from __future__ import annotations

import base64

from sandbox.decode import expand
from sandbox.decode.base import Budget
from sandbox.decode.zip import ZipDecoder
from sandbox.model import FlowInfo
from sandbox.protocols.context import FlowContext
from sandbox.protocols.http2 import Http2Parser

# decoder-zip, 20 s in: a central-directory entry with an empty file name makes zipfile's
# ZipInfo.is_dir() raise IndexError; the expander notes "error: zip raised IndexError" and the
# members after it were never examined (a hiding place);
# fixed in the one codec layer: the member is examined under an empty label.
EMPTY_NAME_ZIP = base64.b64decode(
    "UEsDBBQAAAAIAGF7g11c7vq7owAAAC4OAAALAAAAcmVhZHMuZmFzdHG11isOAzEMRVGeVZSXjJ+nv6CxAqySIq9k9g/qrqDoBljOaXTwi8ppdE6jcxqd0+icRuc0OqXxC1BLAQIUAxSA///3/56EfV1c7vq7owAAAC4OAAALAAAAAAAAAAAAAACAAQAAFAEAAAAAAABmYXN0cVBLBQYAAAAAAQABADkAAADMAAAAAAA=")


def test_zip_with_an_empty_member_name_decodes_without_raising() -> None:
    list(ZipDecoder.decode(EMPTY_NAME_ZIP, Budget(1 << 20, "test")))


def test_zip_with_an_empty_member_name_is_examined() -> None:
    assert not any(note.startswith("error:") for note in expand(EMPTY_NAME_ZIP, ("tcp",)).notes)


def test_http2_request_with_an_empty_authority_and_no_host() -> None:
    """parser-http/2, 26 s in: ``:authority`` present but empty and no ``host`` raised KeyError."""
    from hpack import Encoder

    block = Encoder().encode([(":method", "GET"), (":path", "/x"), (":scheme", "http"), (":authority", "")])
    headers = len(block).to_bytes(3, "big") + b"\x01\x05" + (1).to_bytes(4, "big") + block  # END_STREAM|END_HEADERS
    info = FlowInfo("tcp h2", "net", "tcp", "10.0.0.2", 40000, "10.0.0.9", 80, destination="10.0.0.9")
    parser = Http2Parser(FlowContext(flow=info.flow, info=info, shared={}, chain=("tcp",)))
    out = parser.feed("out", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + headers, 1.0) + parser.close(2.0)
    assert any(p.chain[1] == "http/2 GET /x" for p in out)
    assert info.destination == "10.0.0.9" and "host" not in info.meta

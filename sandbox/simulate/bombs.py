"""Hostile uploads for the decoder limits: bombs without labels, nesting, a leak behind them.

An instrument that wants its data out unseen can make the rig spend its budget first: a gzip of
a GiB of zeros sent as plain bytes (no Content-Encoding), a nested zip bomb, or ordinary wrappers
nested deeper than a depth limit.  These builders write such captures with the project's own
capture writer; the tests (``tests/hostile``) and ``benchmarks/hostile_bombs.py`` replay them.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import struct
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from sandbox.captures.writer import PcapngWriter

from . import wire
from .traffic import Bench

GiB = 1 << 30
MiB = 1 << 20
UPLOAD_HOST, UPLOAD_ADDR = "upload.vendor.example", "203.0.113.60"
OTHER_HOST, OTHER_ADDR = "metrics.vendor.example", "203.0.113.61"


def gzip_bomb(size: int = GiB) -> bytes:
    """One gzip stream of ``size`` zero bytes (a multiple of 1 MiB; 1 GiB -> ~1 MB).

    After the first MiB, deflate turns every further MiB of zeros into the same bytes (the window
    is all zeros either way), so one sync-flushed MiB is compressed and repeated: well under a
    second where compressing the GiB takes several.
    """
    steps = size // MiB
    if steps < 3 or size % MiB:
        raise ValueError("gzip_bomb size must be a multiple of 1 MiB, at least 3 MiB")
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(MiB)
    first = comp.compress(zeros) + comp.flush(zlib.Z_SYNC_FLUSH)
    middle = comp.compress(zeros) + comp.flush(zlib.Z_SYNC_FLUSH)
    last = comp.compress(zeros) + comp.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(steps):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return header + first + middle * (steps - 2) + last + trailer


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def nested_zip_bomb(fanout: int = 16, levels: int = 2, leaf: int = 32 * MiB) -> bytes:
    """42.zip-style: ``levels`` of zips of ``fanout`` copies of the level below, a zip of ``leaf``
    zeros at the bottom (16 x 16 x 32 MiB = 8 GiB nominal in ~40 KB)."""
    data = _zip({"zeros.bin": bytes(leaf)})
    for level in range(levels):
        data = _zip({f"l{level}_{i}.zip": data for i in range(fanout)})
    return data


def nested_wrappers(data: bytes, times: int) -> bytes:
    """``{"d": base64(gzip(x))}`` applied ``times`` times: ordinary layers an SDK might stack."""
    for _ in range(times):
        data = json.dumps({"d": base64.b64encode(gzip.compress(data, 6)).decode()}).encode()
    return data


def upload(bench: Bench, host: str, addr: str, bodies: Sequence[tuple[str, bytes]],
           content_type: str = "application/octet-stream") -> str:
    """POST each (path, body) on one keep-alive connection; returns the flow id."""
    bench.resolve(host, addr)
    conv = bench.connect((addr, 80))
    for path, body in bodies:
        bench.exchange(conv, wire.http_request("POST", path, host, body, content_type=content_type),
                       wire.http_response(b'{"ok":true}'))
    return bench.close(conv)


def write_capture(path: Path, hostile: bytes, leak: bytes, *, label: str = "") -> dict[str, str]:
    """A capture: ``hostile`` then ``leak`` on one flow, then ``leak`` again on a second flow.

    ``label`` (e.g. "gzip") sends the hostile body with that Content-Encoding.  Returns the flow
    ids by role ("hostile", "other").
    """
    headers = [("Content-Encoding", label)] if label else []
    with PcapngWriter(path) as w:
        bench = Bench(w)
        bench.resolve(UPLOAD_HOST, UPLOAD_ADDR)
        conv = bench.connect((UPLOAD_ADDR, 80))
        bench.exchange(conv, wire.http_request("POST", "/v1/blob", UPLOAD_HOST, hostile, headers=headers,
                                               content_type="application/octet-stream"),
                       wire.http_response(b'{"ok":true}'))
        bench.exchange(conv, wire.http_request("POST", "/v1/records", UPLOAD_HOST, leak,
                                               content_type="text/plain"),
                       wire.http_response(b'{"ok":true}'))
        hostile_flow = bench.close(conv)
        other_flow = upload(bench, OTHER_HOST, OTHER_ADDR, [("/v1/records", leak)], "text/plain")
    return {"hostile": hostile_flow, "other": other_flow}

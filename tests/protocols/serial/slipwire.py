"""SLIP and compressed SLIP as a peer puts them on a line, framed by sliplib (another implementation
than the decoder's), with the leading END Linux sends."""

from __future__ import annotations

import sliplib

from sandbox.simulate.ppp import TYPE_COMPRESSED_TCP, TYPE_IP, TYPE_UNCOMPRESSED_TCP, VjCompressor


def slip_session(packets: list[bytes], instrument: bytes, *, vj: bool = False) -> list[tuple[str, bytes]]:
    """The line's chunks for a SLIP link carrying ``packets`` (compressed SLIP when ``vj``); those
    from the ``instrument`` address are "out"."""
    drivers = {"out": sliplib.Driver(), "in": sliplib.Driver()}
    compressors = {"out": VjCompressor(), "in": VjCompressor()}
    chunks = []
    for packet in packets:
        d = "out" if packet[12:16] == instrument else "in"
        kind, data = compressors[d].compress(packet) if vj else (TYPE_IP, packet)
        if kind == TYPE_UNCOMPRESSED_TCP:
            data = bytes([0x70 | (data[0] & 0x0F)]) + data[1:]
        elif kind == TYPE_COMPRESSED_TCP:
            data = bytes([0x80 | data[0]]) + data[1:]
        chunks.append((d, b"\xc0" + drivers[d].send(data)))
    return chunks

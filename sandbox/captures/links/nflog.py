"""LINKTYPE_NFLOG (239): Linux netfilter log messages; the logged packet is one TLV among several.

A 4-byte header (address family, version, resource id), then TLVs of a length (covering its
4-byte TLV header) and a type, padded to 4 bytes, in the capturing host's byte order (little-endian
in practice; big-endian hosts are recognised by a length that only reads right that way).  Type 9
(NFULA_PAYLOAD) holds the packet, starting at its IP header; the family says which IP.
"""

from __future__ import annotations

import struct

from sandbox.captures.numbers import from_family

TLV = {"<": struct.Struct("<HH"), ">": struct.Struct(">HH")}
NFULA_PAYLOAD = 9
HEADER = 4
# TLVs walked per message: the kernel emits about a dozen kinds (prefix, uid, gid, timestamp,
# interfaces, hardware address...), each once; more is a malformed message.
MAX_TLVS = 32


def network(data: bytes) -> tuple[int, int]:
    family = data[0]
    order = "<" if 4 <= TLV["<"].unpack_from(data, HEADER)[0] <= len(data) - HEADER else ">"
    unpack = TLV[order].unpack_from
    off = HEADER
    for _ in range(MAX_TLVS):
        length, kind = unpack(data, off)
        if length < 4 or off + length > len(data):
            raise ValueError(f"NFLOG TLV length {length} at offset {off}")
        if kind == NFULA_PAYLOAD:
            return from_family(family), off + 4
        off += (length + 3) & ~3
    raise ValueError("NFLOG message without a payload TLV")

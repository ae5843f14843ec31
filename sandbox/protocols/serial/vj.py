"""Van Jacobson TCP/IP header compression (RFC 1144), undone: what PPP (protocols 0x002d, 0x002f)
and compressed SLIP send over slow serial links instead of whole headers.

Each direction of a link keeps up to 256 connection slots, each holding the last IPv4 and TCP
header sent on that connection.  An *uncompressed* packet is a whole IPv4/TCP packet whose protocol
field names the slot it fills; a *compressed* one is a change mask, the slot (or the last one), the
TCP checksum and the fields that changed, as deltas, then the TCP data.  ``VjDecompressor`` rebuilds
the whole packet exactly as it was sent (the TCP checksum then verifies), so the flow table
reassembles the stream as for any capture.

A compressed packet for a slot never filled (the link picked up mid-connection, or a packet lost)
cannot be placed in its stream: ``compressed`` returns None and the caller says so; the slot is
good again at the next uncompressed packet for it (as RFC 1144's "toss" state).
"""

from __future__ import annotations

import struct

TYPE_IP, TYPE_UNCOMPRESSED_TCP, TYPE_COMPRESSED_TCP = 0x40, 0x70, 0x80    # compressed SLIP's first nibble
NEW_C, NEW_I, PUSH, NEW_S, NEW_A, NEW_W, NEW_U = 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01
SPECIALS = NEW_S | NEW_A | NEW_W | NEW_U
SPECIAL_I = NEW_S | NEW_W | NEW_U          # echoed terminal traffic: seq and ack move by the last data
SPECIAL_D = NEW_S | NEW_A | NEW_W | NEW_U  # one-way data: seq moves by the last data
SLOTS = 256
# What a link says of compressed TCP it could not rebuild.
NOT_REBUILT = ("TCP segments whose compressed headers could not be rebuilt (Van Jacobson: a connection "
               "not seen from its start, or a packet before them lost)")
PROTO_TCP = 6
FLAG_PSH, FLAG_URG = 0x08, 0x20


def _fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def ipv4_checksum(header: bytes | bytearray) -> int:
    """The IPv4 header checksum of ``header`` with its checksum field taken as zero."""
    return ~_fold(sum(struct.unpack(f"!{len(header) // 2}H", header)) - (header[10] << 8 | header[11])) & 0xFFFF


def transport_checksum_ok(packet: bytes) -> bool:
    """Whether an IPv4 or IPv6 packet's TCP or UDP checksum verifies, the pseudo-header included (a UDP
    checksum of zero over IPv4 is none); fragments, other protocols and IPv6 extension headers: True."""
    if packet[0] >> 4 == 6:
        proto, segment, addresses = packet[6], packet[40:], packet[8:40]
    else:
        ihl = (packet[0] & 0x0F) * 4
        proto, segment, addresses = packet[9], packet[ihl:], packet[12:20]
        if packet[6:8] != b"\0\0" and int.from_bytes(packet[6:8], "big") & 0x3FFF:
            return True
        if proto == 17 and segment[6:8] == b"\0\0":
            return True
    if proto not in (PROTO_TCP, 17):
        return True
    padded = segment + b"\0" if len(segment) % 2 else segment
    total = sum(struct.unpack(f"!{len(padded) // 2}H", padded))
    total += sum(struct.unpack(f"!{len(addresses) // 2}H", addresses)) + proto + len(segment)
    return _fold(total) == 0xFFFF


class _Slot:
    __slots__ = ("header", "ihl", "length")

    def __init__(self, header: bytearray, ihl: int, length: int) -> None:
        self.header = header        # the IPv4 and TCP headers, options included
        self.ihl = ihl              # IPv4 header length
        self.length = length        # total length of the last packet (SPECIAL_I/D use its data length)


class VjDecompressor:
    """One direction of a link; see the module docstring."""

    def __init__(self) -> None:
        self.slots: list[_Slot | None] = [None] * SLOTS
        self.last = -1              # the slot a packet without NEW_C refers to; -1: none yet

    def uncompressed(self, packet: bytes) -> bytes | None:
        """A whole IPv4/TCP packet whose protocol byte holds the slot number (its first nibble may be
        compressed SLIP's 0x7): the packet as sent, or None when it is not one."""
        if len(packet) < 40:
            return None
        ihl = (packet[0] & 0x0F) * 4
        if ihl < 20 or len(packet) < ihl + 20:
            return None
        doff = (packet[ihl + 12] >> 4) * 4
        if doff < 20 or len(packet) < ihl + doff:
            return None
        slot = packet[9]
        rebuilt = bytearray(packet)
        rebuilt[0] = 0x40 | (packet[0] & 0x0F)
        rebuilt[9] = PROTO_TCP
        rebuilt[10:12] = ipv4_checksum(rebuilt[:ihl]).to_bytes(2, "big")
        self.slots[slot] = _Slot(bytearray(rebuilt[:ihl + doff]), ihl, len(rebuilt))
        self.last = slot
        return bytes(rebuilt)

    def compressed(self, packet: bytes, changes: int, verify: bool = False) -> bytes | None:
        """A compressed packet (``changes``: its change mask; ``packet`` from the byte after it): the
        packet as sent, or None when its slot is unknown or it is malformed (that slot is then
        unknown until refilled).  ``verify`` (a link without a frame check, SLIP): the rebuilt
        packet's TCP checksum must verify, else None and the slot is as it was."""
        if verify:
            last = self.last
            target = packet[0] if changes & NEW_C and packet else last
            slot = self.slots[target] if 0 <= target < SLOTS else None
            if slot is None:
                return None
            saved = bytes(slot.header), slot.length
            rebuilt = self.compressed(packet, changes)
            if rebuilt is not None and transport_checksum_ok(rebuilt):
                return rebuilt
            slot.header[:], slot.length = saved
            self.slots[target], self.last = slot, last
            return None
        at = 0
        try:
            if changes & NEW_C:
                self.last = packet[at]
                at += 1
            slot = self.slots[self.last] if self.last >= 0 else None
            if slot is None:
                return None
            h = slot.header
            ihl = slot.ihl
            tcp = ihl
            if len(packet) < at + 2:
                raise IndexError(at)
            h[tcp + 16:tcp + 18] = packet[at:at + 2]           # the TCP checksum, as sent
            at += 2
            flags = h[tcp + 13] & ~(FLAG_PSH | FLAG_URG)
            if changes & PUSH:
                flags |= FLAG_PSH
            special = changes & SPECIALS
            seq = int.from_bytes(h[tcp + 4:tcp + 8], "big")
            ack = int.from_bytes(h[tcp + 8:tcp + 12], "big")
            last_data = slot.length - len(h)
            if special == SPECIAL_I:
                seq, ack = seq + last_data, ack + last_data
            elif special == SPECIAL_D:
                seq += last_data
            else:
                if changes & NEW_U:
                    flags |= FLAG_URG
                    value, at = _delta(packet, at)
                    h[tcp + 18:tcp + 20] = value.to_bytes(2, "big")
                if changes & NEW_W:
                    value, at = _delta(packet, at)
                    window = (int.from_bytes(h[tcp + 14:tcp + 16], "big") + value) & 0xFFFF
                    h[tcp + 14:tcp + 16] = window.to_bytes(2, "big")
                if changes & NEW_A:
                    value, at = _delta(packet, at)
                    ack += value
                if changes & NEW_S:
                    value, at = _delta(packet, at)
                    seq += value
            h[tcp + 13] = flags
            h[tcp + 4:tcp + 8] = (seq & 0xFFFFFFFF).to_bytes(4, "big")
            h[tcp + 8:tcp + 12] = (ack & 0xFFFFFFFF).to_bytes(4, "big")
            ident = int.from_bytes(h[4:6], "big")
            if changes & NEW_I:
                value, at = _delta(packet, at)
                ident += value
            else:
                ident += 1
            h[4:6] = (ident & 0xFFFF).to_bytes(2, "big")
        except IndexError:
            if 0 <= self.last < SLOTS:
                self.slots[self.last] = None
            return None
        data = packet[at:]
        total = len(h) + len(data)
        if total > 0xFFFF:
            self.slots[self.last] = None
            return None
        h[2:4] = total.to_bytes(2, "big")
        h[10:12] = ipv4_checksum(h[:ihl]).to_bytes(2, "big")
        slot.length = total
        return bytes(h) + data


def _delta(packet: bytes, at: int) -> tuple[int, int]:
    """One encoded value: a byte 1-255, or 0 then two bytes (RFC 1144 3.2.3); ``IndexError`` when cut."""
    value = packet[at]
    if value:
        return value, at + 1
    if at + 3 > len(packet):
        raise IndexError(at)
    return packet[at + 1] << 8 | packet[at + 2], at + 3

"""QUIC's protected packets opened with a key log: the instrument's streams, read (RFC 9000, 9001, 9114).

A capture taken with the client's key log (``SSLKEYLOGFILE``: Chromium, curl, aioquic) holds the
secrets of each connection's packet spaces (``CLIENT_TRAFFIC_SECRET_0``, ``CLIENT_EARLY_TRAFFIC_SECRET``,
``CLIENT_HANDSHAKE_TRAFFIC_SECRET``, by the ClientHello's random).  ``PacketKeys`` derives the packet
protection from one (the suite told by the secret's length and the first packet that opens), removes
header protection, rebuilds packet numbers and follows key updates; ``frames`` walks a payload's frames: STREAM data by stream, and what else the sender chose
(tokens, connection ids, path challenges, a close's reason, DATAGRAM frames) beside it.
``StreamReader`` puts a stream's data in order and, on HTTP/3's request streams, takes the bodies out
of DATA frames (a header block is read as it is).
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from sandbox.protocols.tls_keys import hkdf_expand_label

SAMPLE = 16
MAX_CID = 20            # RFC 9000 17.2: connection ids are at most 20 bytes
# A stream's data held out of order (bytes and pieces past a gap): beyond either the stream is read on
# from where it is (the gap counted lost): linear time, bounded memory.
MAX_AHEAD = 256 << 10
MAX_AHEAD_PIECES = 64
# HTTP/3 frame types (RFC 9114 7.2): DATA and HEADERS; a frame longer than this is not HTTP/3's.
H3_DATA, H3_HEADERS = 0x00, 0x01
MAX_H3_FRAME = 1 << 30
# STREAM frame type bits (RFC 9000 19.8).
STREAM_FIN, STREAM_LEN, STREAM_OFF = 0x01, 0x02, 0x04


class QuicFrameError(ValueError):
    pass


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    """A variable-length integer (RFC 9000 16) at ``pos``: (value, end)."""
    if pos >= len(buf):
        raise QuicFrameError("varint past the end")
    size = 1 << (buf[pos] >> 6)
    if pos + size > len(buf):
        raise QuicFrameError("varint past the end")
    value = buf[pos] & 0x3F
    for b in buf[pos + 1: pos + size]:
        value = value << 8 | b
    return value, pos + size


class _Protection:
    """One generation of packet protection of one direction under one suite."""

    __slots__ = ("secret", "aead", "iv")

    def __init__(self, secret: bytes, suite: tuple[str, int, str], prefix: bytes) -> None:
        hash_name, key_size, aead = suite
        self.secret = secret
        key = hkdf_expand_label(secret, prefix + b"key", key_size, hash_name)
        self.aead: AESGCM | ChaCha20Poly1305 = ChaCha20Poly1305(key) if aead == "chacha" else AESGCM(key)
        self.iv = hkdf_expand_label(secret, prefix + b"iv", 12, hash_name)


# (hash, key size, AEAD) of TLS 1.3's suites, by the hash size a secret shows
SUITES = {32: (("sha256", 16, "aes"), ("sha256", 32, "chacha")), 48: (("sha384", 32, "aes"),)}


class PacketKeys:
    """The packets one side of a connection sends in one packet space (1-RTT, 0-RTT, Handshake), opened
    with that side's secret of it.  ``v2``: QUIC version 2's labels (RFC 9369 3.3.2)."""

    def __init__(self, secret: bytes, cid_len: int, v2: bool = False) -> None:
        self.cid_len = cid_len
        self.secret = secret
        self.prefix = b"quicv2 " if v2 else b"quic "
        self.suite: tuple[str, int, str] | None = None     # known once a packet opened
        self.phase = 0
        self.current: _Protection | None = None
        self.previous: _Protection | None = None      # the generation before a key update (late packets)
        self.hp: Callable[[bytes], bytes] | None = None
        self.largest = -1

    def open(self, packet: bytes, pn_at: int | None = None) -> bytes | None:
        """The payload of a short-header ``packet`` (the rest of its datagram; ``pn_at``: a long-header
        packet's, whose packet number starts there), or None if it does not open (a forgery, a packet of
        a generation before the last two).  The far end chooses the connection ids the instrument sends
        to (``NEW_CONNECTION_ID``): a short header that does not open with the length known is tried
        with every other (at most 20 bytes)."""
        suites = (self.suite,) if self.suite else SUITES.get(len(self.secret), ())
        for suite in suites:
            if self.suite is None:
                self.current = _Protection(self.secret, suite, self.prefix)
                self.hp = _header_protection(self.secret, suite, self.prefix)
            if pn_at is not None:
                opened = self._open(packet, suite, pn_at, 0x0F)
                if opened is not None:
                    self.suite = suite
                    return opened
                continue
            for cid_len in (self.cid_len, *(n for n in range(MAX_CID + 1) if n != self.cid_len)):
                opened = self._open(packet, suite, 1 + cid_len, 0x1F)
                if opened is not None:
                    self.suite, self.cid_len = suite, cid_len
                    return opened
                if self.suite is None:
                    break                  # the suite is not known yet: the first packet tells it, id as known
        return None

    def _open(self, packet: bytes, suite: tuple[str, int, str], pn_at: int, bits: int) -> bytes | None:
        """``bits``: those of the first byte header protection covers (short header 0x1F, long 0x0F)."""
        if len(packet) < pn_at + 4 + SAMPLE or self.hp is None or self.current is None:
            return None
        mask = self.hp(packet[pn_at + 4: pn_at + 4 + SAMPLE])
        first = packet[0] ^ (mask[0] & bits)
        pn_len = (first & 0x03) + 1
        truncated = int.from_bytes(bytes(b ^ m for b, m in zip(packet[pn_at: pn_at + pn_len], mask[1:], strict=False)),
                                   "big")
        pn = _packet_number(self.largest, truncated, pn_len * 8)
        header = bytes([first]) + packet[1:pn_at] + pn.to_bytes(pn_len, "big")
        phase = (first >> 2) & 1 if bits == 0x1F else self.phase       # long headers have no key phase
        candidates = [self.current]
        if phase != self.phase:       # a key update (RFC 9001 6): the next generation's keys, or a late packet
            hash_name = suite[0]
            candidates = [_Protection(hkdf_expand_label(self.current.secret, self.prefix + b"ku", len(self.secret),
                                                        hash_name), suite, self.prefix),
                          *([self.previous] if self.previous else [])]
        for protection in candidates:
            nonce = (int.from_bytes(protection.iv, "big") ^ pn).to_bytes(12, "big")
            try:
                payload = protection.aead.decrypt(nonce, packet[pn_at + pn_len:], header)
            except InvalidTag:
                continue
            if protection is candidates[0] and protection is not self.current:
                self.previous, self.current, self.phase = self.current, protection, phase
            self.largest = max(self.largest, pn)
            return payload
        return None


def _header_protection(secret: bytes, suite: tuple[str, int, str], prefix: bytes) -> Callable[[bytes], bytes]:
    hash_name, key_size, aead = suite
    key = hkdf_expand_label(secret, prefix + b"hp", key_size, hash_name)
    if aead == "chacha":
        def chacha(sample: bytes) -> bytes:     # the sample: a 4-byte counter, then the nonce (RFC 9001 5.4.4)
            return Cipher(algorithms.ChaCha20(key, sample), mode=None).encryptor().update(bytes(5))
        return chacha
    ecb = Cipher(algorithms.AES(key), modes.ECB())

    def aes(sample: bytes) -> bytes:
        enc = ecb.encryptor()
        return enc.update(sample) + enc.finalize()
    return aes


def _packet_number(largest: int, truncated: int, bits: int) -> int:
    """The full packet number of a truncated one (RFC 9000 A.3)."""
    expected = largest + 1
    window = 1 << bits
    half = window // 2
    candidate = (expected & ~(window - 1)) | truncated
    if candidate <= expected - half and candidate < (1 << 62) - window:
        return candidate + window
    if candidate > expected + half and candidate >= window:
        return candidate - window
    return candidate


def frames(payload: bytes) -> tuple[list[tuple[int, int, bytes, bool]], bytes]:
    """A 1-RTT payload's STREAM frames (stream id, offset, data, fin) and, in a row, what else its
    sender chose: NEW_TOKEN tokens, new connection ids and reset tokens, path challenges and responses,
    a close's reason, DATAGRAM data; from a frame we do not know (or one cut short) on, the rest."""
    streams: list[tuple[int, int, bytes, bool]] = []
    beside = bytearray()
    pos, n = 0, len(payload)
    try:
        while pos < n:
            start = pos
            ftype, pos = varint(payload, pos)
            if ftype in (0x00, 0x01, 0x1E):                   # PADDING, PING, HANDSHAKE_DONE
                continue
            if ftype in (0x02, 0x03):                         # ACK
                _, pos = varint(payload, pos)
                _, pos = varint(payload, pos)
                ranges, pos = varint(payload, pos)
                _, pos = varint(payload, pos)
                for _ in range(min(ranges, n) * 2 + (3 if ftype == 0x03 else 0)):
                    _, pos = varint(payload, pos)
            elif 0x08 <= ftype <= 0x0F:                       # STREAM
                sid, pos = varint(payload, pos)
                offset = 0
                if ftype & STREAM_OFF:
                    offset, pos = varint(payload, pos)
                length = n - pos
                if ftype & STREAM_LEN:
                    length, pos = varint(payload, pos)
                if pos + length > n:
                    raise QuicFrameError("STREAM frame runs past its packet")
                streams.append((sid, offset, payload[pos:pos + length], bool(ftype & STREAM_FIN)))
                pos += length
            elif ftype in (0x07, 0x31, 0x06):                 # NEW_TOKEN, DATAGRAM with a length, CRYPTO
                if ftype == 0x06:
                    _, pos = varint(payload, pos)
                length, pos = varint(payload, pos)
                pos = _take(payload, pos, length, beside)
            elif ftype == 0x30:                               # DATAGRAM to the packet's end
                beside += payload[pos:]
                pos = n
            elif ftype in (0x04, 0x05, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x19):
                for _ in range(_VARINTS[ftype]):              # counts, limits, codes: numbers
                    _, pos = varint(payload, pos)
            elif ftype == 0x18:                               # NEW_CONNECTION_ID: its id and reset token
                _, pos = varint(payload, pos)
                _, pos = varint(payload, pos)
                if pos >= n:
                    raise QuicFrameError("frame runs past its packet")
                pos = _take(payload, pos + 1, payload[pos] + 16, beside)
            elif ftype in (0x1A, 0x1B):                       # PATH_CHALLENGE, PATH_RESPONSE
                pos = _take(payload, pos, 8, beside)
            elif ftype in (0x1C, 0x1D):                       # CONNECTION_CLOSE: its reason
                _, pos = varint(payload, pos)
                if ftype == 0x1C:
                    _, pos = varint(payload, pos)
                length, pos = varint(payload, pos)
                pos = _take(payload, pos, length, beside)
            else:
                raise QuicFrameError(f"frame type {ftype:#x}")
    except QuicFrameError:
        beside += payload[start:].rstrip(b"\0")
    return streams, bytes(beside)


def _take(payload: bytes, pos: int, size: int, into: bytearray) -> int:
    """``size`` bytes of a frame at ``pos`` added to ``into``: the position after them."""
    if pos + size > len(payload):
        raise QuicFrameError("frame runs past its packet")
    into += payload[pos:pos + size]
    return pos + size


_VARINTS = {0x04: 3, 0x05: 2, 0x10: 1, 0x11: 2, 0x12: 1, 0x13: 1, 0x14: 1, 0x15: 2, 0x16: 1, 0x17: 1, 0x19: 1}


class StreamReader:
    """One stream's data in order; an HTTP/3 request stream's DATA frames taken apart from the rest.

    ``take`` returns (body bytes, other bytes): the bodies of DATA frames, and the rest (header
    blocks, frames of other types) of an HTTP/3 stream, or everything, as ``other``, of a stream whose
    bytes are not HTTP/3 frames (DNS over QUIC, a raw protocol)."""

    __slots__ = ("at", "ahead", "ahead_bytes", "h3", "frame_left", "frame_type", "head", "lost")

    def __init__(self, h3: bool) -> None:
        self.at = 0                          # the stream offset read up to
        self.ahead: dict[int, bytes] = {}    # data past a gap
        self.ahead_bytes = 0
        self.h3 = h3
        self.frame_left = 0                  # bytes of the current HTTP/3 frame still to come
        self.frame_type = -1
        self.head = bytearray()              # a frame header cut by a packet's end
        self.lost = 0                        # bytes given up on (past a gap too long to wait)

    def add(self, offset: int, data: bytes) -> tuple[bytes, bytes]:
        if offset > self.at:
            if offset not in self.ahead:
                self.ahead[offset] = data
                self.ahead_bytes += len(data)
            if len(self.ahead) <= MAX_AHEAD_PIECES and self.ahead_bytes <= MAX_AHEAD:
                return b"", b""
            earliest = min(self.ahead)        # the gap is never filled: read on from what came after it
            self.lost += earliest - self.at
            self.at = earliest
            self.h3 = False
            ready = bytearray()
        elif offset + len(data) <= self.at:
            return b"", b""                   # sent again
        else:
            ready = bytearray(data[self.at - offset:])
            self.at += len(ready)
        while self.ahead:
            nxt = next((o for o in self.ahead if o <= self.at), None)
            if nxt is None:
                break
            chunk = self.ahead.pop(nxt)
            self.ahead_bytes -= len(chunk)
            if nxt + len(chunk) > self.at:
                ready += chunk[self.at - nxt:]
                self.at = nxt + len(chunk)
        return self._h3(bytes(ready)) if self.h3 else (b"", bytes(ready))

    def _h3(self, data: bytes) -> tuple[bytes, bytes]:
        body, other = bytearray(), bytearray()
        buf = bytes(self.head) + data
        self.head.clear()
        pos = 0
        while pos < len(buf):
            if self.frame_left:
                take = buf[pos:pos + self.frame_left]
                (body if self.frame_type == H3_DATA else other).extend(take)
                self.frame_left -= len(take)
                pos += len(take)
                continue
            try:
                ftype, at = varint(buf, pos)
                length, at = varint(buf, at)
            except QuicFrameError:
                if len(buf) - pos >= 16:       # no frame header is this long: not HTTP/3
                    return self._raw(body, other, buf[pos:])
                self.head += buf[pos:]         # a header cut by the packet's end
                break
            if length > MAX_H3_FRAME:
                return self._raw(body, other, buf[pos:])
            self.frame_type, self.frame_left = ftype, length
            pos = at
        return bytes(body), bytes(other)

    def _raw(self, body: bytearray, other: bytearray, rest: bytes) -> tuple[bytes, bytes]:
        """The stream is not HTTP/3's after all: from here its bytes are read as they are."""
        self.h3 = False
        other += rest
        return bytes(body), bytes(other)

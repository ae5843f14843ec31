"""QUIC (HTTP/3, DNS over QUIC): the client's Initial packets decrypted for the SNI, the rest counted.

A rig in transparent mode redirects TCP to mitmproxy; QUIC is UDP and passes it by (the tap rejects
it so clients fall back to TCP, but a capture from elsewhere has it).  Its Initial packets are
encrypted with keys anyone can derive from the client's Destination Connection ID (RFC 9001 5.2):
they are decrypted here, and the TLS ClientHello their CRYPTO frames carry gives the server name,
the offered ALPN and the whole hello as a Payload (its extensions can carry data).  With the session's
key log (``tls_keys.SHARED_KEYLOG``: a capture's Decryption Secrets Blocks, ``--keylog``) the
instrument's 1-RTT packets are opened too (``quic_app``): its streams are read (HTTP/3 bodies apart
from their frames, ``quic > http/3 body``; other streams as they are, ``quic > stream``), and what
its frames carry besides (``quic > frames besides streams``).  Everything else is ciphertext no key
log opens: counted as encrypted volume (``opaque.OpaqueParser``), and still scanned raw, so plaintext
dressed as QUIC is matched as before.

Every client Initial is decrypted, not only the hello's: what they carry besides the hello (CRYPTO
data past it, frames an Initial may not carry, a close's reason) goes to the correlator as
"initial packets" (an instrument's own server reads it; Initials to an allowed host would otherwise
be ciphertext, and clean).  Versions: 1 (RFC 9000), 2 (RFC 9369), drafts 23-34.  Bounded: Initials
that do not open are tried ``MAX_INITIALS`` times; CRYPTO data kept up to ``MAX_CRYPTO`` bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import ClassVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sandbox.protocols.context import FlowContext, Held
from sandbox.protocols.follow import MessageStreams
from sandbox.protocols.headvalues import HeadValues
from sandbox.protocols.opaque import Items, OpaqueParser, looks_encrypted
from sandbox.protocols.quic_app import PacketKeys, StreamReader, frames, varint
from sandbox.protocols.tls import HS_CLIENT_HELLO, PROBE_BYTES, TlsError, parse_client_hello
from sandbox.protocols.tls_keys import SHARED_KEYLOG, hkdf_expand_label

MAX_CID = 20            # RFC 9000 17.2: connection IDs are at most 20 bytes
MAX_INITIALS = 16       # client Initials tried per flow that no key opens (those that open are all read)
BESIDE_CHUNK = 64 << 10  # bytes of Initials besides the hello handed on at a time
MAX_CRYPTO = 64 << 10   # CRYPTO bytes kept: a post-quantum ClientHello is ~2 KiB
MAX_CRYPTO_AHEAD = 64   # CRYPTO frames held past a gap (Chromium sends a hello in a few): linear time
MAX_KEYS = 4            # connection IDs whose Initial keys are kept (the first one, a Retry's, ...)
MAX_STREAMS = 64        # streams of one connection read at once (the one opened first let go)
STREAM_PIECE = 64 << 10  # a stream's bytes handed on at a time (and at its end, and when the flow goes quiet)
STREAM_GAP = "bytes of QUIC streams the capture never had (their data after the gap was read on)"
NOT_OPENED = "QUIC packets of a connection whose keys the key log holds that did not open with them"
# The key log's labels of each packet space's secret: the client's, the server's (a side's own packets)
LONG_SPACES = {1: "early", 2: "handshake"}     # long-header types after the Initial's: 0-RTT, Handshake
SPACES = {"app": ("CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"),
          "early": ("CLIENT_EARLY_TRAFFIC_SECRET", ""),
          "handshake": ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET")}
SAMPLE = 16             # header protection samples 16 bytes, 4 after the packet number starts
PROBE_AFTER = 1 + MAX_CID + 4   # a short header's most: the probe looks past it

V1, V2 = 0x00000001, 0x6B3343CF
# Initial salts (RFC 9001 5.2, RFC 9369 3.3.1, the drafts') and the label prefix of each version.
_SALTS = {
    V1: bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"),
    V2: bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"),
    **{0xFF000000 + d: bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899") for d in range(29, 35)},
    **{0xFF000000 + d: bytes.fromhex("c3eef712c72ebb5a11a7d2432bb46365bef9f502") for d in range(23, 29)},
}
IETF_VERSIONS = tuple(sorted(_SALTS))   # the versions whose Initials anyone can open (and a rig can refuse)
_INITIAL_TYPE = {V2: 0b01}   # the long-header type bits of an Initial: 0b00 in every other version

FRAME_PADDING, FRAME_PING, FRAME_ACK, FRAME_ACK_ECN, FRAME_CRYPTO = 0x00, 0x01, 0x02, 0x03, 0x06
FRAME_CLOSE, FRAME_CLOSE_APP = 0x1C, 0x1D


def known_version(version: int) -> bool:
    """A QUIC version seen in the wild: IETF (1, 2, drafts), Google's Q0xx/T0xx, mvfst's, or a
    greased one (0x?a?a?a?a, RFC 9000 15)."""
    return (version in _SALTS or version >> 8 in (0x513034, 0x513035, 0x543035) or version >> 4 == 0xFACEB00
            or version & 0x0F0F0F0F == 0x0A0A0A0A)


def looks_like_quic(data: bytes) -> bool:
    """A long-header packet (form and fixed bits set) of a known version whose connection IDs fit
    the datagram, or a Version Negotiation packet (version 0; its fixed bit is unused)."""
    if len(data) < 7 or not data[0] & 0x80:
        return False
    version = int.from_bytes(data[1:5], "big")
    if version and not (data[0] & 0x40 and known_version(version)):
        return False
    dcid_len = data[5]
    if dcid_len > MAX_CID or len(data) < 7 + dcid_len:
        return False
    scid_len = data[6 + dcid_len]
    return scid_len <= MAX_CID and len(data) >= 7 + dcid_len + scid_len


class InitialKeys:
    """The client's Initial packet protection for one Destination Connection ID (RFC 9001 5.2)."""

    __slots__ = ("aead", "iv", "hp")

    def __init__(self, version: int, dcid: bytes) -> None:
        initial = hmac.new(_SALTS[version], dcid, hashlib.sha256).digest()
        secret = hkdf_expand_label(initial, b"client in", 32, "sha256")
        prefix = b"quicv2 " if version == V2 else b"quic "
        self.aead = AESGCM(hkdf_expand_label(secret, prefix + b"key", 16, "sha256"))
        self.iv = hkdf_expand_label(secret, prefix + b"iv", 12, "sha256")
        self.hp = Cipher(algorithms.AES(hkdf_expand_label(secret, prefix + b"hp", 16, "sha256")), modes.ECB())

    def open(self, packet: bytes, pn_offset: int, end: int) -> bytes:
        """The payload of the protected Initial ``packet[:end]`` whose packet number starts at
        ``pn_offset``; raises InvalidTag or ValueError when these keys do not open it."""
        if pn_offset + 4 + SAMPLE > end:
            raise ValueError("Initial too short for its header protection sample")
        enc = self.hp.encryptor()
        mask = enc.update(packet[pn_offset + 4: pn_offset + 4 + SAMPLE]) + enc.finalize()
        first = packet[0] ^ (mask[0] & 0x0F)
        pn_len = (first & 0x03) + 1
        pn = bytes(b ^ m for b, m in zip(packet[pn_offset: pn_offset + pn_len], mask[1:], strict=False))
        header = bytes([first]) + packet[1:pn_offset] + pn
        nonce = (int.from_bytes(self.iv, "big") ^ int.from_bytes(pn, "big")).to_bytes(12, "big")
        return self.aead.decrypt(nonce, packet[pn_offset + pn_len: end], header)


def crypto_frames(payload: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The CRYPTO frames of a decrypted Initial payload, (offset, data); and the payload from the
    first frame an Initial may not carry (RFC 9000 12.4), a connection close (its reason phrase) or a
    frame cut short, on, its padding (zeros) off the end: what the peer's own stack may read anyway."""
    out: list[tuple[int, bytes]] = []
    pos, n = 0, len(payload)
    while pos < n:
        start = pos
        ftype = payload[pos]
        pos += 1
        try:
            if ftype in (FRAME_PADDING, FRAME_PING):
                continue
            if ftype in (FRAME_ACK, FRAME_ACK_ECN):
                _, pos = varint(payload, pos)          # largest acknowledged
                _, pos = varint(payload, pos)          # delay
                ranges, pos = varint(payload, pos)
                _, pos = varint(payload, pos)          # first range
                for _ in range(min(ranges, n) * 2 + (3 if ftype == FRAME_ACK_ECN else 0)):
                    _, pos = varint(payload, pos)
            elif ftype == FRAME_CRYPTO:
                offset, pos = varint(payload, pos)
                length, pos = varint(payload, pos)
                if pos + length > n:
                    raise ValueError("CRYPTO frame runs past its packet")
                out.append((offset, payload[pos: pos + length]))
                pos += length
            else:
                raise ValueError(f"frame type {ftype:#x}")
        except ValueError:
            return out, payload[start:].rstrip(b"\0")
    return out, b""


class QuicParser(OpaqueParser):
    """QUIC over UDP, both directions: names from the client's Initials, volume at close."""

    name: ClassVar[str] = "quic"
    ports: ClassVar[tuple[int, ...]] = (443, 784, 853, 8443)   # HTTPS, DNS over QUIC; a port hint only

    @staticmethod
    def detect(data: bytes, sport: int, dport: int) -> bool:
        return looks_like_quic(data)

    def __init__(self, ctx: FlowContext) -> None:
        super().__init__(ctx)
        self.keys: dict[bytes, InitialKeys] = {}
        self.first_dcid: bytes | None = None
        self.unopened = 0                         # client Initials tried that no key opened
        self.crypto = bytearray()                 # the client's CRYPTO stream, from offset 0
        self.crypto_ahead: dict[int, bytes] = {}  # frames past its end, waiting for the gap to fill
        self.hello_end: int | None = None         # where the ClientHello ends in it, once read
        self.beside = Held()                      # what the client's Initials carry besides its hello
        self.client_random = b""                  # the hello's: where the key log files the secrets
        self.cids: dict[str, bytes] = {}          # each side's own connection id (its long headers' source)
        self.spaces: dict[str, PacketKeys] = {}   # the instrument's packet protection by space, once known
        self.not_opened = 0                       # bytes of its packets those keys did not open, not yet said
        self.v2 = False
        self.readers: dict[int, StreamReader] = {}
        self.pieces: dict[tuple[int, str], bytearray] = {}     # stream bytes to hand on, by stream and kind
        self.streams = MessageStreams(ctx)        # compressed streams followed across pieces
        self.names = HeadValues(ctx)              # server names across connections (a beacon's host of its own)
        self.frames_beside = Held()               # what 1-RTT frames carry besides streams
        self.h3 = False

    def inspect(self, direction: str, data: bytes, t: float) -> Items:
        out: Items = []
        pos = 0
        while pos < len(data):                    # packets coalesced in one datagram (RFC 9000 12.2)
            end = self._long(direction, data, pos, out) if data[pos] & 0x80 else None
            if end is None:                       # a short header (1-RTT) or a form we do not parse:
                if not (data[pos] & 0xC0 == 0x40 and direction == "out"
                        and self._protected("app", data[pos:], None, t, out)):
                    self._count(direction, data, pos, pos + PROBE_AFTER, len(data))    # to the datagram's end
                break
            pos = end
        return out

    # ---- 1-RTT packets opened with the key log ---------------------------------------------------

    def _protected(self, space: str, packet: bytes, pn_at: int | None, t: float, out: Items) -> bool:
        """Open one of the instrument's protected packets of ``space`` (``SPACES``; ``pn_at``: where a
        long header's packet number starts) and read its frames; False if no key in the log opens it (a
        packet of a connection whose key the log holds that does not open is not examined)."""
        keys = self.spaces.get(space)
        if keys is None:
            keylog = self.ctx.shared.get(SHARED_KEYLOG)
            peer = self.cids.get("in")           # the far end's id: what the instrument's short headers carry
            if keylog is None or not self.client_random or peer is None and pn_at is None:
                return False
            labels = SPACES[space]
            secret = keylog.get(self.client_random, labels[0] if self.ctx.client == "out" else labels[1])
            if secret is None:
                return False
            keys = self.spaces[space] = PacketKeys(secret, len(peer or b""), self.v2)
        payload = keys.open(packet, pn_at)
        if payload is None:
            self.not_opened += len(packet)      # said once the flow is quiet (a row, however many packets)
            return False
        self.ctx.info.decrypted = True
        streams, beside = frames(payload)
        for sid, offset, data, fin in streams:
            reader = self.readers.get(sid)
            if reader is None:
                if len(self.readers) >= MAX_STREAMS:
                    self._stream_end(next(iter(self.readers)), out)
                reader = self.readers[sid] = StreamReader(h3=self.h3 and sid % 4 == 0)
            lost = reader.lost
            body, other = reader.add(offset, data)
            if reader.lost > lost:
                out.append(self.ctx.blind(STREAM_GAP, reader.lost - lost, t))
            self._piece(sid, "http/3 body", body, out)
            self._piece(sid, "stream", other, out)
            if fin:
                self._stream_end(sid, out)
        if beside and self.frames_beside.add(beside, t) >= STREAM_PIECE:
            self.frames_beside.hand_on(self.ctx, ("quic", "frames besides streams"), "out", t, out)
        return True

    def _piece(self, sid: int, kind: str, data: bytes, out: Items) -> None:
        if data:
            held = self.pieces.setdefault((sid, kind), bytearray())
            held += data
            if len(held) >= STREAM_PIECE:
                self._hand(sid, kind, out)

    def _hand(self, sid: int, kind: str, out: Items) -> None:
        """A stream's held bytes as a Payload, and on to its follower (a compressed body across pieces)."""
        held = self.pieces.pop((sid, kind), None)
        if held:
            data, t = bytes(held), self.t_last
            label = ("quic", kind)
            out.append(self.ctx.payload(data, label, "out", t, t, meta={"stream": sid}))
            out += self.streams.follow(f"{kind} {sid}", data, "out", label, t, t, {"stream": sid})

    def _stream_end(self, sid: int, out: Items) -> None:
        self.readers.pop(sid, None)
        for kind in ("http/3 body", "stream"):
            self._hand(sid, kind, out)
        out += self.streams.close(f"http/3 body {sid}") + self.streams.close(f"stream {sid}")

    def _count(self, direction: str, data: bytes, start: int, probe_at: int, end: int) -> None:
        """Bytes ``start:end`` are ciphertext if a probe at ``probe_at`` says so, or when too short to
        probe, if the flow already proved encrypted."""
        if looks_encrypted(data, probe_at) if end - probe_at >= PROBE_BYTES else self.ctx.info.sealed:
            self.sealed(direction, end - start)

    def _long(self, direction: str, data: bytes, pos: int, out: Items) -> int | None:
        """One long-header packet at ``pos`` of a version we can frame: its end, else None."""
        version = int.from_bytes(data[pos + 1: pos + 5], "big")
        if len(data) - pos < 7 or version not in _SALTS:
            if version == 0 and len(data) - pos >= 5:
                self.detail["quic_version"] = "version negotiation"
            elif known_version(version):
                self.detail.setdefault("quic_version", _version_name(version))
            return None
        self.detail.setdefault("quic_version", _version_name(version))
        self.v2 = version == V2
        dcid_len = data[pos + 5]
        if dcid_len > MAX_CID:
            return None
        dcid = data[pos + 6: pos + 6 + dcid_len]
        p = pos + 6 + dcid_len
        if p >= len(data) or data[p] > MAX_CID:
            return None
        self.cids.setdefault(direction, bytes(data[p + 1:p + 1 + data[p]]))
        p += 1 + data[p]
        ptype = (data[pos] >> 4) & 0x03
        initial_type = _INITIAL_TYPE.get(version, 0)
        if ptype == (initial_type + 3) % 4:
            return None                           # Retry: no Length field, it runs to the datagram's end
        try:
            if ptype == initial_type:
                token_len, p = varint(data, p)
                p += token_len
            length, p = varint(data, p)
        except ValueError:
            return None
        end = p + length
        if end > len(data):
            return None
        if ptype == initial_type and direction == self.ctx.client:
            if self.first_dcid is None:
                self.first_dcid = dcid
            if self._initial(version, dcid, data[pos:end], p - pos, out):
                return end
        space = LONG_SPACES.get((ptype - initial_type) % 4)
        if space and direction == "out" and self._protected(space, data[pos:end], p - pos, self.t_last, out):
            return end
        self._count(direction, data, pos, p + 4, end)
        return end

    def _initial(self, version: int, dcid: bytes, packet: bytes, pn_offset: int, out: Items) -> bool:
        """Decrypt a client Initial with the keys of the first DCID, else of its own (after a Retry):
        every one that opens is read (anyone can: its bytes are as good as plaintext), those that do
        not are tried MAX_INITIALS times in all."""
        if self.unopened >= MAX_INITIALS:
            return False
        for cid in dict.fromkeys((self.first_dcid, dcid)):
            keys = self.keys.get(cid)
            if keys is None:
                if len(self.keys) >= MAX_KEYS:
                    continue
                keys = self.keys[cid] = InitialKeys(version, cid)
            try:
                payload = keys.open(packet, pn_offset, len(packet))
            except (InvalidTag, ValueError):
                continue
            frames, rest = crypto_frames(payload)
            for offset, chunk in frames:
                self._crypto(offset, chunk, out)
            self._hello(out)
            self._beside(rest, out)
            return True
        self.unopened += 1
        return False

    def _beside(self, data: bytes | bytearray, out: Items) -> None:
        """Bytes of the client's Initials besides its hello (frames an Initial may not carry, a close's
        reason, CRYPTO data past the hello): held, handed on by BESIDE_CHUNK or when the flow goes quiet."""
        if data and self.beside.add(data, self.t_last) >= BESIDE_CHUNK:
            self._flush(out)

    def _flush(self, out: Items) -> None:
        self.beside.hand_on(self.ctx, ("quic", "initial packets"), self.ctx.client, self.t_last, out)

    def idle(self, t: float) -> Items:
        out: Items = []
        self._flush(out)
        for sid, kind in list(self.pieces):
            self._hand(sid, kind, out)
        self.frames_beside.hand_on(self.ctx, ("quic", "frames besides streams"), "out", self.t_last, out)
        self._say_not_opened(out)
        return out + self.streams.idle() + self.names.idle() + super().idle(t)

    def _say_not_opened(self, out: Items) -> None:
        if self.not_opened:
            out.append(self.ctx.blind(NOT_OPENED, self.not_opened, self.t_last))
            self.not_opened = 0

    def close(self, t: float) -> Items:
        out: Items = []
        self._flush(out)
        for sid in list(self.readers):
            self._stream_end(sid, out)
        for sid, kind in list(self.pieces):
            self._hand(sid, kind, out)
        self.frames_beside.hand_on(self.ctx, ("quic", "frames besides streams"), "out", self.t_last, out)
        self._say_not_opened(out)
        return out + self.streams.close() + self.names.close() + super().close(t)

    def _crypto(self, offset: int, chunk: bytes, out: Items) -> None:
        if self.hello_end is not None:            # the hello was read: what is past it is data
            if offset + len(chunk) > self.hello_end:
                self._beside(chunk[max(0, self.hello_end - offset):], out)
            return
        if offset + len(chunk) > MAX_CRYPTO or len(self.crypto_ahead) >= MAX_CRYPTO_AHEAD:
            self._beside(chunk, out)              # no hello is this long or in this many pieces: data
            return
        self.crypto_ahead[offset] = chunk
        while True:
            have = len(self.crypto)
            nxt = next((o for o in self.crypto_ahead if o <= have < o + len(self.crypto_ahead[o])), None)
            if nxt is None:
                for o in [o for o, c in self.crypto_ahead.items() if o + len(c) <= have]:
                    del self.crypto_ahead[o]      # retransmitted: already in the stream
                return
            chunk = self.crypto_ahead.pop(nxt)
            self.crypto += chunk[have - nxt:]

    def _hello(self, out: Items) -> None:
        hs = self.crypto
        if self.hello_end is not None or len(hs) < 4:
            return
        size = int.from_bytes(hs[1:4], "big")
        if len(hs) < 4 + size:
            return
        self.hello_end = 4 + size
        self._beside(hs[self.hello_end:], out)     # the client sends nothing after its hello in Initials
        ahead, self.crypto_ahead = self.crypto_ahead, {}
        for offset, chunk in ahead.items():
            self._crypto(offset, chunk, out)
        if hs[0] != HS_CLIENT_HELLO:
            self.ctx.error("quic: the client's first CRYPTO message is not a ClientHello")
            return
        hello = bytes(hs[4: 4 + size])
        self.client_random = hello[2:34]
        try:
            info = parse_client_hello(hello)
        except (TlsError, ValueError, struct.error) as exc:
            self.ctx.error(f"quic: {exc}")
            info = {}
        ctx, t = self.ctx, self.t_last
        out.append(ctx.payload(hello, ("quic", "client hello"), ctx.client, t))
        if "sni" in info:
            ctx.destination = info["sni"]
            ctx.named(info["sni"])
            self.detail["sni"] = info["sni"]
            ctx.info.meta["sni"] = info["sni"]
            out.append(ctx.payload(info["sni"].encode(), ("quic sni",), ctx.client, t, meta={"sni": info["sni"]}))
            out += self.names.take("quic", [("quic sni", info["sni"].encode())], ctx.client, t)
        if "alpn_offered" in info:
            self.detail["alpn"] = info["alpn_offered"]
            self.h3 = any(proto.startswith("h3") for proto in info["alpn_offered"])
            ctx.info.meta["alpn"] = info["alpn_offered"]


def _version_name(version: int) -> str:
    if version == V1:
        return "1"
    if version == V2:
        return "2"
    if version >> 8 == 0xFF0000:
        return f"draft-{version & 0xFF}"
    raw = version.to_bytes(4, "big")
    return raw.decode("ascii") if raw.isalnum() and raw.isascii() else f"{version:#010x}"

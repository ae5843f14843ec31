"""TLS metadata without decryption: SNI, ALPN, versions, certificate names, ciphertext volume.

Records are walked by their 5-byte headers; only handshake records before encryption starts are
buffered and parsed (ClientHello, ServerHello, and in TLS 1.2 the Certificate message).  Ciphertext
is skipped without copying and only counted: an encrypted upload whose volume tracks the run is
evidence the correlator weighs (opaque volume), so the parser reports the bytes at close in an
``Observation(kind="encrypted")``.  The SNI is a small Payload: host names can carry identifiers.
"""

from __future__ import annotations

import random
import struct
from dataclasses import replace
from typing import Any, ClassVar

from sandbox.model import Observation, Payload
from sandbox.protocols.context import FlowContext, Held, ParseError
from sandbox.protocols.follow import MessageStreams
from sandbox.protocols.headvalues import HeadValues
from sandbox.protocols.raw import RawParser

# RFC 8446 5.1: a record is at most 2^14 bytes plaintext, 2^14 + 256 ciphertext (TLS 1.3) or
# + 2048 (TLS 1.2, RFC 5246 6.2.3).  Anything longer is not TLS.
MAX_RECORD = (1 << 14) + 2048
# Handshake bytes buffered per direction: a certificate chain is typically 3-8 KiB, large
# chains (many SANs, RSA-4096 intermediates) reach ~30 KiB; 256 KiB is generous and bounded.
MAX_HANDSHAKE = 256 * 1024
# Certificate names kept: a CDN certificate can list hundreds of SANs; the first ones identify it.
MAX_CERT_NAMES = 64

CONTENT_CCS, CONTENT_ALERT, CONTENT_HANDSHAKE, CONTENT_APPDATA, CONTENT_HEARTBEAT = 20, 21, 22, 23, 24
HS_CLIENT_HELLO, HS_SERVER_HELLO, HS_CERTIFICATE = 1, 2, 11
EXT_SNI, EXT_ALPN, EXT_SUPPORTED_VERSIONS = 0, 16, 43
EXT_KEY_SHARE, EXT_PRE_SHARED_KEY = 51, 41
# Hello extension types IANA registered (TLS ExtensionType Values, 0-59 and renegotiation_info); GREASE's
# (0x?a?a) carry nothing by convention.  Any other type's content is the sender's to fill.
REGISTERED_EXTENSIONS = frozenset(range(60)) | {0xFF01} | {0x0A0A + 0x1010 * n for n in range(16)}
VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}

_RECORD = struct.Struct("!BHH")
# Every outbound application-data record is checked for ciphertext: an instrument can frame plaintext
# as TLS records with no encryption at all ("fake TLS" past a port-443 firewall), and start with a few
# real-looking ones.  The first PROBE_RECORDS are looked at after their first PROBE_SKIP bytes (TLS 1.2
# GCM's explicit nonce is often a counter), later ones at an offset drawn at random per record, so
# random bytes at a known place cannot hide the plaintext after them.  Records shorter than a window
# are judged together, their bodies end to end.
PROBE_RECORDS = 4
PROBE_BYTES = 128
PROBE_SKIP = 8
# Distinct byte values in 128 random bytes: ~101 (sd ~3.7; none under 82 in 400,000 trials); text,
# JSON, base64 and reads have under 66.  Below MIN_CIPHER_DISTINCT a window is not ciphertext (a false
# alarm would cost only correlating random bytes); every record after the first few is probed, so the
# bound there is stricter still (8 sd: a false alarm is not expected in any traffic a rig will see).
MIN_CIPHER_DISTINCT = 80
MIN_CIPHER_DISTINCT_EVERY = 70
_WINDOWS = random.Random()    # seeded from the OS: the instrument cannot know where the next look is
# Compressed data is as varied as ciphertext but starts with its magic (gzip, zstd, xz, bz2, zip).
_CLEAR_MAGIC = (b"\x1f\x8b\x08", b"\x28\xb5\x2f\xfd", b"\xfd7zXZ\x00", b"BZh", b"PK\x03\x04")
# The body of a record sent in the clear that is not a handshake: a change-cipher-spec's one byte, an
# alert's two; a heartbeat is never sent during a handshake (RFC 6520 3), so all of its body is looked at.
ALERT_BODY = 2             # an alert's level and description
CLEAR_BODY = {CONTENT_CCS: 1, CONTENT_ALERT: ALERT_BODY}
HANDSHAKE, UNENCRYPTED = ("tls", "handshake"), ("tls", "unencrypted records")
FRAMING_LOST = "tls framing lost"     # the chain label of the bytes scanned as they are after it
# Before TLS 1.3 a sealed record starts with bytes its sender chooses, sent as they are: TLS 1.2's
# GCM and CCM explicit nonce (8 bytes; OpenSSL, NSS, Go and SChannel send the record's sequence
# number), TLS 1.1 and 1.2's CBC explicit IV (16 random bytes; 8 for 3DES).  An instrument can put
# anything there.  Each outbound sealed record's first 8 bytes go to the correlator in one lane and
# its first 16 in another, whatever the cipher suite: one of them is exactly what its sender chose
# (the other, and the lanes of a suite with no explicit part, hold ciphertext, which matches nothing).
EXPLICIT = {8: ("tls", "explicit nonces"), 16: ("tls", "explicit IVs")}
EXPLICIT_BYTES = max(EXPLICIT)
EXPLICIT_CHUNK = 64 * 1024
# Plaintext of unencrypted records handed to the correlator at a time (and when the flow goes quiet).
PLAIN_CHUNK = 1 << 20


class TlsError(ParseError):
    pass


def looks_like_tls(data: bytes) -> bool:
    """A handshake record header: type 22, version 3.x, plausible length."""
    if len(data) < 5:
        return False
    ctype, version, length = _RECORD.unpack_from(data)
    return ctype == CONTENT_HANDSHAKE and version >> 8 == 3 and (version & 0xFF) <= 4 and 0 < length <= MAX_RECORD


def looks_like_tls_records(data: bytes) -> bool:
    """TLS picked up mid-connection, on any port: the bytes are whole records back to back.

    Two or more record headers (type 20-24, version 3.x, plausible length), each where the one
    before ends, or a single record that ends exactly where the bytes do.  A first record that
    runs past the bytes seen proves nothing yet (three bytes of signature are too few on their own).
    """
    pos = records = 0
    while len(data) - pos >= 5:
        ctype, version, length = _RECORD.unpack_from(data, pos)
        if not (CONTENT_CCS <= ctype <= CONTENT_HEARTBEAT and version >> 8 == 3 and (version & 0xFF) <= 4
                and 0 < length <= MAX_RECORD):
            return False
        records += 1
        pos += 5 + length
        if pos >= len(data):
            return records >= 2 or pos == len(data)
    return records >= 2 and pos == len(data)


def _vec(buf: bytes, pos: int, width: int) -> tuple[bytes, int]:
    """A length-prefixed vector (1, 2 or 3 byte length) at ``pos``; returns (body, end)."""
    if pos + width > len(buf):
        raise TlsError("truncated vector length")
    n = int.from_bytes(buf[pos: pos + width], "big")
    end = pos + width + n
    if end > len(buf):
        raise TlsError("vector runs past its message")
    return buf[pos + width: end], end


def _extensions(buf: bytes, pos: int) -> dict[int, bytes]:
    if pos >= len(buf):
        return {}
    block, _ = _vec(buf, pos, 2)
    out: dict[int, bytes] = {}
    p = 0
    while p + 4 <= len(block):
        etype, n = struct.unpack_from("!HH", block, p)
        out[etype] = block[p + 4: p + 4 + n]
        p += 4 + n
    return out


def parse_client_hello(body: bytes) -> dict[str, Any]:
    """SNI, ALPN and offered versions of a ClientHello body (RFC 8446 4.1.2)."""
    if len(body) < 38:
        raise TlsError("ClientHello too short")
    legacy = struct.unpack_from("!H", body)[0]
    pos = 34
    _sid, pos = _vec(body, pos, 1)
    _suites, pos = _vec(body, pos, 2)
    _comp, pos = _vec(body, pos, 1)
    ext = _extensions(body, pos)
    info: dict[str, Any] = {"client_version": VERSIONS.get(legacy, hex(legacy))}
    if EXT_SNI in ext:
        names, _ = _vec(ext[EXT_SNI], 0, 2)
        p = 0
        while p + 3 <= len(names):
            kind = names[p]
            host, p = _vec(names, p + 1, 2)
            if kind == 0:
                info["sni"] = host.decode("ascii", "replace")
                break
    if EXT_ALPN in ext:
        protos, _ = _vec(ext[EXT_ALPN], 0, 2)
        alpn, p = [], 0
        while p < len(protos):
            proto, p = _vec(protos, p, 1)
            alpn.append(proto.decode("ascii", "replace"))
        info["alpn_offered"] = alpn
    if EXT_SUPPORTED_VERSIONS in ext:
        vers, _ = _vec(ext[EXT_SUPPORTED_VERSIONS], 0, 1)
        info["versions_offered"] = [VERSIONS.get(v, hex(v)) for v in
                                    struct.unpack(f"!{len(vers) // 2}H", vers[: len(vers) // 2 * 2])]
    return info


def hello_values(body: bytes, client: bool) -> list[tuple[str, bytes]]:
    """The values of a hello its sender draws at random (and may write instead): its random, session
    id, key shares and pre-shared key identities, by name; and what it fills as it likes: the protocols
    it offers (ALPN) and extensions of types nobody registered.  Each hello is read whole; these are read
    across the connections to a site too (``TlsParser``): 32 bytes of reads a connection in a
    ClientHello's session id replayed clean."""
    values = [("tls hello random", body[2:34])]
    sid, pos = _vec(body, 34, 1)
    values.append(("tls hello session id", sid))
    if client:
        _, pos = _vec(body, pos, 2)       # cipher suites
        _, pos = _vec(body, pos, 1)       # compression methods
    else:
        pos += 3
    ext = _extensions(body, pos)
    shares = ext.get(EXT_KEY_SHARE, b"")
    entries, p = (_vec(shares, 0, 2)[0], 0) if client and shares else (shares, 0)
    while p + 4 <= len(entries):
        key, p = _vec(entries, p + 2, 2)
        values.append(("tls hello key share", key))
    if client and EXT_ALPN in ext:
        values.append(("tls hello alpn", ext[EXT_ALPN]))
    values += [("tls hello extension", value) for etype, value in ext.items() if etype not in REGISTERED_EXTENSIONS]
    if client and EXT_PRE_SHARED_KEY in ext:
        identities, _ = _vec(ext[EXT_PRE_SHARED_KEY], 0, 2)
        p = 0
        while p + 2 <= len(identities):
            identity, p = _vec(identities, p, 2)
            values.append(("tls hello psk identity", identity))
            p += 4        # its obfuscated ticket age
    return [(name, value) for name, value in values if value]


def parse_server_hello(body: bytes) -> dict[str, Any]:
    """Negotiated version and ALPN of a ServerHello body."""
    if len(body) < 38:
        raise TlsError("ServerHello too short")
    version = struct.unpack_from("!H", body)[0]
    _sid, pos = _vec(body, 34, 1)
    pos += 3   # cipher suite + compression method
    ext = _extensions(body, pos)
    if EXT_SUPPORTED_VERSIONS in ext and len(ext[EXT_SUPPORTED_VERSIONS]) == 2:
        version = struct.unpack("!H", ext[EXT_SUPPORTED_VERSIONS])[0]
    info: dict[str, Any] = {"version": VERSIONS.get(version, hex(version))}
    if EXT_ALPN in ext:
        protos, _ = _vec(ext[EXT_ALPN], 0, 2)
        if protos:
            info["alpn"] = _vec(protos, 0, 1)[0].decode("ascii", "replace")
    return info


def certificate_names(body: bytes) -> list[str]:
    """Subject CN and DNS SANs of the leaf certificate in a TLS 1.2 Certificate message."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    chain, _ = _vec(body, 0, 3)
    if not chain:
        return []
    der, _ = _vec(chain, 0, 3)
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise TlsError(f"bad certificate: {exc}") from exc
    names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names += [n for n in san.get_values_for_type(x509.DNSName) if n not in names]
    except x509.ExtensionNotFound:
        pass
    return [str(n) for n in names[:MAX_CERT_NAMES]]


def looks_unencrypted(body: bytes, least: int = MIN_CIPHER_DISTINCT) -> bool:
    """Whether a window of an application-data record (``body``: its first bytes) is not ciphertext."""
    return len(set(body[PROBE_SKIP:])) < least or body.startswith(_CLEAR_MAGIC)


class _Side:
    __slots__ = ("buf", "skip", "hs", "messages", "encrypted", "app_bytes", "records", "probed", "clear",
                 "plain", "shorts", "explicit", "first", "first_left")

    def __init__(self) -> None:
        self.buf = bytearray()   # unparsed record bytes (headers, handshake records)
        self.skip = 0            # ciphertext bytes of the current record still to skip
        self.hs = bytearray()    # handshake message reassembly
        self.messages = Held()   # whole handshake messages sent in the clear, to hand on
        self.encrypted = False   # handshake of this side is encrypted from here on
        self.app_bytes = 0
        self.records = 0
        self.probed = 0          # application-data records checked for ciphertext
        self.clear = False       # they are not encrypted: their content goes to the correlator
        self.plain = Held()      # plaintext sent in TLS records (outbound), to hand on
        self.shorts: list[bytes] = []   # short records not yet judged (their bodies fill one window)
        self.explicit = {size: Held() for size in EXPLICIT}   # outbound sealed records' first bytes
        self.first = bytearray()  # the current record's first bytes, while some are still to come
        self.first_left = 0       # how many (in the bytes skipped as ciphertext)


class TlsParser:
    """TLS record layer, both directions: metadata in ``ctx.info.meta``, volume at close."""

    name: ClassVar[str] = "tls"
    ports: ClassVar[tuple[int, ...]] = (443, 465, 563, 636, 853, 990, 993, 995, 8443)

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        # either side may be the client (the instrument may serve); the answer to a hello may
        # be an alert, so one side's handshake record is enough; a connection picked up in the
        # middle is recognised by its records, on any port
        return (looks_like_tls(first_out) or looks_like_tls(first_in)
                or looks_like_tls_records(first_out) or looks_like_tls_records(first_in))

    @staticmethod
    def begins(data: bytes) -> bool:
        """A handshake starts at ``data[0]`` (TLS after a preamble the flow began with: SOCKS, a login)."""
        return looks_like_tls(data)

    def __init__(self, ctx: FlowContext, label: tuple[str, ...] = ()) -> None:
        self.ctx = ctx
        self.label = label            # extra chain labels, e.g. ("smtp STARTTLS",)
        self.sides = {"out": _Side(), "in": _Side()}
        self.t_first: float | None = None
        self.t_last = 0.0
        self.version13 = False
        self.lost = False
        self.raw: RawParser | None = None     # the bytes after the records' framing was lost (``_lose``)
        # TLS inside the plaintext of TLS the rig decrypted (a tunnel in a tunnel): sealed whatever
        # the outer keys opened, as SSH or QUIC there would be
        self.nested = "tls" in ctx.chain
        self._sealed_counted = 0
        self.values = MessageStreams(ctx, across=True)    # hello values across connections (``hello_values``)
        self.names = HeadValues(ctx)      # its server names across connections (a beacon's host of its own)
        ctx.info.app = ctx.info.app or "tls"
        ctx.info.encrypted = True

    # ---- parser interface ----

    def feed(self, direction: str, data: bytes, t: float) -> list[Payload | Observation]:
        if self.t_first is None:
            self.t_first = t
        self.t_last = t
        side = self.sides[direction]
        if self.raw is not None:
            side.app_bytes += len(data)
            self._sealed(direction)
            return self.raw.feed(direction, data, t)
        out: list[Payload | Observation] = []
        mv = memoryview(data)
        pos = 0
        n = len(data)
        while pos < n:
            if side.skip:
                take = min(side.skip, n - pos)
                if side.first_left:
                    first = min(side.first_left, take)
                    side.first_left -= first
                    side.first += mv[pos: pos + first]
                    if not side.first_left:
                        self._explicit(side, side.first, out)
                        side.first = bytearray()
                side.skip -= take
                pos += take
                continue
            side.buf += mv[pos:]
            pos = n
            try:
                self._records(direction, side, out)
            except (TlsError, ValueError, struct.error) as exc:
                # most likely ciphertext we lost the framing of: counted as opaque, and scanned as it is
                self.ctx.error(f"tls: {exc}")
                side.app_bytes += len(side.buf)
                out += self._lose(direction, bytes(side.buf))
                side.buf.clear()
                side.hs.clear()
        self._sealed(direction)
        return out

    def _sealed(self, direction: str) -> None:
        """The flow's outbound ciphertext so far (application data, records whose framing was lost):
        what the opaque-volume rule weighs when no key opens it (the handshake is read, not weighed)."""
        if direction != "out":
            return
        info, sent = self.ctx.info, self.sides["out"].app_bytes
        added, self._sealed_counted = sent - self._sealed_counted, sent
        if self.nested:
            info.sealed = info.sealed or self.name
            info.sealed_out += added
        else:
            info.tls_out += added     # added up: a flow's later lanes (after a RST, a resent copy) count too

    def gap(self, direction: str, size: int) -> list[Payload | Observation]:
        side = self.sides[direction]
        out: list[Payload | Observation] = []
        if self.raw is not None:
            out += self.raw.gap(direction, size)
        elif side.skip >= size and not side.buf:
            side.skip -= size   # the hole fell inside ciphertext we skip anyway
        else:
            out += self._lose(direction, bytes(side.buf))     # record boundaries are gone
            out += self.raw.gap(direction, size) if self.raw is not None else []
            side.buf.clear()
            side.skip = 0
        side.app_bytes += size
        self._sealed(direction)
        return out

    def _lose(self, direction: str, unread: bytes) -> list[Payload | Observation]:
        """The records' framing is gone (a hole, bytes that are no record: TLS only by its port): the rest
        of the flow, both ways, is counted as opaque and scanned as it is (``tls framing lost``), as any
        unrecognised stream is.  Plaintext reads sent to port 443 without TLS replayed clean, counted
        as ciphertext."""
        self.lost = True
        app = self.ctx.info.app
        self.raw = RawParser(replace(self.ctx, chain=self.ctx.chain + self.label + (FRAMING_LOST,)))
        self.ctx.info.app = app
        return self.raw.feed(direction, unread, self.t_last) if unread else []

    def idle(self, t: float) -> list[Payload | Observation]:
        """The flow went quiet: unencrypted plaintext held back goes to the correlator now."""
        out: list[Payload | Observation] = self.values.idle() + self.names.idle() + (
            self.raw.idle(t) if self.raw is not None else [])
        for direction, side in self.sides.items():
            side.messages.hand_on(self.ctx, self.label + HANDSHAKE, direction, self.t_last, out)
        self.sides["out"].plain.hand_on(self.ctx, self.label + UNENCRYPTED, "out", self.t_last, out)
        for size, held in self.sides["out"].explicit.items():
            held.hand_on(self.ctx, self.label + EXPLICIT[size], "out", self.t_last, out)
        return out

    def close(self, t: float) -> list[Payload | Observation]:
        out_side, in_side = self.sides["out"], self.sides["in"]
        plain = self.idle(t) + self.values.close() + self.names.close() + (
            self.raw.close(t) if self.raw is not None else [])
        meta = self.ctx.info.meta
        detail = {k: meta[k] for k in ("sni", "alpn", "tls_version", "cert_names") if k in meta}
        detail["bytes_in"] = in_side.app_bytes
        detail["decrypted"] = self.ctx.info.decrypted
        return plain + [self.ctx.observation("encrypted", "info", self.t_first if self.t_first is not None else t,
                                             max(self.t_last, t), bytes_out=out_side.app_bytes,
                                             label=self.label + ("tls",), detail=detail)]

    # ---- records ----

    def _records(self, direction: str, side: _Side, out: list) -> None:
        buf = side.buf
        pos = 0
        while len(buf) - pos >= 5:
            ctype, version, length = _RECORD.unpack_from(buf, pos)
            if version >> 8 != 3 or length > MAX_RECORD or not CONTENT_CCS <= ctype <= CONTENT_HEARTBEAT:
                raise TlsError(f"not a TLS record header at stream record {side.records}")
            side.records += 1
            if ctype == CONTENT_HANDSHAKE and not side.encrypted:
                if len(buf) - pos < 5 + length:
                    break
                side.hs += buf[pos + 5: pos + 5 + length]
                pos += 5 + length
                self._handshake(direction, side, out)
                continue
            if ctype == CONTENT_CCS or not (side.encrypted or ctype == CONTENT_APPDATA):
                # a record never protected (a change-cipher-spec, TLS 1.3's included) or sent before
                # encryption began: what its body holds past the honest form goes to the correlator
                if len(buf) - pos - 5 < length:
                    break
                if ctype == CONTENT_CCS:
                    side.encrypted = True
                    side.messages.hand_on(self.ctx, self.label + HANDSHAKE, direction, self.t_last, out)
                honest = CLEAR_BODY.get(ctype, 0)
                if direction == "out" and length > honest:
                    self._clear(side, buf[pos + 5 + honest: pos + 5 + length], out)
                pos += 5 + length
                continue
            # a sealed record (application data, or any record once encryption began: a TLS 1.2
            # Finished, an alert or a heartbeat) is ciphertext: counted, and an outbound one is judged
            # (a flow being decrypted needs no judging: its plaintext is examined, and records its
            # keys do not open are counted as not examined)
            if direction == "out" and not (self.ctx.info.decrypted and not side.clear):
                if len(buf) - pos - 5 < length:
                    break                   # judged whole: plaintext in a record is never skipped unseen
                if not side.clear:
                    self._judge(side, buf, pos + 5, length)
                if side.clear:
                    self._clear(side, buf[pos + 5: pos + 5 + length], out)
                    pos += 5 + length
                    continue
            side.app_bytes += length
            avail = len(buf) - pos - 5
            if direction == "out" and not self.version13 and not side.clear:
                first = buf[pos + 5: pos + 5 + min(EXPLICIT_BYTES, length, avail)]
                side.first_left = min(EXPLICIT_BYTES, length) - len(first)
                if side.first_left:
                    side.first = bytearray(first)
                else:
                    self._explicit(side, first, out)
            if avail >= length:
                pos += 5 + length
            else:
                side.skip = length - avail
                pos = len(buf)
        del buf[:pos]

    def _clear(self, side: _Side, body: bytearray, out: list) -> None:
        """Outbound bytes TLS sent in the clear: held, then handed on by PLAIN_CHUNK or when the flow
        goes quiet."""
        if side.plain.add(body, self.t_last) >= PLAIN_CHUNK:
            side.plain.hand_on(self.ctx, self.label + UNENCRYPTED, "out", self.t_last, out)

    def _explicit(self, side: _Side, first: bytes | bytearray, out: list) -> None:
        """An outbound sealed record's first bytes, to each lane its share: held, handed on by
        EXPLICIT_CHUNK or when the flow goes quiet."""
        for size, held in side.explicit.items():
            if held.add(first[:size], self.t_last) >= EXPLICIT_CHUNK:
                held.hand_on(self.ctx, self.label + EXPLICIT[size], "out", self.t_last, out)

    def _judge(self, side: _Side, buf: bytearray, start: int, length: int) -> None:
        """Is the outbound record ``buf[start:start + length]`` ciphertext?  If not, the side is clear
        from here on (the short records judged with it included)."""
        side.probed += 1
        if length >= PROBE_SKIP + PROBE_BYTES:
            if side.probed <= PROBE_RECORDS:
                clear = looks_unencrypted(bytes(buf[start: start + PROBE_SKIP + PROBE_BYTES]))
            else:
                at = _WINDOWS.randrange(PROBE_SKIP, length - PROBE_BYTES + 1)
                window = bytes(buf[start: start + PROBE_SKIP]) + bytes(buf[start + at: start + at + PROBE_BYTES])
                clear = looks_unencrypted(window, MIN_CIPHER_DISTINCT_EVERY)
        else:
            if not length:
                return
            side.shorts.append(bytes(buf[start: start + length]))     # at most PROBE_BYTES of them
            # an honest record is never this short (TLS 1.3: 17 bytes at least): all of it is looked at
            window = b"".join(body[PROBE_SKIP:] if len(body) > 2 * PROBE_SKIP else body for body in side.shorts)
            if len(window) < PROBE_BYTES:
                return
            clear = looks_unencrypted(bytes(PROBE_SKIP) + window[:PROBE_BYTES], MIN_CIPHER_DISTINCT_EVERY)
            shorts, side.shorts = side.shorts[:-1], []
            if clear:
                side.plain.add(b"".join(shorts), self.t_last)
        if clear:
            side.clear = True
            self.ctx.info.meta["tls_unencrypted"] = True
            self.ctx.error("tls: application data sent unencrypted in TLS records")

    def _handshake(self, direction: str, side: _Side, out: list) -> None:
        hs = side.hs
        if len(hs) > MAX_HANDSHAKE:
            raise TlsError("handshake message larger than MAX_HANDSHAKE")
        pos = 0
        while len(hs) - pos >= 4:
            mtype = hs[pos]
            mlen = int.from_bytes(hs[pos + 1: pos + 4], "big")
            if len(hs) - pos - 4 < mlen:
                break
            body = bytes(hs[pos + 4: pos + 4 + mlen])
            pos += 4 + mlen
            # the whole message goes to the correlator, not only the fields read here: a hello's
            # extension of a type nobody registered carries what its sender likes
            side.messages.add(hs[pos - 4 - mlen: pos], self.t_last)
            self._message(direction, mtype, body, out)
            if side.encrypted:
                break
        del hs[:pos]
        # the messages a side sent in the clear go on as one payload when its encryption begins, it goes
        # quiet, or they fill PLAIN_CHUNK
        if side.encrypted or len(side.messages.data) >= PLAIN_CHUNK:
            side.messages.hand_on(self.ctx, self.label + HANDSHAKE, direction, self.t_last, out)

    def _message(self, direction: str, mtype: int, body: bytes, out: list) -> None:
        ctx = self.ctx
        meta = ctx.info.meta
        if mtype == HS_CLIENT_HELLO:
            info = parse_client_hello(body)
            meta.update(info)
            if "sni" in info:
                ctx.destination = info["sni"]
                ctx.named(info["sni"])
                out.append(ctx.payload(info["sni"].encode(), self.label + ("tls sni",), direction,
                                       self.t_last, meta={"sni": info["sni"]}))
            if "alpn_offered" in info and "alpn" not in meta:
                meta["alpn"] = info["alpn_offered"]
        elif mtype == HS_SERVER_HELLO:
            info = parse_server_hello(body)
            meta["tls_version"] = info["version"]
            if "alpn" in info:
                meta["alpn"] = [info["alpn"]]
            if info["version"] == "TLS 1.3":
                # everything after ServerHello is encrypted both ways (RFC 8446 2)
                self.version13 = True
                for d, s in self.sides.items():
                    s.encrypted = True
                    s.messages.hand_on(ctx, self.label + HANDSHAKE, d, self.t_last, out)
        elif mtype == HS_CERTIFICATE:
            names = certificate_names(body)
            if names:
                meta["cert_names"] = names
        if direction == "out" and mtype in (HS_CLIENT_HELLO, HS_SERVER_HELLO):
            if mtype == HS_CLIENT_HELLO and meta.get("sni"):      # server names across connections
                out += self.names.take("tls", [("tls sni", meta["sni"].encode())], "out", self.t_last)
            for name, value in hello_values(body, mtype == HS_CLIENT_HELLO):
                out += self.values.stream(name, out).follow(value, "out", self.label + (name,), self.t_last,
                                                            self.t_last)

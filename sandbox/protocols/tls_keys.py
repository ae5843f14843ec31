"""TLS decrypted in-process from an NSS key log: the record layer of TLS 1.0 to 1.3 (sans-IO).

``tshark`` decrypting a recording keeps every plaintext byte it produced until it exits (Wireshark
stores each record's plaintext for a second pass): ~1.2 bytes of memory per byte decrypted and
12-18 ms of CPU per MB on the rig's 2 cores, so a session of days cannot keep it running.  This module
decrypts the same records in bounded memory: raw TCP Segments in (a capture reader's or a live tap's,
in frame order), each followed by the plaintext of the TLS records its frame completed: tshark's
plaintext, frame for frame (``tests/protocols/tshark_tls.py`` is the reference the tests hold it to).

Covered: TLS 1.3 (AES-GCM, ChaCha20-Poly1305, AES-CCM; key updates; 0-RTT early data, accepted or
not: the client sent it either way), TLS 1.2 with AEAD (AES-GCM,
ChaCha20-Poly1305), TLS 1.2, 1.1 and 1.0 with AES-CBC suites (HMAC-SHA1/256/384, encrypt-then-MAC);
TLS found after a plaintext start (HTTP CONNECT, SOCKS, STARTTLS).  What it cannot
open (a connection whose key is not in the log, a suite or version not covered, a record that does
not authenticate, bytes after a hole in the TCP stream) is counted, never silently dropped:
``not_examined()``.  Application data leaves as plaintext (as tshark's ``data`` layer gives); the
content of the other records (handshake messages, heartbeats, alerts) leaves marked as ``RecordText``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import struct
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from sandbox.model import ACK, FIN, RST, SYN, NotExamined, Segment
from sandbox.protocols.tcp import CLOSED_LINGER, Chunk, Connection
from sandbox.protocols.tls import ALERT_BODY, CONTENT_ALERT

# RFC 8446 5.2 / RFC 5246 6.2.3: ciphertext of at most 2^14 + 2048 bytes.
MAX_RECORD = (1 << 14) + 2048
# Handshake bytes kept per direction until the messages that set the keys are read.
MAX_HANDSHAKE = 256 * 1024
# Connections followed at once, and the bytes they may hold together (out-of-order TCP, partial
# records and handshakes, records waiting for a key); beyond either the least recently active one is
# let go (counted).
MAX_CONNECTIONS = 65536
MAX_HELD = 256 << 20
# How often (capture time) records waiting for a key are looked at for expiry.
EXPIRE_EVERY_S = 0.1
# Bytes a connection may carry before its TLS hello (HTTP CONNECT, SOCKS, STARTTLS dialogues are far shorter).
MAX_PREAMBLE = 64 * 1024
# A handshake record carrying a ClientHello / ServerHello: where TLS starts in a stream.
CLIENT_HELLO_AT = re.compile(rb"\x16\x03[\x00-\x04][\x00-\x48][\x00-\xff]\x01")
SERVER_HELLO_AT = re.compile(rb"\x16\x03[\x00-\x04][\x00-\x48][\x00-\xff]\x02")
HELLO_SPAN = 5
# Protected records held per direction while their key is not yet in the log (a live key log is
# written by the proxy as the recording is: a TLS 1.2 key can come a moment after the records it opens).
MAX_PENDING = 1 << 20
# How long (capture time) records wait for their key before they are counted as not decrypted.
KEY_WAIT_S = 2.0
# Key log lines kept, the oldest let go beyond it (a session of days: their connections were keyed
# long ago); ~300 MB at most.  The 16 MB a recording carries hold ~90k lines.
MAX_KEY_LINES = 1 << 20
# Key in a Dissector's ``shared`` of the session's key log (``KeyLog``), for protocols that open what
# TLS keys protect inside their own packets (QUIC).
SHARED_KEYLOG = "tls key log"

CT_CCS, CT_HANDSHAKE, CT_APPDATA = 20, 22, 23
HS_CLIENT_HELLO, HS_SERVER_HELLO, HS_END_OF_EARLY_DATA, HS_FINISHED, HS_KEY_UPDATE = 1, 2, 5, 20, 24
EXT_SUPPORTED_VERSIONS, EXT_ENCRYPT_THEN_MAC = 43, 22
HRR_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()
_HEADER = struct.Struct("!BHH")

WHAT_NO_KEY = "TLS not decrypted: its key is not in the key log"
WHAT_UNSUPPORTED = "TLS not decrypted: a protocol version or cipher suite this rig does not decrypt"
WHAT_FAILED = "TLS not decrypted: records did not authenticate with the logged keys (or the stream is not TLS)"
WHAT_HOLE = "TLS not decrypted: bytes after a gap in the TCP stream (a lost segment)"
WHAT_EVICTED = "TLS not decrypted: more connections at once than followed"


class RecordText(bytes):
    """Plaintext of a decrypted record that is not application data (handshake messages, an alert
    past its two bytes, a heartbeat): what a peer's TLS library reads and its application never
    sees, so an instrument's own server may read anything there.  Handed on to a lane of its own
    (``RECORDS_LANE``), never into the application's stream."""


RECORDS_LANE = "tls records"


@dataclass(frozen=True)
class Suite:
    """A cipher suite's record protection: AEAD (``aead`` set) or CBC with an HMAC."""
    aead: str            # "gcm", "chacha", "ccm", "ccm8" or "" (CBC)
    key_len: int
    iv_len: int          # TLS 1.2: the key block's IV bytes (4 for GCM, 12 for ChaCha20, 0 for CBC)
    mac: str = ""        # CBC: hashlib name of the HMAC
    prf: str = "sha256"  # TLS 1.2 PRF hash / TLS 1.3 HKDF hash


TLS13_SUITES = {
    0x1301: Suite("gcm", 16, 12), 0x1302: Suite("gcm", 32, 12, prf="sha384"), 0x1303: Suite("chacha", 32, 12),
    0x1304: Suite("ccm", 16, 12), 0x1305: Suite("ccm8", 16, 12),
}
_GCM128, _GCM256 = Suite("gcm", 16, 4), Suite("gcm", 32, 4, prf="sha384")
_CHACHA = Suite("chacha", 32, 12)
_CBC = {("sha1", 16): Suite("", 16, 0, "sha1"), ("sha1", 32): Suite("", 32, 0, "sha1"),
        ("sha256", 16): Suite("", 16, 0, "sha256"), ("sha256", 32): Suite("", 32, 0, "sha256"),
        ("sha384", 32): Suite("", 32, 0, "sha384", prf="sha384")}
TLS12_SUITES = {
    **dict.fromkeys((0x009C, 0x009E, 0x00A2, 0x00A4, 0xC02B, 0xC02F, 0xC02D, 0xC031), _GCM128),
    **dict.fromkeys((0x009D, 0x009F, 0x00A3, 0x00A5, 0xC02C, 0xC030, 0xC02E, 0xC032), _GCM256),
    **dict.fromkeys((0xCCA8, 0xCCA9, 0xCCAA), _CHACHA),
    **dict.fromkeys((0x002F, 0x0033, 0x0032, 0xC004, 0xC009, 0xC00E, 0xC013), _CBC[("sha1", 16)]),
    **dict.fromkeys((0x0035, 0x0039, 0x0038, 0xC005, 0xC00A, 0xC00F, 0xC014), _CBC[("sha1", 32)]),
    **dict.fromkeys((0x003C, 0x0067, 0x0040, 0xC023, 0xC027, 0xC025, 0xC029), _CBC[("sha256", 16)]),
    **dict.fromkeys((0x003D, 0x006B, 0x006A), _CBC[("sha256", 32)]),
    **dict.fromkeys((0xC024, 0xC028, 0xC026, 0xC02A), _CBC[("sha384", 32)]),
}


class KeyLog:
    """An NSS key log: client random -> {label: secret}.  Lines that are not keys are skipped;
    ``add`` takes more text as the log grows (a live session), whole lines only."""

    def __init__(self, text: bytes = b"") -> None:
        self.keys: OrderedDict[bytes, dict[str, bytes]] = OrderedDict()     # oldest first
        self.lines = 0
        self._partial = b""
        self.add(text)

    def add(self, text: bytes) -> None:
        text = self._partial + text
        cut = text.rfind(b"\n") + 1
        self._partial = text[cut:]
        if len(self._partial) > 4096:            # no key line is this long
            self._partial = b""
        for line in text[:cut].splitlines():
            parts = line.split()
            if len(parts) != 3:
                continue
            try:
                random, secret = bytes.fromhex(parts[1].decode("ascii")), bytes.fromhex(parts[2].decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                continue
            if len(random) == 32 and 16 <= len(secret) <= 64:
                entry = self.keys.setdefault(random, {})
                label = parts[0].decode("ascii", "replace")
                self.lines += label not in entry
                entry[label] = secret
        while self.lines > MAX_KEY_LINES:     # the oldest connections' keys: long since used
            _, old = self.keys.popitem(last=False)
            self.lines -= len(old)

    def get(self, random: bytes, label: str) -> bytes | None:
        return self.keys.get(random, {}).get(label)


def hkdf_expand_label(secret: bytes, label: bytes, length: int, hash_name: str) -> bytes:
    """RFC 8446 7.1 HKDF-Expand-Label with an empty context."""
    info = struct.pack("!H", length) + bytes([6 + len(label)]) + b"tls13 " + label + b"\x00"
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([i]), hash_name).digest()
        out += block
        i += 1
    return out[:length]


def prf12(secret: bytes, label: bytes, seed: bytes, length: int, hash_name: str) -> bytes:
    """RFC 5246 5 P_hash."""
    seed = label + seed
    out, a = b"", seed
    while len(out) < length:
        a = hmac.new(secret, a, hash_name).digest()
        out += hmac.new(secret, a + seed, hash_name).digest()
    return out[:length]


def prf10(secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """RFC 2246 5 / RFC 4346 5: P_MD5 of the secret's first half XOR P_SHA1 of its second."""
    half = (len(secret) + 1) // 2
    md5 = prf12(secret[:half], label, seed, length, "md5")
    sha1 = prf12(secret[len(secret) - half:], label, seed, length, "sha1")
    return bytes(a ^ b for a, b in zip(md5, sha1, strict=True))


class RecordKey:
    """One direction's record protection at one point (a key, its IV, the record sequence number)."""

    def __init__(self, suite: Suite, version: int, key: bytes, iv: bytes, mac_key: bytes = b"",
                 etm: bool = False) -> None:
        self.suite, self.version, self.iv, self.mac_key, self.etm = suite, version, iv, mac_key, etm
        self.seq = 0
        if suite.aead == "gcm":
            self.cipher = AESGCM(key)
        elif suite.aead == "chacha":
            self.cipher = ChaCha20Poly1305(key)
        elif suite.aead in ("ccm", "ccm8"):
            self.cipher = AESCCM(key, tag_length=16 if suite.aead == "ccm" else 8)
        else:
            self.cipher = Cipher(algorithms.AES(key), modes.ECB())   # CBC per record, IV explicit
            self.key = key

    def _nonce(self) -> bytes:
        return (int.from_bytes(self.iv, "big") ^ self.seq).to_bytes(len(self.iv), "big")

    def open13(self, header: bytes, body: bytes) -> tuple[int, bytes]:
        """TLS 1.3: (inner content type, content).  InvalidTag when it does not authenticate."""
        plain = self.cipher.decrypt(self._nonce(), body, header)
        self.seq += 1
        end = len(plain.rstrip(b"\x00"))
        if end == 0:
            raise InvalidTag
        return plain[end - 1], plain[:end - 1]

    def open12(self, ctype: int, body: bytes) -> bytes:
        """TLS 1.2/1.1: the record's plaintext.  InvalidTag when it does not authenticate."""
        seq = self.seq.to_bytes(8, "big")
        version = struct.pack("!H", self.version)
        suite = self.suite
        if suite.aead:
            tag = 8 if suite.aead == "ccm8" else 16
            if suite.aead == "chacha":
                nonce, data = self._nonce(), body
            else:
                if len(body) < 8 + tag:
                    raise InvalidTag
                nonce, data = self.iv + body[:8], body[8:]
            if len(data) < tag:
                raise InvalidTag
            aad = seq + bytes([ctype]) + version + struct.pack("!H", len(data) - tag)
            plain = self.cipher.decrypt(nonce, data, aad)
        else:
            plain = self._open_cbc(ctype, seq, version, body)
        self.seq += 1
        return plain

    def _open_cbc(self, ctype: int, seq: bytes, version: bytes, body: bytes) -> bytes:
        mac_len = hashlib.new(self.suite.mac).digest_size
        shortest = 16 if self.version == 0x0301 else 32     # a block (an empty record), after an explicit IV
        if self.etm:
            body, mac = body[:-mac_len], body[-mac_len:]
            expect = hmac.new(self.mac_key, seq + bytes([ctype]) + version + struct.pack("!H", len(body)) + body,
                              self.suite.mac).digest()
            if len(body) < shortest or len(body) % 16 or not hmac.compare_digest(mac, expect):
                raise InvalidTag
        elif len(body) < shortest or len(body) % 16:
            raise InvalidTag
        if self.version == 0x0301:          # TLS 1.0: the IV is the previous record's last block
            iv, ciphertext, self.iv = self.iv, body, body[-16:]
        else:
            iv, ciphertext = body[:16], body[16:]
        dec = Cipher(algorithms.AES(self.key), modes.CBC(iv)).decryptor()
        plain = dec.update(ciphertext) + dec.finalize()
        pad = plain[-1] + 1
        if pad > len(plain) or plain[-pad:] != bytes([pad - 1]) * pad:
            raise InvalidTag
        plain = plain[:-pad]
        if self.etm:
            return plain
        if len(plain) < mac_len:
            raise InvalidTag
        plain, mac = plain[:-mac_len], plain[-mac_len:]
        expect = hmac.new(self.mac_key, seq + bytes([ctype]) + version + struct.pack("!H", len(plain)) + plain,
                          self.suite.mac).digest()
        if not hmac.compare_digest(mac, expect):
            raise InvalidTag
        return plain


class _Side:
    """One direction of a TLS connection: record reassembly, its key, its handshake bytes."""

    __slots__ = ("buf", "key", "next_keys", "hs", "encrypted", "dead", "traffic_secret", "pending", "pending_bytes",
                 "started", "preamble", "early", "early_key", "early_made")

    def __init__(self) -> None:
        self.started = False                       # its hello found
        self.preamble = 0                          # bytes before it
        self.pending: list[tuple[int, bytes, bytes, Segment]] = []   # records waiting for their key, by frame
        self.pending_bytes = 0
        self.buf = bytearray()
        self.key: RecordKey | None = None
        self.next_keys: list[RecordKey] = []       # TLS 1.3: the application key after Finished
        self.hs = bytearray()                      # handshake messages not yet complete
        self.encrypted = False                     # TLS 1.2: after ChangeCipherSpec
        self.dead = ""                             # why nothing more is decrypted this way
        self.traffic_secret = b""                  # TLS 1.3: for key updates
        # TLS 1.3 0-RTT: the client's early records held until the ServerHello names the suite (their
        # key's hash), counted in ``pending_bytes``; then the early key, till EndOfEarlyData (made
        # once: early data may also follow the ServerHello on the wire, the client not having read it)
        self.early: list[tuple[bytes, bytes, Segment]] = []
        self.early_key: RecordKey | None = None
        self.early_made = False


class TlsConnection:
    """One TCP connection's TLS: bytes of each direction in, application-data plaintext out."""

    def __init__(self, keylog: KeyLog) -> None:
        self.keylog = keylog
        self.tcp = Connection()
        self.sides = {"out": _Side(), "in": _Side()}
        self.client = ""                   # "out" or "in": who sent the ClientHello
        self.client_random = b""
        self.server_random = b""
        self.version = 0
        self.suite: Suite | None = None
        self.suite_id = 0
        self.etm = False
        self.tls = True                    # False once the stream is known not to be TLS
        self.last: Segment | None = None   # its latest raw Segment
        self.blind: dict[str, list[int]] = {}    # why -> [records, bytes]
        # plaintext opened while the other direction was read (0-RTT data once the ServerHello came):
        # (direction, plaintext, the Segment that completed its record), taken by ``released``
        self.freed: list[tuple[str, bytes, Segment]] = []

    def _blind(self, why: str, nbytes: int) -> None:
        _tally(self.blind, why, 1, nbytes)

    def data(self, direction: str, data: bytes) -> list[bytes]:
        """In-order bytes of ``direction``; the plaintext of the application-data records they completed."""
        side = self.sides[direction]
        if side.dead:
            self._blind(side.dead, len(data))
            return []
        side.buf += data
        if not side.started and not self._start(direction, side):
            return []
        out: list[bytes] = []
        buf = side.buf
        pos = 0
        while len(buf) - pos >= 5:
            ctype, version, length = _HEADER.unpack_from(buf, pos)
            if not (20 <= ctype <= 24 and version >> 8 == 3 and length <= MAX_RECORD):
                side.dead = WHAT_FAILED
                self._blind(WHAT_FAILED, len(buf) - pos)
                pos = len(buf)
                break
            if len(buf) - pos < 5 + length:
                break
            header = bytes(buf[pos:pos + 5])
            body = bytes(buf[pos + 5:pos + 5 + length])
            pos += 5 + length
            self._record(direction, side, ctype, header, body, out)
            if side.dead:
                self._blind(side.dead, len(buf) - pos)
                pos = len(buf)
                break
        del buf[:pos]
        return out

    def _start(self, direction: str, side: _Side) -> bool:
        """Whether TLS has started this way: its hello found, the bytes before it (a proxy's CONNECT or
        SOCKS exchange, a STARTTLS dialogue) dropped; at most ``MAX_PREAMBLE`` of them, else not TLS."""
        hello = CLIENT_HELLO_AT if not self.client else SERVER_HELLO_AT if direction != self.client else None
        found = hello.search(side.buf) if hello is not None else None
        if found is not None:
            side.preamble += found.start()
            del side.buf[:found.start()]
            side.started = True
            return True
        drop = max(0, len(side.buf) - HELLO_SPAN)
        side.preamble += drop
        del side.buf[:drop]
        if side.preamble > MAX_PREAMBLE:
            if self.client:
                side.dead = WHAT_FAILED
            else:
                self.tls = False           # no TLS hello where one could be: not ours to count
        return False

    def released(self) -> list[tuple[str, bytes, Segment]]:
        """Plaintext opened while the other direction was read: (direction, plaintext, its Segment)."""
        freed, self.freed = self.freed, []
        return freed

    def _record(self, direction: str, side: _Side, ctype: int, header: bytes, body: bytes, out: list[bytes]) -> None:
        if ctype == CT_CCS:
            # TLS 1.2 (the version known): what follows is protected; a client's CCS before the
            # ServerHello is TLS 1.3's middlebox disguise, and its early data follows it
            if self.version and self.version != 0x0304 and self.client and not side.encrypted:
                side.encrypted = True               # TLS 1.2: what follows is protected
                self._tls12_keys(direction, side)
            return                                  # TLS 1.3: a middlebox-compatibility record
        if not (side.encrypted or self.version == 0x0304):
            if ctype == CT_HANDSHAKE:
                self._handshake(direction, side, body)
            elif ctype == CT_APPDATA and direction == self.client and not self.version:
                assert self.last is not None           # 0-RTT: its key needs the suite the server picks
                side.early.append((header, body, self.last))
                side.pending_bytes += len(body)
                if side.pending_bytes > MAX_PENDING:
                    self._give_up(side)
            elif ctype == CT_APPDATA and self.client:
                self._blind(WHAT_NO_KEY, len(body))
            return
        if self.suite is None:
            self._blind(WHAT_UNSUPPORTED, len(body))
            return
        if side.key is None or side.pending:
            assert self.last is not None
            side.pending.append((ctype, header, body, self.last))
            side.pending_bytes += len(body)
            if side.pending_bytes > MAX_PENDING:
                self._give_up(side)
            return
        self._open(direction, side, ctype, header, body, out)

    def _open(self, direction: str, side: _Side, ctype: int, header: bytes, body: bytes, out: list[bytes]) -> None:
        assert side.key is not None
        if side.early_key is not None and self._open_early(side, header, body, out):
            return
        try:
            if self.version == 0x0304:
                inner, plain = side.key.open13(header, body)
            else:
                inner, plain = ctype, side.key.open12(ctype, body)
        except InvalidTag:
            side.dead = WHAT_FAILED
            self._blind(WHAT_FAILED, len(body))
            return
        if inner == CT_APPDATA:
            if plain:
                out.append(plain)
            return
        if inner == CT_HANDSHAKE:
            self._handshake(direction, side, plain)
        beyond = plain[ALERT_BODY if inner == CONTENT_ALERT else 0:]     # an alert past its two bytes; the rest whole
        if beyond:
            out.append(RecordText(beyond))

    def _open_early(self, side: _Side, header: bytes, body: bytes, out: list[bytes]) -> bool:
        """A client record after the ServerHello that its early key opens (early data sent before the
        client read it, EndOfEarlyData); the first it does not open ends the early data (the server
        refused them, or the handshake key took over)."""
        assert side.early_key is not None
        try:
            inner, plain = side.early_key.open13(header, body)
        except InvalidTag:
            side.early_key = None
            return False
        if inner == CT_APPDATA and plain:
            out.append(plain)
        elif inner == CT_HANDSHAKE and plain[:1] == bytes([HS_END_OF_EARLY_DATA]):
            side.early_key = None
        return True

    def _early_keys(self) -> None:
        """The client's early key once the suite is known and the log has its secret: the early
        records held are opened (``freed``), or counted when they do not authenticate; those that
        follow the ServerHello are tried with it first (``_open_early``)."""
        side = self.sides[self.client]
        secret = self.keylog.get(self.client_random, "CLIENT_EARLY_TRAFFIC_SECRET")
        if side.early_made or secret is None or self.suite is None:
            return
        side.early_made = True
        key = self._key13(secret)
        held, side.early = side.early, []
        for _, body, _ in held:
            side.pending_bytes -= len(body)
        for n, (header, body, seg) in enumerate(held):
            try:
                inner, plain = key.open13(header, body)
            except InvalidTag:
                for _, rest, _ in held[n:]:
                    self._blind(WHAT_FAILED, len(rest))
                return
            if inner == CT_APPDATA and plain:
                self.freed.append((self.client, plain, seg))
        side.early_key = key

    def retry(self) -> list[tuple[str, bytes, Segment]]:
        """Records held for their key, opened if the key log has it now: (direction, plaintext, the
        Segment that completed the record)."""
        out: list[tuple[str, bytes, Segment]] = []
        if self.version == 0x0304:
            self._tls13_keys()
            out += self.released()
        for direction, side in self.sides.items():
            if not side.pending or side.dead:
                continue
            if side.key is None and self.version != 0x0304:
                self._tls12_keys(direction, side)
            if side.key is None:
                continue
            held, side.pending, side.pending_bytes = side.pending, [], 0
            for ctype, header, body, seg in held:
                if side.dead:
                    self._blind(side.dead, len(body))
                    continue
                plain: list[bytes] = []
                self._open(direction, side, ctype, header, body, plain)
                out += [(direction, p, seg) for p in plain]
        return out

    def held(self) -> int:
        """Bytes this connection holds."""
        o, i = self.sides["out"], self.sides["in"]
        return (self.tcp.buffered + len(o.buf) + len(i.buf) + len(o.hs) + len(i.hs)
                + o.pending_bytes + i.pending_bytes)

    def oldest_pending(self) -> float:
        """Capture time of the oldest record held for its key (inf: none)."""
        return min([side.pending[0][3].t for side in self.sides.values() if side.pending]
                   + [side.early[0][2].t for side in self.sides.values() if side.early], default=math.inf)

    def expire(self, before: float) -> None:
        """Records held since before ``before`` (capture time): their key is not coming; counted."""
        for side in self.sides.values():
            if (side.pending and side.pending[0][3].t < before) or (side.early and side.early[0][2].t < before):
                self._give_up(side)

    def _give_up(self, side: _Side) -> None:
        """Records held for a key that is not coming: counted, and this way is not followed further
        (early data waiting for a ServerHello that is not coming: counted, the rest is still read)."""
        for _, body, _ in side.early:
            self._blind(WHAT_NO_KEY, len(body))
            side.pending_bytes -= len(body)
        side.early = []
        if not side.pending:
            return
        for _, _, body, _ in side.pending:
            self._blind(WHAT_NO_KEY, len(body))
        side.pending, side.pending_bytes = [], 0
        side.dead = WHAT_NO_KEY

    # -- handshake ----------------------------------------------------------------------------
    def _handshake(self, direction: str, side: _Side, data: bytes) -> None:
        side.hs += data
        if len(side.hs) > MAX_HANDSHAKE:
            side.hs.clear()
            return
        while len(side.hs) >= 4:
            mtype = side.hs[0]
            mlen = int.from_bytes(side.hs[1:4], "big")
            if len(side.hs) < 4 + mlen:
                break
            body = bytes(side.hs[4:4 + mlen])
            del side.hs[:4 + mlen]
            self._message(direction, side, mtype, body)

    def _message(self, direction: str, side: _Side, mtype: int, body: bytes) -> None:
        if mtype == HS_CLIENT_HELLO and len(body) >= 34 and not self.client:
            self.client, self.client_random = direction, body[2:34]
        elif mtype == HS_SERVER_HELLO and self.client and direction != self.client:
            self._server_hello(body)
        elif mtype == HS_FINISHED and self.version == 0x0304 and side.next_keys:
            side.key = side.next_keys.pop(0)       # this direction's application data follows
        elif mtype == HS_KEY_UPDATE and self.version == 0x0304 and side.traffic_secret and self.suite:
            h = self.suite.prf
            side.traffic_secret = hkdf_expand_label(side.traffic_secret, b"traffic upd",
                                                    hashlib.new(h).digest_size, h)
            side.key = self._key13(side.traffic_secret)

    def _server_hello(self, body: bytes) -> None:
        if len(body) < 38:
            return
        version, random = int.from_bytes(body[:2], "big"), body[2:34]
        if random == HRR_RANDOM:
            return                                   # a HelloRetryRequest: the real one follows
        at = 34
        sid_len = body[at]
        at += 1 + sid_len
        if at + 3 > len(body):
            return
        self.suite_id = int.from_bytes(body[at:at + 2], "big")
        at += 3                                      # suite, compression
        for etype, edata in _extensions(body, at):
            if etype == EXT_SUPPORTED_VERSIONS and len(edata) == 2:
                version = int.from_bytes(edata, "big")
            elif etype == EXT_ENCRYPT_THEN_MAC:
                self.etm = True
        self.version, self.server_random = version, random
        if version == 0x0304:
            self.suite = TLS13_SUITES.get(self.suite_id)
            self._tls13_keys()
        elif version in (0x0301, 0x0302, 0x0303):
            self.suite = TLS12_SUITES.get(self.suite_id)
            if self.suite is not None and self.suite.aead and version != 0x0303:
                self.suite = None                    # AEAD suites are TLS 1.2 only

    def _key13(self, secret: bytes) -> RecordKey:
        assert self.suite is not None
        h = self.suite.prf
        return RecordKey(self.suite, 0x0304, hkdf_expand_label(secret, b"key", self.suite.key_len, h),
                         hkdf_expand_label(secret, b"iv", 12, h))

    def _tls13_keys(self) -> None:
        if self.suite is None:
            return
        for direction, who in ((self.client, "CLIENT"), (self._server(), "SERVER")):
            hs = self.keylog.get(self.client_random, f"{who}_HANDSHAKE_TRAFFIC_SECRET")
            app = self.keylog.get(self.client_random, f"{who}_TRAFFIC_SECRET_0")
            side = self.sides[direction]
            if hs is None or app is None or side.key is not None:
                continue
            side.key = self._key13(hs)
            side.next_keys = [self._key13(app)]
            side.traffic_secret = app
        self._early_keys()

    def _server(self) -> str:
        return "in" if self.client == "out" else "out"

    def _tls12_keys(self, direction: str, side: _Side) -> None:
        suite = self.suite
        master = self.keylog.get(self.client_random, "CLIENT_RANDOM")
        if suite is None or master is None or len(master) != 48:
            side.key = None
            return
        mac_len = hashlib.new(suite.mac).digest_size if suite.mac else 0
        iv_len = 16 if self.version == 0x0301 else suite.iv_len        # TLS 1.0 CBC: the first IV
        size = 2 * (mac_len + suite.key_len + iv_len)
        seed = self.server_random + self.client_random
        block = (prf12(master, b"key expansion", seed, size, suite.prf) if self.version == 0x0303
                 else prf10(master, b"key expansion", seed, size))
        macs = block[:mac_len], block[mac_len:2 * mac_len]
        at = 2 * mac_len
        keys = block[at:at + suite.key_len], block[at + suite.key_len:at + 2 * suite.key_len]
        at += 2 * suite.key_len
        ivs = block[at:at + iv_len], block[at + iv_len:at + 2 * iv_len]
        i = 0 if direction == self.client else 1
        side.key = RecordKey(suite, self.version, keys[i], ivs[i], macs[i], self.etm)


def _tally(counts: dict[str, list[int]], why: str, records: int, nbytes: int) -> None:
    """Add to what could not be decrypted, by why: [records, bytes]."""
    entry = counts.setdefault(why, [0, 0])
    entry[0] += records
    entry[1] += nbytes


def _extensions(body: bytes, at: int) -> Iterator[tuple[int, bytes]]:
    if at + 2 > len(body):
        return
    end = min(len(body), at + 2 + int.from_bytes(body[at:at + 2], "big"))
    at += 2
    while at + 4 <= end:
        etype, elen = struct.unpack_from("!HH", body, at)
        yield etype, body[at + 4:at + 4 + elen]
        at += 4 + elen


class NativeDecrypt:
    """Raw Segments in frame order -> the same Segments, each followed by the plaintext its frame
    completed (``transport="tls"``, the frame's addresses and number)."""

    def __init__(self, keylog: KeyLog | bytes, where: str = "") -> None:
        self.keylog = keylog if isinstance(keylog, KeyLog) else KeyLog(keylog)
        self.where = where
        self.conns: OrderedDict[tuple, TlsConnection] = OrderedDict()
        self.blind: dict[str, list[int]] = {}
        self.waiting: set[tuple] = set()   # connections holding records for their key
        # TLS connections whose TCP finished, and their last packet, least recent first: followed
        # CLOSED_LINGER more, since bytes after a FIN or RST its receiver dropped (a forged one) are
        # still the instrument's
        self.ended: OrderedDict[tuple, float] = OrderedDict()
        self.held = 0                      # bytes the connections hold (TCP, records, handshakes, waiting)
        self._expired = -math.inf

    def feed(self, seg: Segment) -> list[Segment]:
        """The plaintext Segments ``seg`` completes (empty for anything that is not TCP)."""
        if seg.transport != "tcp":
            return []
        a, b = (seg.src, seg.sport), (seg.dst, seg.dport)
        key = (a, b) if a <= b else (b, a)
        direction = "out" if a <= b else "in"
        if self.ended:
            self._linger(seg.t)
        conn = self.conns.get(key)
        if conn is not None and conn.tls and seg.flags & SYN and not seg.flags & ACK and conn.tcp.finished:
            self._end(key, conn)          # a new connection on the 4-tuple of one that ended
            conn = None
        if conn is not None and not conn.tls:       # not TLS: kept (as a mark) only till it ends
            if seg.flags & (FIN | RST):
                del self.conns[key]
                self._retire(conn)
            return []
        if conn is None:       # followed from its SYN or its first handshake record, never from mid-stream
            if not seg.flags & SYN and seg.data[:2] != b"\x16\x03":
                return []
            conn = self.conns[key] = TlsConnection(self.keylog)
        else:
            self.conns.move_to_end(key)
            if key in self.ended:           # busy after its end: lingers from its last packet
                self.ended[key] = seg.t
                self.ended.move_to_end(key)
        conn.last = seg
        out: list[Segment] = []
        if conn.tcp.in_order(direction, seg.seq, seg.ack, seg.flags, seg.data):
            if not seg.data:
                return out
            side = conn.sides[direction]           # the usual segment: only this side's buffers change
            other = conn.sides["in" if direction == "out" else "out"]    # ...and the other's early data
            held = len(side.buf) + len(side.hs) + side.pending_bytes + other.pending_bytes
            for plain in conn.data(direction, seg.data):
                out.append(self._plain(seg, True, plain))
            self.held += len(side.buf) + len(side.hs) + side.pending_bytes + other.pending_bytes - held
        else:
            held = conn.held()
            for d, event in conn.tcp.segment(direction, seg.seq, seg.ack, seg.flags, seg.data):
                if not conn.tls:
                    break
                if isinstance(event, Chunk):
                    for plain in conn.data(d, event.data):
                        out.append(self._plain(seg, d == direction, plain))
                elif conn.client:
                    side = conn.sides[d]
                    side.dead = side.dead or WHAT_HOLE
                    conn._blind(WHAT_HOLE, event.size)
            self.held += conn.held() - held
        if conn.freed:
            out += [self._plain(s, (s.src, s.sport) == (key[0] if d == "out" else key[1]), plain)
                    for d, plain, s in conn.released()]
        if any(side.pending or side.early for side in conn.sides.values()):
            self.waiting.add(key)
        if self.waiting and seg.t - KEY_WAIT_S > self._expired + EXPIRE_EVERY_S:
            self._expired = seg.t - KEY_WAIT_S
            for k in self.waiting:
                if c := self.conns.get(k):
                    held = c.held()
                    c.expire(self._expired)
                    self.held += c.held() - held
            self._update_waiting()
        if conn.tls and seg.flags & (FIN | RST) and conn.tcp.finished:
            self.ended[key] = seg.t
            self.ended.move_to_end(key)
        while len(self.conns) > MAX_CONNECTIONS or (self.held > MAX_HELD and len(self.conns) > 1):
            old_key, old = self.conns.popitem(last=False)        # the least recently active
            self.ended.pop(old_key, None)
            self._retire(old, evicted=not old.tcp.finished)
        return out

    def _linger(self, now: float) -> None:
        """Let go of TLS connections that ended and carried nothing for CLOSED_LINGER."""
        ended = self.ended
        while ended:
            key, t = next(iter(ended.items()))
            if t > now - CLOSED_LINGER:
                return
            self._end(key, self.conns.get(key))

    def _end(self, key: tuple, conn: TlsConnection | None) -> None:
        self.ended.pop(key, None)
        if conn is not None:
            del self.conns[key]
            self._retire(conn)

    def retry(self) -> list[Segment]:
        """Plaintext of records that waited for keys the log has now (a live session calls this after
        the key log grew), named by the frames that completed them."""
        out: list[Segment] = []
        for key in list(self.waiting):
            conn = self.conns.get(key)
            if conn is None:
                continue
            held = conn.held()
            for d, plain, seg in conn.retry():
                sender = key[0] if d == "out" else key[1]
                out.append(self._plain(seg, (seg.src, seg.sport) == sender, plain))
            self.held += conn.held() - held
        self._update_waiting()
        return out

    def oldest_pending(self) -> float:
        """Capture time of the oldest record held for its key: a live source hands nothing on as
        complete past it (inf: none held)."""
        return min((c.oldest_pending() for k in self.waiting if (c := self.conns.get(k))), default=math.inf)

    def _update_waiting(self) -> None:
        self.waiting = {k for k in self.waiting if (c := self.conns.get(k)) and c.oldest_pending() < math.inf}

    def finish(self) -> None:
        """The capture ended: records still waiting for a key are counted."""
        for conn in self.conns.values():
            held = conn.held()
            for side in conn.sides.values():
                conn._give_up(side)
            self.held += conn.held() - held
        self.waiting.clear()

    def _plain(self, seg: Segment, same: bool, data: bytes) -> Segment:
        src, sport, dst, dport = ((seg.src, seg.sport, seg.dst, seg.dport) if same
                                  else (seg.dst, seg.dport, seg.src, seg.sport))
        return Segment(t=seg.t, channel=seg.channel, transport="tls", src=src, sport=sport, dst=dst, dport=dport,
                       data=data, frame=seg.frame,
                       meta={"lane": RECORDS_LANE} if isinstance(data, RecordText) else None)

    def follow(self, segments: Iterable[Segment]) -> Iterator[Segment]:
        """Each Segment, then the plaintext its frame completed."""
        for seg in segments:
            yield seg
            yield from self.feed(seg)
        self.finish()

    def _retire(self, conn: TlsConnection, evicted: bool = False) -> None:
        self.held -= conn.held()
        if not conn.tls:
            return
        for side in conn.sides.values():
            conn._give_up(side)
        for why, (records, nbytes) in conn.blind.items():
            _tally(self.blind, why, records, nbytes)
        if evicted and conn.client:
            _tally(self.blind, WHAT_EVICTED, 1, 0)

    def not_examined(self) -> list[NotExamined]:
        """What could not be decrypted, so far (connections still open included)."""
        totals = {why: list(c) for why, c in self.blind.items()}
        for conn in self.conns.values():
            if conn.tls:
                for why, (records, nbytes) in conn.blind.items():
                    _tally(totals, why, records, nbytes)
        return [NotExamined(where=self.where, what=why, packets=records, bytes=nbytes)
                for why, (records, nbytes) in sorted(totals.items())]

"""Reads in the parts of TLS sent in the clear: a ClientHello extension of a type nobody registered
(a server ignores it; the instrument's own server reads it), heartbeat, alert and change-cipher-spec
records longer than their honest forms, and records after the change-cipher-spec that claim to be
sealed but are plaintext; plaintext on TLS's port with no TLS at all, or after a hello where no record
follows.  Each replayed clean (the TLS parser read the hello for names only and
skipped every record but application data); now each is a leak naming the sample, and sealed records
of any type weigh as ciphertext."""

from __future__ import annotations

import os
import ssl
import struct

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.model import Observation
from sandbox.protocols.tls import TlsParser
from sandbox.replay import replay
from tests.hostile.uploads import ALLOWED
from tests.protocols.test_tls import make_ctx
from tests.protocols.tls_pair import TlsPair

SNI = "lims.lab.example"


def client_hello(extension: bytes = b"", ext_type: int = 0xFAFA) -> bytes:
    """A real ClientHello record (Python's ssl writes it) with one more extension at its end."""
    ctx = ssl.create_default_context()
    client = ctx.wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO(), server_hostname=SNI)
    try:
        client.do_handshake()
    except ssl.SSLWantReadError:
        pass
    record = out.read()
    assert record[0] == 22 and record[5] == 1
    body = bytearray(record[9:])
    pos = 34 + 1 + body[34]                                   # version, random, session id
    pos += 2 + int.from_bytes(body[pos:pos + 2], "big")       # cipher suites
    pos += 1 + body[pos]                                      # compression methods
    ext_len = int.from_bytes(body[pos:pos + 2], "big")
    added = struct.pack("!HH", ext_type, len(extension)) + extension if extension else b""
    body[pos:pos + 2] = (ext_len + len(added)).to_bytes(2, "big")
    body += added
    message = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(message).to_bytes(2, "big") + message


def record(ctype: int, body: bytes) -> bytes:
    return bytes([ctype]) + b"\x03\x03" + len(body).to_bytes(2, "big") + body


def heartbeat(payload: bytes) -> bytes:
    """RFC 6520's request: type, payload length, payload, 16 bytes of padding."""
    return b"\x01" + len(payload).to_bytes(2, "big") + payload + bytes(16)


def connections(fastq: bytes, size: int, streams) -> list[bytes]:
    return [streams(fastq[i:i + size]) for i in range(0, len(fastq), size)]


HIDING = {
    # 4 kB a connection in a hello extension; ten connections
    "hello extension": (4000, lambda piece: client_hello(piece), "handshake"),
    # heartbeats after the hello, before anything is encrypted (never allowed during a handshake)
    "heartbeat before encryption": (
        12000, lambda piece: client_hello() + b"".join(record(24, heartbeat(piece[i:i + 4000]))
                                                       for i in range(0, len(piece), 4000)),
        "unencrypted records"),
    # an alert's two bytes, then reads
    "long alert": (8000, lambda piece: client_hello() + record(21, b"\x01\x00" + piece), "unencrypted records"),
    # a change-cipher-spec's one byte, then reads
    "long change-cipher-spec": (8000, lambda piece: client_hello() + record(20, b"\x01" + piece),
                                "unencrypted records"),
    # after a change-cipher-spec: heartbeats and an "encrypted" Finished that are plaintext
    "sealed heartbeat in the clear": (
        8000, lambda piece: client_hello() + record(20, b"\x01") + record(22, os.urandom(40))
        + b"".join(record(24, heartbeat(piece[i:i + 2000])) for i in range(0, len(piece), 2000)),
        "unencrypted records"),
    # no TLS at all on its port: the parser was chosen by the port and counted it all as ciphertext
    "no TLS on port 443": (40000, lambda piece: piece, "tls framing lost"),
    # a real hello, then bytes that are no record (the framing lost): counted as ciphertext, not read
    "plaintext after a hello": (40000, lambda piece: client_hello() + b"\x00" + piece, "tls framing lost"),
}


@pytest.mark.parametrize("how", HIDING)
def test_reads_in_tls_sent_in_the_clear_are_a_leak(reads, how):
    tmp, run, fastq = reads
    size, stream, label = HIDING[how]
    path = tmp / f"{how}.pcap"
    with PcapWriter(path) as w:
        for n, data in enumerate(connections(fastq, size, stream)):
            c = TcpConversation(w, ("10.0.0.2", 40000 + n), (ALLOWED, 443), t0=1.0 + n)
            c.send(data)
            c.close()
    report = replay([path], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "leak", how
    leaks = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert leaks and all(f["samples"] == ["PT5699-T1"] and f["chain"][-1] == label for f in leaks), leaks


def test_the_clear_handshake_of_an_honest_connection_is_no_finding(reads):
    """The same hello with no extension added, to the allowed LIMS: nothing to report."""
    tmp, run, _ = reads
    path = tmp / "honest.pcap"
    with PcapWriter(path) as w:
        for n in range(10):
            c = TcpConversation(w, ("10.0.0.2", 41000 + n), (ALLOWED, 443), t0=1.0 + n)
            c.send(client_hello() + record(20, b"\x01") + record(22, os.urandom(40))
                   + record(23, os.urandom(300)) + record(21, os.urandom(26)))
            c.close()
    report = replay([path], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "clean", report["findings"]


def test_sealed_records_of_every_type_weigh_as_ciphertext():
    """Heartbeats, alerts and handshake records after the change-cipher-spec are ciphertext the
    opaque-volume rule must weigh, as application data is."""
    ctx = make_ctx()
    parser = TlsParser(ctx)
    sealed = b"".join(record(ctype, os.urandom(16000)) for ctype in (24, 21, 22) for _ in range(20))
    items = parser.feed("out", client_hello() + record(20, b"\x01") + sealed, 1.0) + parser.close(2.0)
    (obs,) = [o for o in items if isinstance(o, Observation)]
    assert obs.bytes_out == 60 * 16000 and ctx.info.tls_out == 60 * 16000
    assert not ctx.info.meta.get("tls_unencrypted")


def hkdf_label(secret: bytes, label: bytes, length: int, digest: type[hashes.HashAlgorithm]) -> bytes:
    """RFC 8446 7.1's HKDF-Expand-Label, written here from the RFC (not the rig's own)."""
    info = length.to_bytes(2, "big") + bytes([6 + len(label)]) + b"tls13 " + label + b"\x00"
    return HKDFExpand(digest(), length, info).derive(secret)


TLS13 = {0x1301: (AESGCM, 16, hashes.SHA256), 0x1302: (AESGCM, 32, hashes.SHA384),
         0x1303: (ChaCha20Poly1305, 32, hashes.SHA256)}


def sealed13(flights: list[tuple[bool, bytes]], keylog: bytes, first_seq: int):
    """A function sealing (inner content type, content) as the client's next TLS 1.3 records, with the
    application key the client logged (the records the instrument's TLS library would write)."""
    hello = next(f for c, f in flights if c)
    server = next(f for c, f in flights if not c)
    client_random = hello[11:43]
    suite = int.from_bytes(server[44 + server[43]: 46 + server[43]], "big")
    aead, key_len, digest = TLS13[suite]
    line = next(x for x in keylog.split(b"\n") if x.startswith(b"CLIENT_TRAFFIC_SECRET_0 " + client_random.hex().encode()))
    secret = bytes.fromhex(line.split()[2].decode())
    size = digest.digest_size
    assert len(secret) == size
    key, iv = hkdf_label(secret, b"key", key_len, digest), hkdf_label(secret, b"iv", 12, digest)
    seq = iter(range(first_seq, 1 << 30))

    def seal(ctype: int, content: bytes) -> bytes:
        inner = content + bytes([ctype])
        header = b"\x17\x03\x03" + (len(inner) + 16).to_bytes(2, "big")
        nonce = bytes(a ^ b for a, b in zip(iv, next(seq).to_bytes(12, "big"), strict=True))
        return header + aead(key).encrypt(nonce, inner, header)
    return seal


def test_reads_in_decrypted_records_that_are_not_application_data_are_a_leak(reads):
    """A TLS 1.3 connection whose keys the rig has: after a GET, the client's records carry reads as
    heartbeats, handshake messages of a type nobody registered and alerts past their two bytes (the
    instrument's own server reads them; a library drops them).  The decryption handed on application
    data only: clean; now their content is read (``tls records``)."""
    tmp, run, fastq = reads
    pair = TlsPair(tmp / "tls13-records", ssl.TLSVersion.TLSv1_3, host=SNI)
    flights = pair.handshake()
    path = tmp / "decrypted-records.pcap"
    with PcapWriter(path) as w:
        conv = TcpConversation(w, ("10.0.0.2", 42000), (ALLOWED, 443), t0=1.0)
        for from_client, flight in flights:
            conv.send(flight, from_client=from_client)
        conv.send(pair.seal(b"GET /status HTTP/1.1\r\nHost: lims.lab.example\r\n\r\n"))
        seal = sealed13(flights, pair.keylog.read_bytes(), first_seq=1)
        pieces = [fastq[i:i + 2000] for i in range(0, len(fastq), 2000)]
        forms = (lambda p: seal(24, heartbeat(p)), lambda p: seal(22, b"\xfe" + len(p).to_bytes(3, "big") + p),
                 lambda p: seal(21, b"\x01\x00" + p))
        conv.send(b"".join(forms[n % 3](piece) for n, piece in enumerate(pieces)))
        conv.close()
    report = replay([path], [run], keylog=pair.keylog, allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "leak"
    [leak] = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert leak["samples"] == ["PT5699-T1"] and leak["chain"][:2] == ["tcp", "tls records"], leak["chain"]
    assert not report.get("not_examined")


def _records(wire: bytes) -> list[bytes]:
    """The records of a stream, each whole (header and body)."""
    out, at = [], 0
    while at + 5 <= len(wire):
        size = int.from_bytes(wire[at + 3: at + 5], "big")
        out.append(wire[at: at + 5 + size])
        at += 5 + size
    return out


def _nonce_session(tmp, fastq: bytes | None, ciphers: str, explicit: int) -> bytes:
    """A real TLS 1.2 session's client stream (OpenSSL both ends), a record for every 8 bytes sent;
    with ``fastq``, each record's explicit nonce (GCM: 8 bytes) or IV (CBC: 16) made the reads'."""
    pair = TlsPair(tmp / f"pair-{ciphers}-{fastq is None}", version=ssl.TLSVersion.TLSv1_2, ciphers=ciphers)
    stream = b"".join(flight for from_client, flight in pair.handshake() if from_client)
    hidden = fastq if fastq is not None else bytes(40000)
    for at in range(0, len(hidden), explicit):
        (sealed,) = _records(pair.seal(b"telemetry " + str(at).encode()))
        body = sealed[5:]
        piece = hidden[at: at + explicit] if fastq is not None else body[:explicit]
        stream += sealed[:5] + piece.ljust(explicit, b"\n") + body[explicit:]
    return stream


SUITES = [("ECDHE-ECDSA-AES128-GCM-SHA256", 8), ("ECDHE-ECDSA-AES128-SHA", 16)]


def _replay_session(reads, ciphers: str, explicit: int, hidden: bool) -> dict:
    """The report of a replay of one TLS 1.2 session to the allowed LIMS, the reads in its records'
    explicit nonces or IVs when ``hidden``, else as OpenSSL sent them."""
    tmp, run, fastq = reads
    path = tmp / f"nonces-{explicit}-{hidden}.pcap"
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 42000 + explicit + 100 * hidden), (ALLOWED, 443), t0=1.0)
        c.send(_nonce_session(tmp, fastq if hidden else None, ciphers, explicit))
        c.close()
    return replay([path], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report


@pytest.mark.parametrize("ciphers, explicit", SUITES)
def test_reads_in_tls_1_2_explicit_nonces_are_a_leak(reads, ciphers, explicit):
    """Before TLS 1.3 a sealed record starts with a nonce (GCM) or an IV (CBC) its sender picks and
    sends as it is: 40 kB of reads there, to the allowed LIMS, replayed clean (counted as ciphertext)."""
    report = _replay_session(reads, ciphers, explicit, hidden=True)
    assert report["verdict"] == "leak"
    leaks = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    lane = "explicit nonces" if explicit == 8 else "explicit IVs"
    assert leaks and all(f["chain"][-1] == lane for f in leaks), leaks


@pytest.mark.parametrize("ciphers, explicit", SUITES)
def test_honest_nonces_and_ivs_are_no_finding(reads, ciphers, explicit):
    """OpenSSL's own: GCM nonces that count the records, CBC IVs that are random."""
    report = _replay_session(reads, ciphers, explicit, hidden=False)
    assert report["verdict"] == "clean", report["findings"]

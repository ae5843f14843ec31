"""Application-layer messages as bytes (HTTP/1.1, multipart, DNS, TLS records, SMB 2) for simulated captures.

Only what a simulated flow needs, built with struct and bytes joins; the packets around them come
from ``sandbox.captures.writer``. Nothing here opens a socket.
"""

from __future__ import annotations

import io
import json
import struct
import tarfile
from collections.abc import Callable, Sequence

from .dna import gzip_bytes

TLS_HANDSHAKE, TLS_CCS, TLS_APPDATA = 0x16, 0x14, 0x17
TLS_RECORD_MAX = 16384  # RFC 8446 5.1: plaintext fragments are at most 2^14 bytes
# TLS 1.3 suites and groups a current client offers (RFC 8446 B.4, RFC 8422).
_SUITES = (0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F)
_GROUPS = (0x001D, 0x0017)
_SIGALGS = (0x0403, 0x0804, 0x0401)


def http_request(method: str, path: str, host: str, body: bytes = b"", headers: Sequence[tuple[str, str]] = (),
                 content_type: str | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "User-Agent: MiSeqControlSoftware/4.1.2",
             "Accept: */*", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in headers]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def http_response(body: bytes = b"", status: str = "200 OK", content_type: str = "application/json",
                  headers: Sequence[tuple[str, str]] = ()) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Server: nginx", "Date: Sun, 23 Nov 2025 10:00:00 GMT",
             f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def json_bytes(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=False).encode()


def multipart(fields: Sequence[tuple[str, str, bytes, str | None]], boundary: str) -> tuple[bytes, str]:
    """A multipart/form-data body from (name, filename or "", data, content type) parts."""
    out = []
    for name, filename, data, ctype in fields:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        head = f"--{boundary}\r\nContent-Disposition: {disp}\r\n"
        if ctype:
            head += f"Content-Type: {ctype}\r\n"
        out.append(head.encode() + b"\r\n" + data + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def tar_gz(members: Sequence[tuple[str, bytes]], mtime: int = 1763892000) -> bytes:
    """A tar.gz with fixed owners and times, so the same members give the same bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), mtime, 0o644
            info.uname = info.gname = "miseq"
            tar.addfile(info, io.BytesIO(data))
    return gzip_bytes(buf.getvalue())


def dns_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"


def dns_query(ident: int, name: str, qtype: int = 1) -> bytes:
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + dns_name(name) + struct.pack("!HH", qtype, 1)


def dns_answer(ident: int, name: str, address: str | None, ttl: int = 300, qtype: int = 1) -> bytes:
    """The resolver's reply: one A record, or NXDOMAIN when ``address`` is None."""
    question = dns_name(name) + struct.pack("!HH", qtype, 1)
    if address is None:
        return struct.pack("!HHHHHH", ident, 0x8183, 1, 0, 0, 0) + question
    rdata = bytes(int(x) for x in address.split("."))
    answer = struct.pack("!HHHIH", 0xC00C, 1, 1, ttl, 4) + rdata
    return struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + question + answer


def tls_record(ctype: int, payload: bytes) -> bytes:
    return b"".join(struct.pack("!BHH", ctype, 0x0303, len(payload[o:o + TLS_RECORD_MAX])) + payload[o:o + TLS_RECORD_MAX]
                    for o in range(0, len(payload), TLS_RECORD_MAX))


def _ext(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


def client_hello(sni: str, random: bytes, key_share: bytes) -> bytes:
    """A TLS 1.3 ClientHello record with SNI, as a real client sends it (RFC 8446 4.1.2)."""
    host = sni.encode()
    exts = b"".join([
        _ext(0x0000, struct.pack("!HBH", len(host) + 3, 0, len(host)) + host),
        _ext(0x000A, struct.pack("!H", 2 * len(_GROUPS)) + b"".join(struct.pack("!H", g) for g in _GROUPS)),
        _ext(0x000D, struct.pack("!H", 2 * len(_SIGALGS)) + b"".join(struct.pack("!H", s) for s in _SIGALGS)),
        _ext(0x0010, struct.pack("!HB", 9, 8) + b"http/1.1"),
        _ext(0x002B, b"\x02\x03\x04"),
        _ext(0x0033, struct.pack("!HHH", 36, 0x001D, 32) + key_share),
    ])
    body = (b"\x03\x03" + random + b"\x20" + random[::-1]
            + struct.pack("!H", 2 * len(_SUITES)) + b"".join(struct.pack("!H", s) for s in _SUITES)
            + b"\x01\x00" + struct.pack("!H", len(exts)) + exts)
    return tls_record(TLS_HANDSHAKE, b"\x01" + len(body).to_bytes(3, "big") + body)


def server_hello(random: bytes, key_share: bytes, session_id: bytes) -> bytes:
    exts = _ext(0x002B, b"\x03\x04") + _ext(0x0033, struct.pack("!HH", 0x001D, 32) + key_share)
    body = (b"\x03\x03" + random + bytes([len(session_id)]) + session_id + struct.pack("!H", 0x1301) + b"\x00"
            + struct.pack("!H", len(exts)) + exts)
    return tls_record(TLS_HANDSHAKE, b"\x02" + len(body).to_bytes(3, "big") + body) + tls_record(TLS_CCS, b"\x01")


def websocket_upgrade(path: str, host: str, key: bytes, protocol: str = "") -> tuple[bytes, bytes]:
    """The client's Upgrade request and the server's 101 answer (RFC 6455 4.1, 4.2.2), with the
    subprotocol ``protocol`` asked for and chosen when given."""
    import base64
    import hashlib

    token = base64.b64encode(key).decode()
    accept = base64.b64encode(hashlib.sha1((token + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    chosen = [("Sec-WebSocket-Protocol", protocol)] if protocol else []
    request = http_request("GET", path, host, headers=[("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                                       ("Sec-WebSocket-Key", token), ("Sec-WebSocket-Version", "13"),
                                                       *chosen])
    response = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in chosen)
                + b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    return request.replace(b"Connection: keep-alive\r\n", b""), response


def websocket_frame(payload: bytes, text: bool, mask: bytes | None) -> bytes:
    """One final frame; clients mask theirs (RFC 6455 5.2, 5.3)."""
    head = bytes([0x81 if text else 0x82])
    n = len(payload)
    flag = 0x80 if mask else 0
    head += (bytes([flag | n]) if n < 126 else bytes([flag | 126]) + struct.pack("!H", n) if n < 65536
             else bytes([flag | 127]) + struct.pack("!Q", n))
    if not mask:
        return head + payload
    import numpy as np

    keyed = np.frombuffer(payload, dtype=np.uint8) ^ np.resize(np.frombuffer(mask, dtype=np.uint8), n)
    return head + mask + keyed.tobytes()


H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_DATA, H2_HEADERS, H2_SETTINGS = 0x0, 0x1, 0x4
H2_END_STREAM, H2_END_HEADERS, H2_ACK = 0x1, 0x4, 0x1
H2_MAX_FRAME = 16384   # SETTINGS_MAX_FRAME_SIZE's initial value (RFC 9113 6.5.2)


def h2_frame(ftype: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack("!I", len(payload))[1:] + struct.pack("!BBI", ftype, flags, stream) + payload


def protobuf_field(number: int, value: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2): a bytes or string value, or a sub-message."""
    size, head = len(value), b""
    while size > 0x7F:
        head, size = head + bytes([size & 0x7F | 0x80]), size >> 7
    return bytes([number << 3 | 2]) + head + bytes([size]) + value


def grpc_client_stream(host: str, path: str, messages: Sequence[bytes], stream: int = 1) -> bytes:
    """The client's bytes of a (client-streaming) gRPC call over cleartext HTTP/2 (prior knowledge): the
    preface, the request head, ``messages`` length-prefixed and uncompressed in DATA frames."""
    from hpack import Encoder

    enc = Encoder()
    grpc_body = b"".join(b"\x00" + struct.pack("!I", len(m)) + m for m in messages)
    head = enc.encode([(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", host),
                       ("content-type", "application/grpc"), ("te", "trailers"), ("user-agent", "grpc-c/1.60")])
    client = H2_PREFACE + h2_frame(H2_SETTINGS, 0, 0) + h2_frame(H2_HEADERS, H2_END_HEADERS, stream, head)
    for off in range(0, len(grpc_body), H2_MAX_FRAME):
        last = off + H2_MAX_FRAME >= len(grpc_body)
        client += h2_frame(H2_DATA, H2_END_STREAM if last else 0, stream, grpc_body[off:off + H2_MAX_FRAME])
    return client


def grpc_call(host: str, path: str, message: bytes, stream: int = 1) -> tuple[bytes, bytes]:
    """A unary gRPC call over cleartext HTTP/2 (prior knowledge): the client's bytes and the server's."""
    from hpack import Encoder

    client = grpc_client_stream(host, path, [message], stream)
    senc = Encoder()
    reply = b"\x00" + struct.pack("!I", 2) + b"ok"
    server = (h2_frame(H2_SETTINGS, 0, 0) + h2_frame(H2_SETTINGS, H2_ACK, 0)
              + h2_frame(H2_HEADERS, H2_END_HEADERS, stream, senc.encode([(":status", "200"),
                                                                           ("content-type", "application/grpc")]))
              + h2_frame(H2_DATA, 0, stream, reply)
              + h2_frame(H2_HEADERS, H2_END_HEADERS | H2_END_STREAM, stream, senc.encode([("grpc-status", "0")])))
    return client, server


def s3_create_answer(bucket: str, key: str, upload_id: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Bucket>{bucket}</Bucket><Key>{key}</Key><UploadId>{upload_id}</UploadId>"
            f"</InitiateMultipartUploadResult>").encode()


def s3_complete_body(etags: Sequence[str]) -> bytes:
    parts = "".join(f"<Part><ETag>{etag}</ETag><PartNumber>{n}</PartNumber></Part>" for n, etag in enumerate(etags, 1))
    return f'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{parts}</CompleteMultipartUpload>'.encode()


# --- SMB 2 (MS-SMB2 2.2.1 header, 2.2.9 TREE_CONNECT, 2.2.13 CREATE, 2.2.19 READ, 2.2.21 WRITE), each in
# its direct-TCP session frame (RFC 1002's session message with a 24-bit length)
SMB_SESSION = 0x0000_4000_0000_0011
SMB_TREE = 5
SMB_FILE_ID = bytes.fromhex("0100000000000000ffeeddcc00000000")


def smb_frame(message: bytes) -> bytes:
    return b"\x00" + len(message).to_bytes(3, "big") + message


def smb_header(command: int, mid: int, *, response: bool = False, tree: int = SMB_TREE, status: int = 0,
               related: bool = False, next_command: int = 0) -> bytes:
    flags = (1 if response else 0) | (4 if related else 0)
    return struct.pack("<4sHHIHHIIQIIQ16s", b"\xfeSMB", 64, 1, status, command, 1, flags, next_command, mid,
                       0, tree, SMB_SESSION, bytes(16))


def smb_tree_connect(mid: int, path: str) -> bytes:
    name = path.encode("utf-16-le")
    return smb_header(3, mid, tree=0) + struct.pack("<HHHH", 9, 0, 72, len(name)) + name


def smb_tree_connected(mid: int, tree: int = SMB_TREE) -> bytes:
    return smb_header(3, mid, response=True, tree=tree) + struct.pack("<HBBIII", 16, 1, 0, 0, 0, 0x1F01FF)


def smb_create(mid: int, name: str, *, related: bool = False, next_command: int = 0) -> bytes:
    raw = name.encode("utf-16-le")
    body = struct.pack("<HBBIQQIIIIIHHII", 57, 0, 0, 2, 0, 0, 0x0012019F, 0x80, 7, 5, 0x40, 120, len(raw), 0, 0)
    return smb_header(5, mid, related=related, next_command=next_command) + body + raw


def smb_created(mid: int, file_id: bytes) -> bytes:
    body = struct.pack("<HBBIQQQQQQII16sII", 89, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0x80, 0, file_id, 0, 0)
    return smb_header(5, mid, response=True) + body


def smb_write(mid: int, file_id: bytes, offset: int, data: bytes, *, related: bool = False) -> bytes:
    body = struct.pack("<HHIQ16sIIHHI", 49, 112, len(data), offset, file_id, 0, 0, 0, 0, 0)
    return smb_header(9, mid, related=related) + body + data


def smb_written(mid: int, size: int) -> bytes:
    return smb_header(9, mid, response=True) + struct.pack("<HHIII", 17, 0, size, 0, 0)


def smb_read(mid: int, file_id: bytes, offset: int, length: int) -> bytes:
    body = struct.pack("<HBBIQ16sIIIHHB", 49, 0, 0, length, offset, file_id, 0, 0, 0, 0, 0, 0)
    return smb_header(8, mid) + body


def smb_read_answer(mid: int, data: bytes) -> bytes:
    return smb_header(8, mid, response=True) + struct.pack("<HBBIII", 17, 80, 0, len(data), 0, 0) + data


def smb_upload(name: str, data: bytes, *, share: str = r"\\lims.lab.example\runs", piece: int = 65536,
               pack: Callable[[bytes], bytes] | None = None) -> list[tuple[str, bytes]]:
    """A client's session writing ``data`` to ``name`` on ``share`` in writes of ``piece`` bytes, each
    message passed through ``pack`` (a compressor) when given: [(direction, bytes)], the client "out"."""
    conv = [("out", smb_frame(smb_tree_connect(1, share))), ("in", smb_frame(smb_tree_connected(1))),
            ("out", smb_frame(smb_create(2, name))), ("in", smb_frame(smb_created(2, SMB_FILE_ID)))]
    for n, at in enumerate(range(0, len(data), piece)):
        message = smb_write(3 + n, SMB_FILE_ID, at, data[at: at + piece])
        conv.append(("out", smb_frame(pack(message) if pack else message)))
        conv.append(("in", smb_frame(smb_written(3 + n, len(data[at: at + piece])))))
    return conv


def mqtt_packet(kind: int, flags: int, body: bytes) -> bytes:
    """An MQTT control packet: type and flags, the remaining length as a variable byte integer, ``body``."""
    length, size = bytearray(), len(body)
    while True:
        byte, size = size & 0x7F, size >> 7
        length.append(byte | (0x80 if size else 0))
        if not size:
            return bytes([kind << 4 | flags]) + bytes(length) + body


def mqtt_string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return len(raw).to_bytes(2, "big") + raw


def mqtt_connect(client_id: str, level: int = 4, user: str = "", password: bytes = b"") -> bytes:
    """CONNECT (clean session, keep-alive 60 s) of MQTT 3.1.1 (``level`` 4) or 5 (no properties)."""
    flags = 0x02 | (0x80 if user else 0) | (0x40 if password else 0)
    body = mqtt_string("MQTT") + bytes([level, flags]) + (60).to_bytes(2, "big") + (b"\0" if level == 5 else b"")
    body += mqtt_string(client_id) + (mqtt_string(user) if user else b"") + (mqtt_string(password) if password else b"")
    return mqtt_packet(1, 0, body)


def mqtt_publish(topic: str, payload: bytes, qos: int = 0, packet_id: int = 1, level: int = 4,
                 properties: bytes = b"") -> bytes:
    """PUBLISH of ``payload`` to ``topic`` (MQTT 5: with ``properties``, already encoded)."""
    head = mqtt_string(topic) + (packet_id.to_bytes(2, "big") if qos else b"")
    if level == 5:
        head += mqtt_packet(0, 0, properties)[1:]        # the properties' length, then the properties
    return mqtt_packet(3, qos << 1, head + payload)


AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


def amqp_frame(kind: int, channel: int, payload: bytes) -> bytes:
    """An AMQP 0-9-1 frame: type, channel, size, payload, frame-end."""
    return struct.pack(">BHI", kind, channel, len(payload)) + payload + b"\xce"


def amqp_shortstr(text: str) -> bytes:
    raw = text.encode()
    return bytes([len(raw)]) + raw


def amqp_publish(channel: int, exchange: str, routing_key: str, body: bytes, frame_max: int = 131072,
                 content_type: str = "application/octet-stream") -> bytes:
    """basic.publish, its content header (with a content type) and its body in frames of at most
    ``frame_max`` bytes (frame header and end included)."""
    method = struct.pack(">HHH", 60, 40, 0) + amqp_shortstr(exchange) + amqp_shortstr(routing_key) + b"\0"
    header = struct.pack(">HHQH", 60, 0, len(body), 0x8000) + amqp_shortstr(content_type)
    out = amqp_frame(1, channel, method) + amqp_frame(2, channel, header)
    room = frame_max - 8
    return out + b"".join(amqp_frame(3, channel, body[at: at + room]) for at in range(0, len(body), room))


def pg_message(kind: bytes, body: bytes) -> bytes:
    """A PostgreSQL message: its type byte, its length (with itself), its body."""
    return kind + struct.pack(">i", len(body) + 4) + body


def pg_startup(user: str, database: str) -> bytes:
    """A StartupMessage of protocol 3.0."""
    body = struct.pack(">i", 196608) + b"user\0%s\0database\0%s\0\0" % (user.encode(), database.encode())
    return struct.pack(">i", len(body) + 4) + body


def pg_copy(table: str, data: bytes, piece: int = 32768) -> bytes:
    """``COPY table FROM STDIN`` as a simple query, ``data`` in CopyData messages of ``piece`` bytes, CopyDone."""
    out = pg_message(b"Q", b"COPY %s FROM STDIN\0" % table.encode())
    out += b"".join(pg_message(b"d", data[at: at + piece]) for at in range(0, len(data), piece))
    return out + pg_message(b"c", b"")


AMQP10_HEADER = b"AMQP\x00\x01\x00\x00"
AMQP10_SASL_HEADER = b"AMQP\x03\x01\x00\x00"


def amqp10_frame(performative: int, fields: bytes, count: int, payload: bytes = b"", channel: int = 0,
                 kind: int = 0) -> bytes:
    """An AMQP 1.0 frame: a described list (``count`` encoded ``fields``) as its performative, then ``payload``."""
    body = b"\x00\x53" + bytes([performative]) + b"\xd0" + struct.pack(">II", len(fields) + 4, count) + fields
    return struct.pack(">IBBH", 8 + len(body) + len(payload), 2, kind, channel) + body + payload


def amqp10_str(text: str) -> bytes:
    raw = text.encode()
    return b"\xa1" + bytes([len(raw)]) + raw


def amqp10_attach(name: str, handle: int, address: str, channel: int = 0) -> bytes:
    """attach of a sending link (role false) to ``address`` (the target's first field)."""
    target = b"\x00\x53\x29\xc0" + bytes([len(amqp10_str(address)) + 1, 1]) + amqp10_str(address)
    fields = amqp10_str(name) + b"\x52" + bytes([handle]) + b"\x42" + b"\x40\x40\x40" + target
    return amqp10_frame(0x12, fields, 7, channel=channel)


def amqp10_transfers(handle: int, delivery: int, message: bytes, max_frame: int = 32768, channel: int = 0) -> bytes:
    """One delivery of ``message`` (its encoded sections) in transfers of at most ``max_frame`` bytes."""
    out, at = b"", 0
    while True:
        piece = message[at: at + max_frame - 64]
        at += len(piece)
        more = at < len(message)
        fields = (b"\x52" + bytes([handle]) + b"\x52" + bytes([delivery & 0xFF]) + b"\xa0\x01" + bytes([delivery & 0xFF])
                  + b"\x43" + b"\x42" + (b"\x41" if more else b"\x42"))
        out += amqp10_frame(0x14, fields, 6, piece, channel=channel)
        if not more:
            return out


def amqp10_data(body: bytes) -> bytes:
    """A message of one data section (binary)."""
    return b"\x00\x53\x75\xb0" + struct.pack(">I", len(body)) + body

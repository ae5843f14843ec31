"""A real QUIC connection made by aioquic (from mitmproxy's environment), sans-IO: no socket.

Run as ``.venv-mitmproxy/bin/python quic_pair.py SNI ALPN < upload``: a client and a server exchange
datagrams in memory, the client sends stdin on one stream and closes, and every datagram is written
to stdout as a record ``direction (1 byte: 0 out, 1 in), length (4 bytes, big-endian), datagram``.
The tests turn the records into a capture (``quic_records``).  With ``--retry`` the server makes
the client prove its address first (a Retry packet: new Initial keys); ``--keylog PATH``: the client
writes its key log there; ``--h3``: the upload is an HTTP/3 POST's body (written 16 KiB at a time:
DATA frames); ``--key-update``: the client moves to its next keys halfway through the upload.
"""

from __future__ import annotations

import ssl
import struct
import sys
import tempfile
from pathlib import Path

from tls_pair import self_signed  # beside this file: run as a script, its folder is on the path

CLIENT, SERVER = ("10.0.0.2", 50443), ("10.0.0.1", 443)
RETRY_CID = b"\x11" * 8


def main() -> None:
    from aioquic.buffer import Buffer
    from aioquic.quic.configuration import QuicConfiguration
    from aioquic.quic.connection import QuicConnection
    from aioquic.quic.events import StreamDataReceived
    from aioquic.quic.packet import encode_quic_retry, pull_quic_header

    sni, alpn = sys.argv[1], sys.argv[2]
    retry = "--retry" in sys.argv
    h3, key_update = "--h3" in sys.argv, "--key-update" in sys.argv
    keylog = open(sys.argv[sys.argv.index("--keylog") + 1], "w") if "--keylog" in sys.argv else None  # noqa: SIM115
    upload = sys.stdin.buffer.read()
    out = sys.stdout.buffer
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = self_signed(Path(tmp), [sni])
        client = QuicConnection(configuration=QuicConfiguration(
            is_client=True, alpn_protocols=[alpn], server_name=sni, verify_mode=ssl.CERT_NONE,
            secrets_log_file=keylog))
        server_config = QuicConfiguration(is_client=False, alpn_protocols=[alpn])
        server_config.load_cert_chain(cert, key)
        now = 1_700_000_000.0
        client.connect(SERVER, now=now)
        server: QuicConnection | None = None
        original: bytes | None = None
        received = 0
        sent = False
        ended = False
        for _ in range(200_000):
            moved = False
            for data, _addr in client.datagrams_to_send(now=now):
                moved = True
                out.write(b"\x00" + struct.pack("!I", len(data)) + data)
                if server is None:
                    header = pull_quic_header(Buffer(data=data), host_cid_length=8)
                    if retry and original is None:   # a Retry: a token and a new connection ID
                        original = header.destination_cid
                        reply = encode_quic_retry(version=header.version, source_cid=RETRY_CID,
                                                  destination_cid=header.source_cid,
                                                  original_destination_cid=original, retry_token=b"token")
                        out.write(b"\x01" + struct.pack("!I", len(reply)) + reply)
                        client.receive_datagram(reply, SERVER, now=now)
                        continue
                    server = QuicConnection(
                        configuration=server_config,
                        original_destination_connection_id=original or header.destination_cid,
                        retry_source_connection_id=RETRY_CID if original else None)
                server.receive_datagram(data, CLIENT, now=now)
            if server is not None:
                for data, _addr in server.datagrams_to_send(now=now):
                    moved = True
                    out.write(b"\x01" + struct.pack("!I", len(data)) + data)
                    client.receive_datagram(data, SERVER, now=now)
                while (event := server.next_event()) is not None:
                    if isinstance(event, StreamDataReceived):
                        received += len(event.data)
                        if event.end_stream:
                            ended = True
                            client.close()
            if not sent and server is not None and client._handshake_complete:
                stream = client.get_next_available_stream_id()
                halves = [upload[:len(upload) // 2], upload[len(upload) // 2:]] if key_update else [upload]
                if h3:
                    from aioquic.h3.connection import H3Connection

                    http = H3Connection(client)
                    http.send_headers(stream, [(b":method", b"POST"), (b":scheme", b"https"),
                                               (b":authority", sni.encode()), (b":path", b"/upload")])
                for n, half in enumerate(halves):
                    if n:       # the packets of the first half are sent before the keys change
                        for data, _addr in client.datagrams_to_send(now=now):
                            out.write(b"\x00" + struct.pack("!I", len(data)) + data)
                            server.receive_datagram(data, CLIENT, now=now)
                        client.request_key_update()
                    last = n == len(halves) - 1
                    if h3:
                        for at in range(0, len(half), 16384):
                            http.send_data(stream, half[at:at + 16384], end_stream=False)
                        if last:
                            http.send_data(stream, b"", end_stream=True)
                    else:
                        client.send_stream_data(stream, half, end_stream=last)
                sent = True
            while client.next_event() is not None:
                pass
            if not moved:
                timer = client.get_timer()
                if timer is None or ended:
                    break
                now = max(now, timer)
                client.handle_timer(now=now)
                if server is not None and server.get_timer() is not None and server.get_timer() <= now:
                    server.handle_timer(now=now)
            now += 0.0001
        if received != len(upload) and not (h3 and ended and received > len(upload)):
            raise SystemExit(f"the server received {received} of {len(upload)} bytes")
    if keylog is not None:
        keylog.close()


if __name__ == "__main__":
    main()

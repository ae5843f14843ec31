"""The cloud's servers, run inside the "cloud" namespace: each records what it received.

    python -m tests.hw.net.cloud PKI_DIR RECEIVED.jsonl

HTTPS (HTTP/1.1 and HTTP/2 via ALPN is mitmproxy's business; this sink speaks HTTP/1.1) on 443,
WebSocket over TLS on 8443, gRPC over TLS on 50051, a raw TLS sink on 9443, S3 (moto, plain HTTP)
on 5000, DNS on UDP 53, SFTP (asyncssh, any password) on 22, plain TCP on 9000, UDP on 9999.  One JSON line per thing received: {"service", "bytes", "head"}.
Prints "up" when all listen.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import sys
import threading
from concurrent import futures
from pathlib import Path

from hw.demo.cloud import Log, serve_dns
from tests.hw.net.servers import Pki, Received, https_sink, server_context
from tests.hw.net.topology import CLOUD_IP, CLOUD_NAME

LOCK = threading.Lock()


def main(pki_dir: str, out: str) -> None:
    pki = Pki(Path(pki_dir) / "cloud-ca.pem", Path(pki_dir) / "cloud.pem", Path(pki_dir) / "cloud.key")
    log = open(out, "a", buffering=1)  # noqa: SIM115 - the process's lifetime

    def note(service: str, data: bytes) -> None:
        with LOCK:
            log.write(json.dumps({"service": service, "bytes": len(data), "head": data[:64].hex()}) + "\n")

    class Rec(Received):
        def add(self, body: bytes) -> None:
            note("https", body)

    server, _ = https_sink(pki, "0.0.0.0", 443)
    server.RequestHandlerClass.received = Rec()

    def ws() -> None:
        import websockets.asyncio.server as wss

        async def handler(conn) -> None:
            async for message in conn:
                note("websocket", message.encode() if isinstance(message, str) else message)
                await conn.send("ok")

        async def run() -> None:
            async with wss.serve(handler, "0.0.0.0", 8443, ssl=server_context(pki)):
                await asyncio.Future()

        asyncio.run(run())

    threading.Thread(target=ws, daemon=True).start()

    import grpc

    def put(request: bytes, context) -> bytes:
        note("grpc", request)
        return b"ok"

    handler = grpc.method_handlers_generic_handler("sequencer.Upload", {
        "Put": grpc.unary_unary_rpc_method_handler(put, request_deserializer=bytes, response_serializer=bytes)})
    g = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[handler])
    g.add_secure_port("0.0.0.0:50051", grpc.ssl_server_credentials([(pki.key.read_bytes(), pki.cert.read_bytes())]))
    g.start()

    def raw_tls() -> None:
        ctx = server_context(pki)
        with socket.create_server(("0.0.0.0", 9443)) as ls:
            while True:
                conn, _ = ls.accept()
                threading.Thread(target=raw_conn, args=(ctx, conn), daemon=True).start()

    def raw_conn(ctx: ssl.SSLContext, conn: socket.socket) -> None:
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                data = bytearray()
                while chunk := tls.recv(65536):
                    data += chunk
                note("raw-tls", bytes(data))
        except (OSError, ssl.SSLError):
            pass

    threading.Thread(target=raw_tls, daemon=True).start()

    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="0.0.0.0", port=5000)
    moto.start()

    # the bench resolver: the cloud's name has its address (an empty AAAA answer), the rest NXDOMAIN
    serve_dns("0.0.0.0", 53, Log(None), {CLOUD_NAME: CLOUD_IP}, seen=lambda data: note("dns", data))

    def udp_sink() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("0.0.0.0", 9999))
            while True:
                note("udp", s.recvfrom(65536)[0])

    threading.Thread(target=udp_sink, daemon=True).start()

    def plain_sink() -> None:
        """Plain TCP on 9000: what each connection carried, noted when it ends."""
        def take(conn: socket.socket) -> None:
            with conn:
                data = bytearray()
                while chunk := conn.recv(65536):
                    data += chunk
                note("plain", bytes(data))

        with socket.create_server(("0.0.0.0", 9000)) as ls:
            while True:
                threading.Thread(target=take, args=(ls.accept()[0],), daemon=True).start()

    threading.Thread(target=plain_sink, daemon=True).start()
    ssh_up = threading.Event()
    sftp_root = Path(out).with_name("sftp-root")     # beside the log, in the test's own folder
    sftp_root.mkdir(exist_ok=True)
    threading.Thread(target=sftp, args=(note, ssh_up, sftp_root), daemon=True).start()
    ssh_up.wait(60)
    print("up", flush=True)
    threading.Event().wait()


def sftp(note, up: threading.Event, root: Path) -> None:
    """An SFTP server rooted at ``root``: every file written is noted whole when it is closed."""
    import asyncssh

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return True

    class Sink(asyncssh.SFTPServer):
        def __init__(self, chan) -> None:
            super().__init__(chan, chroot=str(root))
            self.files: dict[object, bytearray] = {}

        def write(self, file_obj, offset: int, data: bytes) -> int:
            self.files.setdefault(file_obj, bytearray())[offset:offset + len(data)] = data
            return super().write(file_obj, offset, data)

        def close(self, file_obj) -> None:
            if file_obj in self.files:
                note("sftp", bytes(self.files.pop(file_obj)))
            super().close(file_obj)

    async def run() -> None:
        key = asyncssh.generate_private_key("ssh-ed25519")
        await asyncssh.create_server(Server, "0.0.0.0", 22, server_host_keys=[key], sftp_factory=Sink)
        up.set()
        await asyncio.Future()

    asyncio.run(run())


if __name__ == "__main__":
    main(*sys.argv[1:3])

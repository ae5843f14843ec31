"""The misbehaving instrument, live: a scenario's legs played with real clients through the rig.

    python -m hw.demo.instrument PLAN.json

The plan (written by ``hw.demo.bench``) says where things are: the scenario and its run folder, the
rig's proxy (none in transparent mode) and the CA the instrument trusts (the rig's), the cloud's ports,
the bench resolver, the serial line's two ends and the USB recording.  Each leg goes out the way a
vendor's software would send it: requests (HTTPS, HTTP), boto3 (S3 multipart), websockets, grpcio,
dnspython, a raw socket (CONNECT through the proxy), lrzsz's ``sx``/``rx`` on the serial line.  USB
has no bus here: its legs are written as the usbmon recording the USB tap would make
(``sandbox.simulate.usblegs``), in real time.  Bodies come from ``sandbox.simulate.payload``, as offline.

One JSON line per leg event on stdout (``{"leg", "event": start|done|failed, "detail"}``); exit 0 when
every leg went out, 1 when one failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

from sandbox.simulate.payload import RunData, dns_names, payload, run_data, split
from sandbox.simulate.render import S3_PARTS, WS_MESSAGES, dial_up_chunks, grpc_path, s3_key, usb_leg
from sandbox.simulate.scenario import Leg, load_scenario

SERVICE = {"https": "web", "http": "http", "s3": "web", "websocket": "ws", "grpc": "grpc", "tcp": "tcp"}
TIMEOUT_S = 60.0          # one request on a loaded 2-core machine, mitmproxy in the middle
SERIAL_CHUNK = 256        # bytes the instrument writes to its port at a time
XMODEM_START_S = 0.5      # sender first: a receiver that starts early sends 'C's the sender reads as NAKs
XMODEM_GRACE_S = 15.0     # sx may wait for a last ACK that does not come on a PTY; the host has the file


class Instrument:
    def __init__(self, plan: dict) -> None:
        self.plan = plan
        self.scenario = load_scenario(Path(plan["scenario"]))
        self.run: RunData = run_data(Path(plan["run"]))
        self.proxy: str | None = plan.get("proxy")
        self.ca: str = plan["ca"]
        self.ports: dict[str, int] = plan.get("ports", {})
        self.work = Path(plan["work"])
        self._usb_writer = None
        self._usb_file = None

    # -- the run -------------------------------------------------------------------------------
    def play(self, names: list[str] | None = None) -> int:
        failed = 0
        for leg in self.scenario.legs:
            if names is not None and leg.name not in names:
                continue
            emit(leg.name, "start", f"{leg.via} {leg.host or ''}".strip())
            try:
                detail = getattr(self, "_" + leg.via.replace("-", "_"))(leg)
            except Exception as exc:  # noqa: BLE001 - a client library's own error: said, and the next leg plays
                failed += 1
                emit(leg.name, "failed", f"{type(exc).__name__}: {exc}"[:300])
            else:
                emit(leg.name, "done", detail)
            time.sleep(float(self.plan.get("pace", 0)))
        if self._usb_writer is not None:
            self._usb_writer.close()
            self._usb_file.close()
        return 1 if failed else 0

    def _url(self, leg: Leg, scheme: str) -> str:
        port = self.ports[SERVICE[leg.via]]
        return f"{scheme}://{leg.host}:{port}"

    def _ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca)

    # -- network -------------------------------------------------------------------------------
    def _https(self, leg: Leg, scheme: str = "https") -> str:
        import requests

        sent = 0
        with requests.Session() as s:
            s.trust_env = False
            if self.proxy:
                s.proxies = {"http": self.proxy, "https": self.proxy}
            for n in range(leg.repeat):
                p = payload(leg, self.run, n)
                headers = {"Content-Type": p.content_type} if p.content_type else {}
                r = s.request(p.method, self._url(leg, scheme) + leg.path, data=p.body or None, headers=headers,
                              verify=self.ca, timeout=TIMEOUT_S)
                r.raise_for_status()
                sent += len(p.body)
        return f"{leg.repeat} request(s), {sent:,} bytes"

    def _http(self, leg: Leg) -> str:
        return self._https(leg, "http")

    def _s3(self, leg: Leg) -> str:
        import boto3
        from botocore.config import Config

        p = payload(leg, self.run)
        bucket, key = s3_key(leg, Path(p.file).name if p.file else leg.name)
        config = Config(proxies={"https": self.proxy} if self.proxy else None, s3={"addressing_style": "path"},
                        retries={"max_attempts": 1}, connect_timeout=TIMEOUT_S, read_timeout=TIMEOUT_S)
        c = boto3.client("s3", endpoint_url=self._url(leg, "https"), region_name="us-east-1", verify=self.ca,
                         aws_access_key_id="instrument", aws_secret_access_key="instrument-secret", config=config)
        c.create_bucket(Bucket=bucket)
        upload = c.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        parts = []
        for n, part in enumerate(split(p.body, S3_PARTS), 1):
            etag = c.upload_part(Bucket=bucket, Key=key, PartNumber=n, UploadId=upload, Body=part)["ETag"]
            parts.append({"ETag": etag, "PartNumber": n})
        c.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts})
        return f"s3://{bucket}/{key} in {len(parts)} parts, {len(p.body):,} bytes"

    def _websocket(self, leg: Leg) -> str:
        p = payload(leg, self.run)
        text = p.content_type.startswith(("text/", "application/json"))
        parts = split(p.body, WS_MESSAGES)
        asyncio.run(self._stream(self._url(leg, "wss") + leg.path, [part.decode() if text else part for part in parts]))
        return f"{len(parts)} message(s), {len(p.body):,} bytes"

    async def _stream(self, url: str, messages: list[str | bytes]) -> None:
        """Each message sent and answered, on websockets' asyncio client: once, in a full test run, the
        sync client (a reader thread beside the writing one on one TLS socket) timed out waiting for a
        handshake response whose request never reached the wire, and the instrument hung after it."""
        from websockets.asyncio.client import connect

        async with connect(url, ssl=self._ssl(), proxy=self.proxy, open_timeout=TIMEOUT_S, max_size=None) as ws:
            for message in messages:
                await ws.send(message)
                await asyncio.wait_for(ws.recv(), TIMEOUT_S)

    def _grpc(self, leg: Leg) -> str:
        import grpc

        p = payload(leg, self.run)
        options = [("grpc.max_send_message_length", 64 << 20)]
        if self.proxy:
            options.append(("grpc.http_proxy", self.proxy))
        creds = grpc.ssl_channel_credentials(root_certificates=Path(self.ca).read_bytes())
        target = f"{leg.host}:{self.ports['grpc']}"
        with grpc.secure_channel(target, creds, options=options) as channel:
            call = channel.unary_unary(grpc_path(leg), request_serializer=bytes, response_deserializer=bytes)
            call(p.body, timeout=TIMEOUT_S)
        return f"{grpc_path(leg)}, {len(p.body):,} bytes"

    def _tcp(self, leg: Leg) -> str:
        p = payload(leg, self.run)
        port = self.ports["tcp"]
        if self.proxy:
            host, _, proxy_port = self.proxy.removeprefix("http://").rpartition(":")
            sock = socket.create_connection((host, int(proxy_port)), timeout=TIMEOUT_S)
            sock.sendall(f"CONNECT {leg.host}:{port} HTTP/1.1\r\nHost: {leg.host}:{port}\r\n\r\n".encode())
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("the proxy closed the tunnel")
                answer += chunk
            if answer.split(b" ", 2)[1:2] != [b"200"]:
                raise ConnectionError(f"CONNECT refused: {answer.splitlines()[0].decode(errors='replace')}")
        else:
            sock = socket.create_connection((leg.host, port), timeout=TIMEOUT_S)
        with sock:
            sock.sendall(p.body)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(4096):
                pass
        return f"{len(p.body):,} bytes"

    def _dns(self, leg: Leg) -> str:
        import dns.exception
        import dns.message
        import dns.query

        server, port = self.plan["dns"]
        queries = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:   # one socket, as a tunnel keeps
            for n in range(leg.repeat):
                for name in dns_names(payload(leg, self.run, n).body, leg.host):
                    try:
                        dns.query.udp(dns.message.make_query(name, "A"), server, port=port, timeout=5, sock=sock)
                    except dns.exception.Timeout:
                        pass          # an unanswered query still left the instrument
                    queries += 1
        return f"{queries} queries"

    # -- serial --------------------------------------------------------------------------------
    def _serial(self, leg: Leg) -> str:
        ends = self.plan["serial"]
        body = b"".join(payload(leg, self.run, n).body for n in range(leg.repeat))
        if leg.protocol == "xmodem":
            return self._xmodem(leg, body, Path(ends["instrument"]), Path(ends["host"]))
        if leg.protocol == "ppp":
            return self._dial_up(leg, Path(ends["instrument"]), Path(ends["host"]))
        inst, host = open_end(Path(ends["instrument"])), open_end(Path(ends["host"]))
        try:
            got: list[int] = []
            reader = threading.Thread(target=lambda: got.append(drain(host, len(body))), daemon=True)
            reader.start()
            view = memoryview(body)
            while view:
                view = view[os.write(inst, view[:SERIAL_CHUNK]):]
            reader.join(TIMEOUT_S)
        finally:
            os.close(inst)
            os.close(host)
        if not got or got[0] < len(body):
            raise ConnectionError(f"the host received {got[0] if got else 0} of {len(body)} bytes")
        return f"{len(body):,} bytes printed"

    def _dial_up(self, leg: Leg, instrument: Path, host: Path) -> str:
        """The modem's side and the service line's, both played: each end reads what the other sent."""
        chunks = [c for n in range(leg.repeat) for c in dial_up_chunks(leg, self.run, n)]
        inst, hst = open_end(instrument), open_end(host)
        want = {d: sum(len(data) for dd, data in chunks if dd == d) for d in ("out", "in")}
        got: dict[str, int] = {}
        readers = [threading.Thread(target=lambda fd=fd, d=d: got.__setitem__(d, drain(fd, want[d])), daemon=True)
                   for fd, d in ((hst, "out"), (inst, "in"))]
        try:
            for reader in readers:
                reader.start()
            for direction, data in chunks:
                view = memoryview(data)
                while view:
                    view = view[os.write(inst if direction == "out" else hst, view[:SERIAL_CHUNK]):]
            for reader in readers:
                reader.join(TIMEOUT_S)
        finally:
            os.close(inst)
            os.close(hst)
        if got != want:
            raise ConnectionError(f"the ends received {got} of {want} bytes")
        return f"{leg.host}{leg.path} over PPP, {want['out']:,} bytes"

    def _xmodem(self, leg: Leg, body: bytes, instrument: Path, host: Path) -> str:
        name = leg.filename or "dump.bin"
        send, recv = self.work / f"send-{leg.name}", self.work / f"recv-{leg.name}"
        send.mkdir(parents=True, exist_ok=True)
        recv.mkdir(parents=True, exist_ok=True)
        (send / name).write_bytes(body)
        with open(instrument, "r+b", buffering=0) as inst, open(host, "r+b", buffering=0) as hst:
            for end in (inst, hst):
                drain(end.fileno(), 1 << 20, quiet_s=0.2)      # what an earlier leg left unread
            snd = subprocess.Popen(["sx", "-q", name], cwd=send, stdin=inst, stdout=inst, stderr=subprocess.DEVNULL)
            time.sleep(XMODEM_START_S)
            rcv = subprocess.Popen(["rx", "-q", "-c", name], cwd=recv, stdin=hst, stdout=hst, stderr=subprocess.DEVNULL)
            try:
                if rcv.wait(TIMEOUT_S) != 0:
                    raise ConnectionError(f"rx exited {rcv.returncode}")
                try:
                    snd.wait(XMODEM_GRACE_S)
                except subprocess.TimeoutExpired:
                    pass
            finally:
                for proc in (snd, rcv):
                    if proc.poll() is None:
                        proc.kill()
                    proc.wait()
        if (recv / name).read_bytes()[:len(body)] != body:
            raise ConnectionError("the host's copy differs from what the instrument sent")
        return f"{name}, {len(body):,} bytes by XMODEM"

    # -- USB: recorded, as the USB tap would --------------------------------------------------
    def _usb_sink(self):
        from sandbox.captures.writer import PcapngWriter
        from sandbox.simulate.usblegs import LINKTYPE_USB_LINUX_MMAPPED

        if self._usb_writer is None:     # a recording: private, as the taps make theirs
            fd = os.open(self.plan["usb"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            self._usb_file = os.fdopen(fd, "wb")
            self._usb_writer = PcapngWriter(self._usb_file, linktype=LINKTYPE_USB_LINUX_MMAPPED)
        writer = self._usb_writer

        def sink(urb: bytes, t: float) -> None:
            wait = t - time.time()
            if wait > 0:
                time.sleep(wait)
            writer.write(urb, t)
            writer.flush()

        return sink

    def _usb_storage(self, leg: Leg) -> str:
        device, _ = usb_leg(self._usb_sink(), leg, self.run, time.time(), device=self.plan["usb_devices"][leg.name])
        return f"{device}: a file copied to a USB stick"

    def _usb_serial(self, leg: Leg) -> str:
        device, _ = usb_leg(self._usb_sink(), leg, self.run, time.time(), device=self.plan["usb_devices"][leg.name])
        return f"{device}: printed to a USB-serial adapter"


def emit(leg: str, event: str, detail: str = "") -> None:
    print(json.dumps({"leg": leg, "event": event, "detail": detail}), flush=True)


def open_end(path: Path) -> int:
    """One end of a serial cable, raw and without echo."""
    import termios
    import tty

    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    return fd


def drain(fd: int, size: int, quiet_s: float = TIMEOUT_S) -> int:
    """Read up to ``size`` bytes, until none came for ``quiet_s``; how many were read."""
    import select

    got = 0
    while got < size:
        ready, _, _ = select.select([fd], [], [], quiet_s)
        if not ready:
            break
        chunk = os.read(fd, min(65536, size - got))
        if not chunk:
            break
        got += len(chunk)
    return got


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m hw.demo.instrument PLAN.json", file=sys.stderr)
        return 2
    plan = json.loads(Path(args[0]).read_text())
    return Instrument(plan).play(plan.get("legs"))


if __name__ == "__main__":
    sys.exit(main())

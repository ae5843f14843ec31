"""The rig's end of the addon's socket: every frame is written to the plaintext recording at once.

    python -m hw.net.recorder --socket FEED.sock --out RECORD_DIR/feed/proxied.pcapng

Runs as its own process beside mitmdump and dumpcap (record first: analysis never slows it).  Each
connection's messages are framed again as their wire form (``reframe``) and written as packets of
the proxied-plaintext link type, which the session follows like any live recording.  Prints
``listening`` once the socket accepts and ``ready {...}`` (where mitmproxy listens) once its addon said hello; ends when the
addon hangs up or on SIGTERM/SIGINT, with the recording closed.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import sys
from pathlib import Path

from hw.net import events
from hw.net.events import Event
from hw.net.reframe import OUT, Reframer
from sandbox.captures.links import proxied
from sandbox.captures.writer import PcapngWriter

RECV_BYTES = 1 << 20
# Plaintext per packet: inside the snap length the writer declares (262144), big enough to be cheap.
PACKET_BYTES = 256_000


class Recording:
    """Frames in, proxied-plaintext packets out (sans-IO apart from the writer it is given)."""

    def __init__(self, writer: PcapngWriter) -> None:
        self.writer = writer
        self.conns: dict[int, tuple[Reframer, tuple[str, int], tuple[str, int]]] = {}
        self.errors = 0

    def event(self, ev: Event) -> None:
        m = ev.meta
        if ev.kind == events.CONN:
            client, dst = tuple(m["client"]), tuple(m["dst"])
            self.conns[ev.conn] = (Reframer(), (str(client[0]), int(client[1])), (str(dst[0]), int(dst[1])))
            self._write(ev.conn, [(OUT, b"")], ev.t)   # from here on the flow's plaintext is ours
            return
        entry = self.conns.get(ev.conn)
        if entry is None:
            return
        r = entry[0]
        if ev.kind == events.REQUEST:
            chunks = r.request(m["msg"], m["method"].encode("latin-1"), m["target"].encode("latin-1"),
                               m["version"], events.fields(m["headers"]), m.get("scheme", "https").encode("latin-1"),
                               m.get("authority", "").encode("latin-1"))
        elif ev.kind == events.BODY:
            chunks = r.body(m["msg"], ev.data)
        elif ev.kind == events.END:
            chunks = r.end(m["msg"], events.fields(m.get("trailers", [])))
        elif ev.kind == events.RESPONSE:
            chunks = r.response(m["msg"], int(m["status"]), m.get("reason", "").encode("latin-1"), m["version"],
                                events.fields(m["headers"]))
        elif ev.kind == events.WEBSOCKET:
            chunks = r.websocket(bool(m["from_client"]), bool(m.get("text")), ev.data)
        elif ev.kind == events.TCP:
            chunks = r.tcp(bool(m["from_client"]), ev.data)
        elif ev.kind == events.CLOSE:
            del self.conns[ev.conn]
            return
        else:
            return
        self._write(ev.conn, chunks, ev.t)

    def _write(self, conn: int, chunks: list[tuple[str, bytes]], t: float) -> None:
        _, client, server = self.conns[conn]
        for direction, data in chunks:
            src, dst = (client, server) if direction == OUT else (server, client)
            for i in range(0, max(len(data), 1), PACKET_BYTES):
                self.writer.write(proxied.frame(src[0], src[1], dst[0], dst[1], data[i: i + PACKET_BYTES],
                                                direction == OUT), t)


def serve(sock_path: Path, out: Path) -> int:
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(True))
    out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)   # decrypted traffic: private
    writer = PcapngWriter(os.fdopen(fd, "wb"), linktype=proxied.LINKTYPE)
    writer.flush()
    recording = Recording(writer)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    os.chmod(sock_path, 0o600)
    listener.listen(4)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    decoders: dict[socket.socket, events.Decoder] = {}
    print("listening", flush=True)
    hung_up = False
    try:
        while not stop and not hung_up:
            for key, _ in sel.select(timeout=0.2):
                if key.fileobj is listener:
                    conn, _ = listener.accept()
                    decoders[conn] = events.Decoder()
                    sel.register(conn, selectors.EVENT_READ)
                    continue
                conn = key.fileobj
                data = conn.recv(RECV_BYTES)
                if data:
                    try:
                        for ev in decoders[conn].feed(data):
                            if ev.kind == events.HELLO:
                                print("ready " + json.dumps(ev.meta), flush=True)
                            else:
                                recording.event(ev)
                    except (events.FrameError, KeyError, ValueError, TypeError) as exc:
                        print(f"recorder: dropped a bad feed connection: {exc}", file=sys.stderr, flush=True)
                        data = b""
                    writer.flush()
                if not data:
                    sel.unregister(conn)
                    decoders.pop(conn).feed(b"")
                    conn.close()
                    hung_up = not decoders      # mitmproxy's addon went away: the session is over
    finally:
        writer.close()
        listener.close()
        sock_path.unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--socket", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    return serve(args.socket, args.out)


if __name__ == "__main__":
    sys.exit(main())

"""A TLS 1.3 connection resumed with 0-RTT early data, made by OpenSSL's own client and server and
recorded by dumpcap on loopback, with the client's key log.

    pcap, keylog = early_data_capture(tmp_path, early=b"...", later=b"...")

The first connection gets a session ticket that allows early data; the second sends ``early`` before
the handshake completes, then ``later`` as ordinary application data.  ``accept=False``: the server
restarted without early data in between, so it rejects them (the client sent them all the same).
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from tests.protocols.tls_pair import self_signed

WAIT_S = 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server(folder: Path, port: int, early: bool, connections: int) -> subprocess.Popen:
    """OpenSSL's server for ``connections``, once it says it accepts (a probe would be one of them)."""
    cmd = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(folder / "cert.pem"), "-key",
           str(folder / "key.pem"), "-naccept", str(connections), *(["-early_data"] if early else [])]
    # its input stays open: at its end s_server closes the connection it serves
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    for line in proc.stdout:           # what follows is a few lines: the pipe holds them
        if line.startswith(b"ACCEPT"):
            return proc
    raise RuntimeError(f"openssl s_server did not start (exit {proc.wait()})")


def _client(folder: Path, port: int, keylog: Path, *args: str, later: bytes = b"") -> str:
    """One s_client connection; its stdin stays open a moment so that the session ticket arrives."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-keylogfile", str(keylog), "-tls1_3", *args]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(0.5)
    out, _ = proc.communicate(later, timeout=WAIT_S)       # then end of input: the client closes and goes
    return out.decode(errors="replace")


def early_data_capture(folder: Path, early: bytes, later: bytes, accept: bool = True) -> tuple[Path, bytes, str]:
    """(capture, client key log, what the second client said)."""
    folder.mkdir(parents=True, exist_ok=True)
    self_signed(folder, ["localhost"])
    port = _free_port()
    pcap, keylog, session, early_file = (folder / n for n in ("early.pcapng", "keys.log", "session.pem", "early.bin"))
    early_file.write_bytes(early)
    dumpcap = subprocess.Popen(["dumpcap", "-q", "-i", "lo", "-f", f"tcp port {port}", "-w", str(pcap)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + WAIT_S
        while not (pcap.exists() and pcap.stat().st_size > 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        server = _server(folder, port, early=True, connections=2 if accept else 1)
        _client(folder, port, keylog, "-sess_out", str(session))
        if not accept:        # a new server: the ticket's key is not its own, so it refuses the early data
            server.kill()
            server.wait()
            server = _server(folder, port, early=False, connections=1)
        said = _client(folder, port, keylog, "-sess_in", str(session), "-early_data", str(early_file), later=later)
        server.kill()
        server.wait()
        time.sleep(0.5)
    finally:
        dumpcap.send_signal(2)
        dumpcap.wait(WAIT_S)
    return pcap, keylog.read_bytes(), said

"""Decrypted TLS plaintext from a capture and a key log, via one tshark pass (contract 2).

Only Wireshark implements TLS decryption for every cipher suite and version we meet, so this is
the one place the core runs tshark: once over the whole file, streaming ``-T fields`` output (the
fastest of tshark's writers; JSON/PDML are several times slower).  The dissectors TLS would hand
the plaintext to (HTTP, HTTP/2, SMTP ... by port, ALPN or heuristic) are disabled so the plaintext
reaches Wireshark's ``data`` dissector and comes out whole as ``data.data``, one value per
application-data record, in stream order.  Each frame with plaintext becomes one ``Segment`` with
``transport="tls"`` naming the TCP 4-tuple it belongs to; the Dissector parses it as a stream.

Key material: an NSS key log file, its bytes (e.g. ``Capture.tls_secrets`` from pcapng
Decryption Secrets Blocks, which tshark also reads from the capture by itself), or neither.
"""

from __future__ import annotations

import binascii
import functools
import heapq
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from sandbox.model import Segment

# Protocols Wireshark hands TLS plaintext to by ALPN (packet-tls-utils.c ssl_alpn_prefix_match /
# alpn table), in addition to the ``tls.port`` table and ``tls`` heuristics read from tshark.
ALPN_PROTOCOLS = ("http", "http2", "spdy", "stun", "xmpp", "imap", "pop", "ftp", "managesieve",
                  "coap", "dns", "mqtt", "sip", "grpc", "http3")
# Fields per output line, in order (tab separated).  Tunnelled IP gives several values: the
# innermost (last) address is the one the TCP header belongs to.
FIELDS = ("frame.number", "frame.time_epoch", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst",
          "ipv6.dst", "tcp.dstport", "tcp.stream", "data.data")
# tshark preferences: reassemble records across segments and out-of-order segments so every
# record is decrypted exactly once, in stream order.
PREFS = ("tcp.desegment_tcp_streams:TRUE", "tcp.reassemble_out_of_order:TRUE",
         "tls.desegment_ssl_records:TRUE")
# Key-log lines are at most a few hundred bytes; a file of secrets larger than this is not a key log.
MAX_KEYLOG = 64 * 1024 * 1024


class TlsDecryptError(RuntimeError):
    """tshark is missing or failed on the capture."""


def _tshark(tshark: str) -> str:
    path = shutil.which(tshark)
    if path is None:
        raise TlsDecryptError(f"{tshark} not found: install Wireshark's tshark to decrypt TLS")
    return path


@functools.lru_cache(maxsize=4)
def handoff_protocols(tshark: str = "tshark") -> tuple[str, ...]:
    """Protocols this tshark would hand TLS plaintext to (disabled so ``data`` gets it)."""
    exe = _tshark(tshark)
    protos = set(ALPN_PROTOCOLS)
    for flag, table, col in (("decodes", "tls.port", 2), ("heuristic-decodes", "tls", 1)):
        res = subprocess.run([exe, "-G", flag], capture_output=True, text=True, check=False)
        for line in res.stdout.splitlines():
            parts = line.split("\t")
            if len(parts) > col and parts[0] == table:
                protos.add(parts[col].strip())
    return tuple(sorted(p for p in protos if p and p not in ("tls", "data", "tcp")))


def command(capture: str | Path, keylog_file: str | Path | None, tshark: str = "tshark") -> list[str]:
    """The tshark command line (exposed so a report can say exactly what was run)."""
    cmd = [_tshark(tshark), "-n", "-r", str(capture), "-Y", "data.data && tls", "-T", "fields",
           "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for proto in handoff_protocols(tshark):   # one flag each: tshark 4.0 takes no list here
        cmd += ["--disable-protocol", proto]
    for pref in PREFS:
        cmd += ["-o", pref]
    if keylog_file is not None:
        cmd += ["-o", f"tls.keylog_file:{keylog_file}"]
    for f in FIELDS:
        cmd += ["-e", f]
    return cmd


def _last(value: bytes) -> str:
    return value.rsplit(b",", 1)[-1].decode("ascii")


def parse_line(line: bytes | str, channel: str = "net") -> Segment | None:
    """One ``-T fields`` line -> a plaintext Segment (None if the line carries no TCP plaintext)."""
    if isinstance(line, str):
        line = line.encode()
    parts = line.rstrip(b"\r\n").split(b"\t")
    if len(parts) != len(FIELDS):
        return None
    frame, t, ip4s, ip6s, sport, ip4d, ip6d, dport, stream, data = parts
    if not data or not sport:
        return None
    src = _last(ip6s) if ip6s else _last(ip4s)
    dst = _last(ip6d) if ip6d else _last(ip4d)
    plain = binascii.unhexlify(data.replace(b",", b""))   # one value per record, in order
    return Segment(t=float(t), channel=channel, transport="tls", src=src, sport=int(_last(sport)),
                   dst=dst, dport=int(_last(dport)), data=plain, frame=int(frame),
                   meta={"tcp_stream": int(_last(stream)) if stream else -1})


def decrypt(capture: str | Path, keylog: str | Path | bytes | None = None, tshark: str = "tshark",
            channel: str = "net") -> Iterator[Segment]:
    """Plaintext Segments of every TLS connection tshark can decrypt, in capture order.

    ``keylog`` is an NSS key log path, its bytes, or None (secrets embedded in a pcapng are used
    by tshark either way).  Raises ``TlsDecryptError`` when tshark is missing or fails.
    """
    tmp: str | None = None
    keylog_file: str | Path | None = None
    if isinstance(keylog, bytes | bytearray):
        if len(keylog) > MAX_KEYLOG:
            raise TlsDecryptError("key log larger than MAX_KEYLOG")
        if keylog.strip():
            fd, tmp = tempfile.mkstemp(prefix="sandbox-keylog-", suffix=".txt")   # 0600: secrets
            with os.fdopen(fd, "wb") as f:
                f.write(keylog)
            keylog_file = tmp
    elif keylog is not None:
        keylog_file = keylog
    try:
        cmd = command(capture, keylog_file, tshark)
        # stderr to a file, not a pipe: a chatty tshark must not block on a full pipe we do not read
        with tempfile.TemporaryFile() as errf, subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=errf, bufsize=1 << 20) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                seg = parse_line(line, channel)
                if seg is not None:
                    yield seg
            code = proc.wait()
            errf.seek(0)
            err = errf.read().decode("utf-8", "replace")
        if code != 0:
            msg = [ln for ln in err.splitlines() if "Running as user" not in ln]
            raise TlsDecryptError(f"tshark exited {code}: {' '.join(msg)[:500]}")
    finally:
        if tmp is not None:
            os.unlink(tmp)


def interleave(segments: Iterable[Segment], plaintext: Iterable[Segment]) -> Iterator[Segment]:
    """Capture Segments and decrypted ones in one stream, each plaintext right after its frame.

    Both inputs are in frame order (a capture reader's and ``decrypt``'s output), so this is a
    lazy merge: the Dissector then sees the TLS handshake (SNI) before the plaintext it protects.
    """
    yield from (seg for _, _, seg in heapq.merge(((s.frame, 0, s) for s in segments),
                                                  ((s.frame, 1, s) for s in plaintext),
                                                  key=lambda x: (x[0], x[1])))

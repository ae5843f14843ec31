"""The reference the rig's own TLS decryption (``sandbox.protocols.tls_keys``) is checked against:
tshark's plaintext of a capture with a key log, in one pass.

The rig decrypted this way until it measured tshark keeping every decrypted byte until it exits
(~1.2 bytes of memory per byte decrypted, 12-18 ms of CPU per MB): unbounded over a session of days.
Wireshark's TLS decryption stays the oracle of the tests, record for record.  tshark exports every
decrypted application-data record it hands on ("Export PDUs", the ``OSI layer 7`` tap) as a pcapng
record on stdout: the plaintext with its original frame number, time, addresses and ports.  That
export happens whatever protocol the plaintext is handed to, so the protocols that *find* TLS in
the middle of a connection stay enabled: SMTP, IMAP, POP and FTP see STARTTLS / AUTH TLS and start
TLS there, however the ClientHello is cut into segments.  Every other protocol TLS could hand to
(by port, ALPN or heuristic) is disabled, and ``tls.port`` maps every port to ``data``, so no
session is left without a handler (that would mean no export) and no work is spent dissecting
plaintext we parse ourselves.  Application-data reassembly is off: each record is exported once,
as it was on the wire.  Each record becomes one ``Segment`` with ``transport="tls"`` naming the TCP
4-tuple it belongs to (the innermost one of a tunnelled packet); the Dissector parses it as a stream.

Key material: an NSS key log file, its bytes (e.g. ``Capture.tls_secrets`` from pcapng
Decryption Secrets Blocks, which tshark also reads from the capture by itself), or neither.
"""

from __future__ import annotations

import functools
import heapq
import ipaddress
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from sandbox.captures.errors import CaptureError
from sandbox.captures.pcapng import PcapngReader
from sandbox.captures.source import Chunks
from sandbox.model import Segment

# Protocols Wireshark hands TLS plaintext to by ALPN (packet-tls-utils.c ssl_alpn_prefix_match /
# alpn table), in addition to the ``tls.port`` table and ``tls`` heuristics read from tshark.
ALPN_PROTOCOLS = ("http", "http2", "spdy", "stun", "xmpp", "imap", "pop", "ftp", "managesieve",
                  "coap", "dns", "mqtt", "sip", "grpc", "http3")
# Protocols that start TLS inside a plaintext connection (STARTTLS, STLS, AUTH TLS): they stay on.
STARTTLS_PROTOCOLS = ("smtp", "imap", "pop", "ftp")
# ...but an FTP data connection must reach TLS itself (PROT P): ftp-data would take its bytes.
ALSO_DISABLED = ("ftp-data",)
# tshark preferences: reassemble TCP so every record is decrypted exactly once, in stream order;
# hand each decrypted record on as it is (no application-level reassembly: one export per record);
# every TLS port's plaintext goes to ``data`` unless STARTTLS named its protocol.
PREFS = ("tcp.desegment_tcp_streams:TRUE", "tcp.reassemble_out_of_order:TRUE",
         "tls.desegment_ssl_records:TRUE", "tls.desegment_ssl_application_data:FALSE")
DECODE_AS = "tls.port==1-65535,data"
EXPORT_TAP = "OSI layer 7"
# Exported-PDU tags (wsutil/exported_pdu_tlvs.h), big-endian type and length before each value.
TAG = struct.Struct("!HH")
TAG_END, TAG_IPV4_SRC, TAG_IPV4_DST, TAG_IPV6_SRC, TAG_IPV6_DST = 0, 20, 21, 22, 23
TAG_SRC_PORT, TAG_DST_PORT, TAG_ORIG_FNO = 25, 26, 30
LINKTYPE_WIRESHARK_UPPER_PDU = 252
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
    """Protocols this tshark would hand TLS plaintext to, to disable (STARTTLS finders aside)."""
    exe = _tshark(tshark)
    protos = set(ALPN_PROTOCOLS)
    for flag, table, col in (("decodes", "tls.port", 2), ("heuristic-decodes", "tls", 1)):
        res = subprocess.run([exe, "-G", flag], capture_output=True, text=True, check=False)
        for line in res.stdout.splitlines():
            parts = line.split("\t")
            if len(parts) > col and parts[0] == table:
                protos.add(parts[col].strip())
    keep = {"tls", "data", "tcp", *STARTTLS_PROTOCOLS}
    return tuple(sorted(p for p in protos | set(ALSO_DISABLED) if p and p not in keep))


EXPORT = ("-U", EXPORT_TAP, "-w", "-")     # the decrypted records as a pcapng on stdout, written at the end


def command(capture: str | Path, keylog_file: str | Path | None, tshark: str = "tshark") -> list[str]:
    """The tshark command line (exposed so a report can say exactly what was run)."""
    cmd = [_tshark(tshark), "-n", "-r", str(capture), "-d", DECODE_AS, *EXPORT]
    for proto in handoff_protocols(tshark):   # one flag each: tshark 4.0 takes no list here
        cmd += ["--disable-protocol", proto]
    for pref in PREFS:
        cmd += ["-o", pref]
    if keylog_file is not None:
        cmd += ["-o", f"tls.keylog_file:{keylog_file}"]
    return cmd


def _address(raw: bytes) -> str:
    return ipaddress.ip_address(raw).compressed


def parse_pdu(data: bytes, t: float, channel: str = "net") -> Segment | None:
    """One exported PDU -> a plaintext Segment (None if it carries no TCP 4-tuple or no bytes)."""
    tags: dict[int, bytes] = {}
    pos = 0
    while pos + TAG.size <= len(data):
        tag, length = TAG.unpack_from(data, pos)
        pos += TAG.size
        if tag == TAG_END:
            break
        tags[tag] = data[pos:pos + length]
        pos += length
    src = tags.get(TAG_IPV4_SRC) or tags.get(TAG_IPV6_SRC)
    dst = tags.get(TAG_IPV4_DST) or tags.get(TAG_IPV6_DST)
    sport, dport, frame = tags.get(TAG_SRC_PORT), tags.get(TAG_DST_PORT), tags.get(TAG_ORIG_FNO)
    plain = data[pos:]
    if not (src and dst and sport and dport and frame and plain):
        return None
    return Segment(t=t, channel=channel, transport="tls", src=_address(src), sport=int.from_bytes(sport, "big"),
                   dst=_address(dst), dport=int.from_bytes(dport, "big"), data=plain,
                   frame=int.from_bytes(frame, "big"))


def _pdus(stream, channel: str, errors: list[str]) -> Iterator[Segment]:
    """Plaintext Segments from tshark's export stream (a pcapng of upper-layer PDUs).

    No output at all means tshark failed before writing: its exit code says why, not ``errors``.
    """
    chunks = Chunks(stream)
    if not chunks.need(16):
        return
    try:
        reader = PcapngReader(chunks)
    except CaptureError as exc:
        errors.append(f"tshark's export is not pcapng: {exc}")
        return
    for pkt in reader.packets():
        if pkt.linktype == LINKTYPE_WIRESHARK_UPPER_PDU:
            seg = parse_pdu(pkt.data, pkt.t, channel)
            if seg is not None:
                yield seg
    errors.extend(f"tshark's export is damaged: {e}" for e in reader.errors[:1])


def decrypt(capture: str | Path | Sequence[Path], keylog: str | Path | bytes | None = None, tshark: str = "tshark",
            channel: str = "net") -> Iterator[Segment]:
    """Plaintext Segments of every TLS connection tshark can decrypt, in capture order.

    ``capture``: a file, or pcapng files that are one capture cut in pieces (a ring buffer's): tshark
    reads their sections one after the other from a pipe, in one pass, so a TLS session whose
    handshake is in one file is decrypted in the next; frames are numbered on across the files.
    ``keylog`` is an NSS key log path, its bytes, or None (secrets embedded in a pcapng are used
    by tshark either way).  Raises ``TlsDecryptError`` when tshark is missing or fails.
    """
    files = [capture] if isinstance(capture, str | Path) else list(capture)
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
    cat: subprocess.Popen | None = None
    try:
        cmd = command(files[0] if len(files) == 1 else "-", keylog_file, tshark)
        if len(files) > 1:      # sections concatenated are one pcapng stream (pcapng spec, section 3.1)
            cat = subprocess.Popen(["cat", "--", *map(str, files)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        # stderr to a file, not a pipe: a chatty tshark must not block on a full pipe we do not read
        with tempfile.TemporaryFile() as errf, subprocess.Popen(
                cmd, stdin=cat.stdout if cat else subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errf,
                bufsize=1 << 20) as proc:
            assert proc.stdout is not None
            if cat is not None:
                cat.stdout.close()      # tshark holds the pipe now
            damage: list[str] = []
            yield from _pdus(proc.stdout, channel, damage)
            code = proc.wait()
            errf.seek(0)
            err = errf.read().decode("utf-8", "replace")
        if code != 0:
            msg = [ln for ln in err.splitlines() if "Running as user" not in ln]
            raise TlsDecryptError(f"tshark exited {code}: {' '.join(msg)[:500]}")
        if damage:
            raise TlsDecryptError(damage[0])
    finally:
        if cat is not None:
            cat.kill()
            cat.wait()
        if tmp is not None:
            os.unlink(tmp)


def interleave(segments: Iterable[Segment], plaintext: Iterable[Segment]) -> Iterator[Segment]:
    """Capture Segments and decrypted ones in one stream, each plaintext right after its frame.

    Both inputs are in frame order (a capture reader's and ``decrypt``'s output), so this is a
    lazy merge: the Dissector then sees the TLS handshake (SNI) before the plaintext it protects.
    Plaintext is named by its frame's TCP ports: a dissector between TCP and TLS may rename them
    (Wireshark's SOCKS, on port 1080, names the connection by the port the client asked the proxy
    for), and the Dissector knows the connection by the ports on the wire.
    """
    frame_seg: Segment | None = None
    for _, side, seg in heapq.merge(((s.frame, 0, s) for s in segments), ((s.frame, 1, s) for s in plaintext),
                                    key=lambda x: (x[0], x[1])):
        if side == 0:
            frame_seg = seg
        elif (frame_seg is not None and frame_seg.frame == seg.frame and frame_seg.transport == "tcp"
              and (frame_seg.src, frame_seg.dst) == (seg.src, seg.dst)
              and (frame_seg.sport, frame_seg.dport) != (seg.sport, seg.dport)):
            seg.sport, seg.dport = frame_seg.sport, frame_seg.dport
        yield seg

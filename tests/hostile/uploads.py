"""Captures of one plain HTTP upload, written byte-exact by the project's capture writer."""

from __future__ import annotations

import re
from pathlib import Path

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.replay import replay

ALLOWED = "192.0.2.9"  # the allowed LIMS the uploads go to


def http_upload(path: Path, body: bytes, target: bytes = b"/up", headers: bytes = b"") -> None:
    """A capture at ``path`` of ``body`` POSTed to ``target`` on the allowed LIMS (plain HTTP),
    with ``headers`` (CRLF-ended lines) besides Host and Content-Length."""
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 80), t0=1.0)
        c.send(b"POST %s HTTP/1.1\r\nHost: lims.lab.example\r\n%sContent-Length: %d\r\n\r\n%s"
               % (target, headers, len(body), body))
        c.close()


def sequence_leak(tmp: Path, run: Path, name: str, body: bytes, headers: bytes = b"") -> dict:
    """Replay an upload of ``body`` to the allowed LIMS against ``run``: the verdict is a leak, and its
    one sequence finding (returned) is high or critical."""
    capture = tmp / f"{name}.pcap"
    http_upload(capture, body, headers=headers)
    report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "leak", name
    (leak,) = [f for f in report["findings"] if f["kind"] == "sequence"]
    assert leak["severity"] in ("high", "critical"), name
    return leak


def novaseq_reads(tmp: Path, reads: int = 300) -> tuple[Path, bytes]:
    """A generated NovaSeq run of one sample (``reads`` reads) under ``tmp``, and its FASTQ text."""
    import gzip

    from sandbox.simulate.novaseq import make_novaseq_run

    run = make_novaseq_run(tmp / "runs", samples=1, reads_per_sample=reads)
    fastq = b"".join(gzip.decompress(f.read_bytes())
                     for f in sorted((run / "Data" / "Intensities" / "BaseCalls").glob("PT*.fastq.gz")))
    return run, fastq


CONTENT_KINDS = ("sequence", "run-bytes", "identifier")   # findings that say run content left


def upload_report(tmp: Path, run: Path, name: str, body: bytes) -> dict:
    """The report of a replay, against ``run``, of ``body`` uploaded to the allowed LIMS."""
    capture = tmp / f"{name.replace(' ', '-')}.pcap"
    http_upload(capture, body)
    return replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report


def written_report(tmp: Path, run: Path, name: str, write, allow: tuple[str, ...] = (ALLOWED,)) -> dict:
    """The report of a replay, against ``run``, of the capture ``write(path)`` writes (named after
    ``name``), with ``allow`` the allowed places."""
    capture = tmp / (re.sub(r"[^A-Za-z0-9.-]+", "-", name) + ".pcap")
    write(capture)
    return replay([capture], [run], allow=list(allow), cache_dir=tmp / "cache", jobs=1).report


def assert_content_leak(report: dict, name: str) -> None:
    """The verdict is a leak, with a high or critical finding of the run's reads or bytes."""
    assert report["verdict"] == "leak", name
    assert any(f["kind"] in ("sequence", "run-bytes") and f["severity"] in ("high", "critical")
               for f in report["findings"]), (name, report["findings"])


def assert_no_content(report: dict, name: object = None) -> None:
    """No finding says run content left (what a control upload of other bytes must give)."""
    assert not [f for f in report["findings"] if f["kind"] in CONTENT_KINDS], name


def run_and_reads(tmp_path_factory, name: str) -> tuple[Path, Path, bytes]:
    """A directory of the test module's own, a generated NovaSeq run in it and 40 kB of its reads."""
    tmp = tmp_path_factory.mktemp(name)
    run, fastq = novaseq_reads(tmp, 300)
    return tmp, run, fastq[:40000]


def unrelated_reads(seed: str, reads: int = 240) -> bytes:
    """FASTA of another genome's reads (``reads`` of 150 random bases, drawn from ``seed``): what a control
    upload carries in place of the run's (no quality lines, which the run's may share)."""
    import random

    rng = random.Random(seed)
    return b"".join(b">x%d\n%s\n" % (n, bytes(rng.choice(b"ACGT") for _ in range(150))) for n in range(reads))

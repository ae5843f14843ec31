"""A run folder's RunInfo.xml is the instrument's word: its read structure must not hide its reads.

A NovaSeq run folder whose reads are only in its CBCL files (the FASTQ removed, as on the instrument
before demultiplexing), its RunInfo.xml rewritten to call the 150 template cycles an "index read"
followed by a one-cycle template read.  The rig indexed the template reads the structure named (one
cycle: no k-mer), so an upload of the reads replayed clean.
"""

from __future__ import annotations

import gzip
import re

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.replay import replay
from sandbox.simulate.novaseq import make_novaseq_run

HOSTILE_READS = ('<Reads><Read Number="1" NumCycles="150" IsIndexedRead="Y" />'
                 '<Read Number="2" NumCycles="1" IsIndexedRead="N" />'
                 '<Read Number="3" NumCycles="8" IsIndexedRead="Y" /><Read Number="4" NumCycles="8" IsIndexedRead="Y" />'
                 '</Reads>')


def test_a_read_structure_that_would_hide_the_reads_hides_nothing(tmp_path):
    run = make_novaseq_run(tmp_path / "runs", samples=1, reads_per_sample=800)
    calls = run / "Data" / "Intensities" / "BaseCalls"
    sequences = b"\n".join(line for fastq in sorted(calls.glob("PT*.fastq.gz"))
                           for line in gzip.decompress(fastq.read_bytes()).splitlines()[1::4])
    for fastq in calls.glob("*.fastq.gz"):
        fastq.unlink()
    info = run / "RunInfo.xml"
    info.write_text(re.sub(r"<Reads>.*</Reads>", HOSTILE_READS, info.read_text(), flags=re.S))
    body = sequences[:60_000]
    pcap = tmp_path / "upload.pcap"
    with PcapWriter(pcap) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), ("192.0.2.9", 80), t0=1.0)
        c.send(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        c.close()
    report = replay([pcap], [run], cache_dir=tmp_path / "cache", jobs=1).report
    assert report["verdict"] == "leak"
    assert {"run-bytes", "sequence"} & {f["kind"] for f in report["findings"] if f["severity"] in ("high", "critical")}

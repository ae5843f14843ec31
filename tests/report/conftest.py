"""Findings and reports for the report writers' tests."""

from __future__ import annotations

from sandbox.model import FileMatch, Finding

RUNS = [{"run_id": "RUN", "path": "/runs/RUN", "samples": ["S1", "S2"]}]
CAPS = [{"path": "/caps/a.pcapng", "packets": 10, "bytes": 5000}]
BLIND = [{"where": "wifi.pcap", "what": "unknown link type 127", "packets": 40, "bytes": 6000}]


def finding(severity: str, kind: str = "run-bytes", channel: str = "net", destination: str = "upload.example",
            fid: str = "") -> Finding:
    return Finding(id=fid or f"{severity}-{kind}-{channel}", severity=severity, kind=kind, channel=channel,
                   flow=f"tcp 10.0.0.5:5000 > 203.0.113.9:80 {kind}", destination=destination, t_first=1.5,
                   t_last=3.0, bytes_out=4096, bytes_matched=2048, run_id="RUN", samples=["S1"],
                   files=[FileMatch("S1_R1.fastq.gz", 2048, 0.5)] if kind == "run-bytes" else [],
                   chain=["tcp", "http/1.1 POST /x", "gzip"])

"""Realistic stores for the dashboard tests, written through the real Store writer."""

from __future__ import annotations

import random
import time
from pathlib import Path

from sandbox.model import FileMatch, Finding, FlowInfo
from sandbox.store import Store

T0 = 1_705_312_800.0  # 2024-01-15 10:00:00 UTC, the (simulated) start of the acceptance run
RUN_ID = "240115_M00123_0042_000000000-ABCDE"
SAMPLES = ["NA12878-1", "HG002-2", "HG003-3", "HG004-4"]
CAPTURE = "captures/acceptance-run42.pcapng"
FASTQ = "Data/Intensities/BaseCalls/{s}_S{i}_L001_R1_001.fastq.gz"


def new_store(path: Path) -> Store:
    store = Store(path)
    # A live watch session begun 12.5 minutes ago, replaying traffic stamped with the capture's times.
    store.set_session(mode="watch", started=time.time() - 754, runs=[RUN_ID], captures=[CAPTURE], finished=None)
    store.add_run(RUN_ID, f"/runs/{RUN_ID}", "illumina", SAMPLES, 148, 812_000_000)
    store.put_capture(CAPTURE, "net", 18_422, 24_117_004, 0, [])
    store.put_capture("captures/usbmon1.pcapng", "usb", 1_204, 3_300_112, 2, [])
    return store


def upload_flow(i: int, dest: str = "telemetry.vendor-cloud.example", allowed: bool = False) -> FlowInfo:
    return FlowInfo(
        flow=f"tcp 10.0.0.2:{51000 + i} > 203.0.113.{10 + i % 200}:443", channel="net", transport="tcp",
        src="10.0.0.2", sport=51000 + i, dst=f"203.0.113.{10 + i % 200}", dport=443, app="http/1.1",
        destination=dest, t_first=T0 + i, t_last=T0 + i + 4.5, packets=410, bytes_out=524_288, bytes_in=9_120,
        encrypted=True, decrypted=True,
        meta={"sni": dest, "method": "POST", "path": "/api/v2/upload", "capture": CAPTURE, "frame": 1200 + i})


def leak_finding(i: int, severity: str = "critical", kind: str = "run-bytes", channel: str = "net",
                 dest: str = "telemetry.vendor-cloud.example", flow: str | None = None) -> Finding:
    sample = SAMPLES[i % len(SAMPLES)]
    return Finding(
        id=f"F{i:05d}", severity=severity, kind=kind, channel=channel,
        flow=flow or upload_flow(i).flow, destination=dest, t_first=T0 + i, t_last=T0 + i + 4.0,
        bytes_out=524_288, bytes_matched=262_144, run_id=RUN_ID, samples=[sample],
        files=[FileMatch(FASTQ.format(s=sample, i=1 + i % 4), 262_144, 0.62),
               FileMatch("SampleSheet.csv", 1_024, 1.0)],
        chain=["tcp", "tls", "http/1.1 POST /api/v2/upload", "multipart:file=reads.bin", "gzip"],
        identifiers=[sample, RUN_ID, "M00123"],
        evidence=[{"kind": "fingerprint", "direction": "out", "stream_offset": 4096, "length": 262_144,
                   "file": FASTQ.format(s=sample, i=1 + i % 4), "file_offset": 0, "capture": CAPTURE,
                   "frame": 1200 + i, "preview_hex": b"@M00123:42:000000000-ABCDE:1:1101:15589:1333 1:N:0:1\nGAT".hex()}],
    )


def populate_small(store: Store) -> None:
    """A bench session with a leak over TLS, an identifier in DNS, a USB stick and a serial console."""
    flows = [upload_flow(1), upload_flow(2, "lims.lab.example", allowed=True)]
    usb = FlowInfo(flow="usb 1.4 ep2", channel="usb", transport="usb", src="host", sport=0, dst="1.4", dport=2,
                   app="usb-mass-storage", destination="1.4", t_first=T0 + 30, t_last=T0 + 42, packets=812,
                   bytes_out=3_145_728, bytes_in=4_096,
                   meta={"vid": 0x0781, "pid": 0x5583, "usb_class": "mass-storage", "product": "SanDisk Ultra Fit"})
    serial = FlowInfo(flow="serial /dev/ttyUSB0", channel="serial", transport="serial", src="instrument", sport=0,
                      dst="/dev/ttyUSB0", dport=0, app="raw", destination="/dev/ttyUSB0", t_first=T0 + 5,
                      t_last=T0 + 55, packets=96, bytes_out=18_230, bytes_in=1_204, meta={"baud": 115200})
    store.put_flows([*flows, usb, serial], allowed={flows[1].flow: True})
    store.put_findings([
        leak_finding(1),
        leak_finding(3, severity="medium", kind="identifier", dest="dns.tunnel.example"),
        leak_finding(4, severity="high", kind="run-bytes", channel="usb", dest="1.4", flow="usb 1.4 ep2"),
        leak_finding(5, severity="low", kind="destination", dest="ntp.vendor.example"),
    ])
    store.add_traffic([(T0 + s, "net", "telemetry.vendor-cloud.example", 40_000 + 900 * (s % 7)) for s in range(60)]
                      + [(T0 + s, "net", "lims.lab.example", 2_000) for s in range(0, 60, 5)]
                      + [(T0 + s, "usb", "1.4", 260_000) for s in range(30, 42)])


def populate_big(store: Store, flows: int = 100_000, findings: int = 10_000, seed: int = 7) -> None:
    """100k flows, 10k findings, an hour of traffic over 40 destinations, via executemany."""
    rnd = random.Random(seed)
    dests = [f"host{d}.cdn{d % 5}.example" for d in range(40)]
    severities = ["info", "low", "medium", "high", "critical"]
    store.put_flows(
        FlowInfo(flow=f"tcp 10.0.{i // 60000}.2:{1024 + i % 60000} > 198.51.100.{i % 250}:443", channel="net",
                 transport="tcp", src="10.0.0.2", sport=1024 + i % 60000, dst=f"198.51.100.{i % 250}", dport=443,
                 app="tls", destination=dests[i % 40], t_first=T0 + i * 0.036, t_last=T0 + i * 0.036 + 2,
                 packets=12, bytes_out=rnd.randrange(200, 50_000), bytes_in=800, encrypted=True,
                 meta={"sni": dests[i % 40]})
        for i in range(flows))
    store.put_findings(
        leak_finding(i, severity=severities[rnd.randrange(5)], kind=rnd.choice(["run-bytes", "sequence",
                     "identifier", "opaque-volume", "destination"]), channel=rnd.choice(["net", "net", "usb", "serial"]),
                     dest=dests[i % 40])
        for i in range(findings))
    store.add_traffic((T0 + s, "net", dests[d], rnd.randrange(100, 90_000)) for s in range(3600) for d in range(0, 40, 2))

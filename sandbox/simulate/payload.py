"""What one leg of a scenario sends: its body bytes, built from the run folder, and whose data it is.

The offline renderer (``sandbox.simulate.render``) and the live instrument (``hw.demo.instrument``)
both take their bodies from here, so a recording made either way carries the same bytes.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from . import wire
from .dna import gzip_bytes, revcomp
from .scenario import Leg, ScenarioError

ILLUMINA_CALLS = Path("Data") / "Intensities" / "BaseCalls"
BOUNDARY = "----InstrumentUpload7MA4YWxkTrZu0gW"   # fixed: the same leg gives the same bytes
# Log lines a diagnostics bundle carries beside the run data (what a vendor support tool sweeps up).
BUNDLE_LOG = b"".join(b"11/23/2025 10:%02d:00.000 RTA: cycle %d complete\r\n" % (c % 60, c) for c in range(1, 121))


@dataclass(frozen=True)
class RunData:
    """A simulated run folder as a scenario names it: samples in sheet order, each with its read file."""

    path: Path
    samples: tuple[str, ...]
    read_files: tuple[Path, ...]

    def rel(self, path: Path) -> str:
        return path.relative_to(self.path).as_posix()

    def reads(self, sample: int, n: int) -> list[bytes]:
        """The first ``n`` read sequences of sample ``sample`` (1-based)."""
        text = gzip.decompress(self.read_files[sample - 1].read_bytes())
        return text.split(b"\n")[1::4][:n]

    def variant_calls(self, sample: int, n: int) -> list[dict]:
        """The first ``n`` variant calls of sample ``sample`` (1-based) from its VCF, as records."""
        name = self.samples[sample - 1]
        found = sorted((self.path / ILLUMINA_CALLS / "Alignment").glob(f"{name}_S*.vcf"))
        if not found:
            raise ScenarioError(f"{self.path.name}: sample {name} has no VCF (give the run variants)")
        calls = []
        for line in found[0].read_text().splitlines():
            if line.startswith("#"):
                continue
            chrom, pos, _, ref, alt, *_, genotype = line.split("\t")
            calls.append({"chrom": chrom, "pos": int(pos), "ref": ref, "alt": alt, "genotype": genotype})
            if len(calls) == n:
                break
        return calls


def run_data(run_dir: Path) -> RunData:
    """Samples and their read files of a run folder the simulator made (Illumina or nanopore)."""
    run_dir = Path(run_dir)
    calls = run_dir / ILLUMINA_CALLS
    if calls.is_dir():
        from .runfolder import sample_fastqs

        found = sample_fastqs(run_dir)
        return RunData(run_dir, tuple(found), tuple(found.values()))
    sheets = sorted(run_dir.glob("sample_sheet_*.csv"))
    if sheets:
        rows = [line.split(",") for line in sheets[0].read_text().splitlines()[1:] if line]
        files = [next((run_dir / "fastq_pass" / row[4]).glob("*.fastq.gz")) for row in rows]
        return RunData(run_dir, tuple(row[5] for row in rows), tuple(files))
    raise ScenarioError(f"{run_dir}: not a run folder the simulator made (no BaseCalls, no sample sheet)")


@dataclass(frozen=True)
class Payload:
    """What one message of a leg carries and, for the truth, whose data that is."""

    method: str
    body: bytes
    content_type: str
    sample: str = ""        # Sample_ID whose data it carries (none when it is sealed: nothing can name it)
    file: str = ""          # run-relative path of the file it carries a share of (likewise)


def payload(leg: Leg, run: RunData, repeat: int = 0) -> Payload:
    """The body of ``leg`` (its ``repeat``-th message for ordinary content)."""
    if leg.data is None:
        return _content(leg, repeat)
    spec = leg.data
    sample, file = "", ""
    if spec.sample:
        sample = run.samples[spec.sample - 1]
    if spec.reads:
        data = b"".join(r + b"\n" for r in run.reads(spec.sample, spec.reads))
        ctype, name = "text/plain", f"{sample}.reads.txt"
    elif spec.variants:       # a results upload: the calls re-written, no byte of the VCF's
        data = wire.json_bytes({"sample": sample, "calls": run.variant_calls(spec.sample, spec.variants)})
        ctype, name = "application/json", f"{sample}.calls.json"
    else:
        path = run.read_files[spec.sample - 1] if spec.sample else run.path / spec.file
        if not path.is_file():
            raise ScenarioError(f"leg {leg.name}: {spec.file} is not a file of run {run.path.name}")
        whole = path.read_bytes()
        data = whole[: max(1, int(len(whole) * spec.share))]
        file, name = run.rel(path), path.name
        ctype = "application/octet-stream"
    for form in leg.form:
        data, ctype, name = _apply(form, data, ctype, name, leg)
    if "encrypt" in leg.form:        # sealed: no report can say whose data it is, only that it is unreadable
        sample = file = ""
    return Payload(leg.method, data, ctype, sample, file)


def _apply(form: str, data: bytes, ctype: str, name: str, leg: Leg) -> tuple[bytes, str, str]:
    if form == "gunzip":      # a share may end inside the stream: what inflates so far
        try:
            return zlib.decompressobj(31).decompress(data), "text/plain", name.removesuffix(".gz")
        except zlib.error:
            raise ScenarioError(f"leg {leg.name}: gunzip of data that is not gzip") from None
    if form == "gzip":
        return gzip_bytes(data), "application/gzip", name + ".gz"
    if form == "base64":
        return base64.b64encode(data), "text/plain", name + ".b64"
    if form == "hex":
        return data.hex().encode(), "text/plain", name + ".hex"
    if form == "revcomp":
        lines = [revcomp(line) if line and not line.strip(b"ACGTN") else line for line in data.split(b"\n")]
        return b"\n".join(lines), ctype, name
    if form == "json":
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise ScenarioError(f"leg {leg.name}: json carries text: put base64 or gunzip before it") from None
        body = {"event": "run_data", "instrument_model": "sequencer", "name": name, "data": text}
        return wire.json_bytes(body), "application/json", name + ".json"
    if form == "tar.gz":
        bundle = wire.tar_gz([("logs/RTALog_001.txt", BUNDLE_LOG),
                              ("config/Override.cfg", b"<Override><EnableSupportUpload>true</EnableSupportUpload></Override>\r\n"),
                              (f"run/{name}", data)])
        return bundle, "application/gzip", "diag_bundle_20251123.tar.gz"
    if form == "encrypt":     # a key the rig does not have (fixed per leg: the same leg gives the same bytes)
        key = hashlib.sha256(b"sealed by the instrument: " + leg.name.encode()).digest()
        sealed = Cipher(algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor().update(data)
        return sealed, "application/octet-stream", name + ".enc"
    if form == "multipart":
        body, mtype = wire.multipart([("ticket", "", b"CS-20931", None), ("bundle", name, data, ctype)], BOUNDARY)
        return body, mtype, name
    raise AssertionError(form)


def _content(leg: Leg, n: int) -> Payload:
    """Ordinary traffic: no identifier, no run data (the rig must not call it a leak)."""
    if leg.content == "lims-status":
        status = {"state": "Running", "heartbeat": n, "cycle": 12 + 40 * n, "of_cycles": 167,
                  "flowcell_temp_c": 34.9, "chiller_temp_c": 5.1, "fluidics": "ok", "disk_free_gb": 611}
        return Payload(leg.method, wire.json_bytes(status), "application/json")
    if leg.content == "telemetry":
        metrics = {"uptime_s": 86400 + 60 * n, "cpu_load": 0.42, "fan_rpm": [2100, 2080], "laser_hours": 1234.5,
                   "software": "4.1.2", "events": ["door_closed", "reagent_chilled"]}
        return Payload(leg.method, json.dumps(metrics).encode(), "application/json")
    if leg.content == "update-check":
        return Payload("GET", b"", "")
    raise AssertionError(leg.content)


def update_manifest() -> bytes:
    """What an update server answers an update check with (inbound, clean)."""
    return wire.json_bytes({"latest": "4.1.3", "url": "/pkg/MCS_Update_4.1.3.pkg", "sha256": "0" * 64})


# Data bytes per DNS query: 38 bytes are 76 hex characters, two labels (RFC 1035: 63 at most), so a
# name stays well under 255 octets under any zone a scenario names.
DNS_BYTES_PER_QUERY = 38
DNS_LABEL = 60


def dns_names(body: bytes, zone: str) -> list[str]:
    """The query names a DNS tunnel sends ``body`` in: hex labels, a sequence label, the zone."""
    names = []
    for n, off in enumerate(range(0, len(body), DNS_BYTES_PER_QUERY)):
        hexed = body[off:off + DNS_BYTES_PER_QUERY].hex()
        labels = [hexed[i:i + DNS_LABEL] for i in range(0, len(hexed), DNS_LABEL)]
        names.append(".".join([*labels, f"q{n}", zone]))
    return names


def split(body: bytes, parts: int) -> list[bytes]:
    """``body`` in ``parts`` pieces of near-equal size (S3 parts, WebSocket messages)."""
    size = max(1, -(-len(body) // parts))
    return [body[i:i + size] for i in range(0, len(body), size)] or [b""]


def serial_destination(leg: Leg, host_port: str) -> str:
    """The name the rig gives a serial leg's destination: the host's port, or for a dial-up the name
    its request gives (the network the link carries has its own destinations)."""
    return leg.host if leg.protocol == "ppp" else f"serial {host_port}"


def net_destination(leg: Leg, address: str | None = None) -> str:
    """The name the rig gives a network leg's destination: its host (HTTP Host, TLS SNI, a proxy's
    CONNECT), a DNS tunnel's zone; raw TCP straight to ``address`` (no proxy) names nothing but that."""
    if leg.via == "tcp" and address is not None:
        return address
    if leg.via != "dns":
        return leg.host
    from sandbox.protocols.dns import split_zone

    return b".".join(split_zone(leg.host.encode().split(b"."))[1]).decode()

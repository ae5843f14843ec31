"""Scenario files: what a simulated instrument sends, how, and what a correct report says about it.

    name = "demo"
    summary = "A MiSeq whose support tool leaks ..."
    [run]                                   # the run folder the instrument produced
    platform = "miseq"                      # miseq | novaseq | nanopore
    samples = 3
    reads = 500                             # per sample (per barcode on nanopore)
    seed = 0
    variants = 120                          # variant calls per sample, a VCF each (Illumina; default none)
    [bench]
    allow = ["lims.lab.example"]            # where the instrument may talk (the rig's allow-list)
    [[leg]]                                 # one conversation, in order
    name = "diagnostics-bundle"
    via = "https"                           # see VIAS
    host = "support.vendor.example"
    data = { sample = 1, share = 0.45 }     # or { sample = 2, reads = 3 }, { sample = 1, variants = 40 },
                                            # { file = "SampleSheet.csv" }
    form = ["tar.gz", "multipart"]          # see FORMS, applied in order
    expect = ["run-bytes"]                  # the truth: finding kinds a correct report holds for this leg,
    least = "high"                          # each at least this severe,
    worst = "critical"                      # none more severe than this

A leg without ``data`` sends ordinary traffic named by ``content`` (see CONTENTS); by default it
must give nothing above ``low`` (an unlisted destination) or ``info`` (an allow-listed one).
Loading is strict: an unknown key, via, form or severity is a ``ScenarioError`` naming the file
and the leg, so a typo never silently becomes "expect nothing".
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.model import SEVERITIES

PLATFORMS = ("miseq", "novaseq", "nanopore")
# How a leg leaves the instrument; the first group goes through the network tap.
NET_VIAS = ("https", "http", "s3", "websocket", "grpc", "dns", "tcp")
VIAS = (*NET_VIAS, "serial", "usb-storage", "usb-serial")
# Ordinary traffic of an instrument (no run data): LIMS status posts, vendor telemetry, update checks.
CONTENTS = ("lims-status", "telemetry", "update-check")
# Body transforms, applied in the order given (see ``sandbox.simulate.payload``).
FORMS = ("gunzip", "gzip", "base64", "hex", "revcomp", "json", "tar.gz", "encrypt", "multipart")
SERIAL_PROTOCOLS = ("text", "xmodem", "ppp")
# Hosts are written as DNS names (RFC 1035 letters, digits, hyphens, dots): they become URLs,
# SNI, /etc/hosts lines and the rig's allow-list.
HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")
# Bounds that keep a scenario a bench demo: a run folder that builds in seconds, a leg that plays
# in seconds (a scenario is a file anyone can hand the rig).
MAX_SAMPLES, MAX_READS, MAX_LEGS, MAX_REPEAT, MAX_VARIANTS = 24, 20_000, 64, 100, 10_000
DEFAULT_PORTS = {"https": 443, "http": 80, "s3": 443, "websocket": 443, "grpc": 443, "dns": 53, "tcp": 9000}


class ScenarioError(ValueError):
    """A scenario file that cannot be played: one line saying where and why."""


@dataclass(frozen=True)
class RunSpec:
    platform: str = "miseq"
    samples: int = 3
    reads: int = 500
    seed: int = 0
    variants: int = 0        # variant calls per sample, a VCF each (Illumina platforms)


@dataclass(frozen=True)
class DataSpec:
    """Which run data a leg carries: a sample's read file (a share of its bytes, or its first reads)
    or a run file by its run-relative path."""

    sample: int = 0          # 1-based sample number in sheet order (0: none)
    file: str = ""           # run-relative path
    share: float = 1.0       # leading share of the file's bytes
    reads: int = 0           # first N reads' sequences, one a line (instead of bytes)
    variants: int = 0        # first N of the sample's variant calls, re-written as JSON records


@dataclass(frozen=True)
class Leg:
    name: str
    via: str
    host: str = ""
    port: int = 0
    path: str = "/"
    method: str = "POST"
    data: DataSpec | None = None
    content: str = ""
    form: tuple[str, ...] = ()
    repeat: int = 1
    protocol: str = "text"   # serial: text | xmodem | ppp (a modem dialling out: an HTTP request to host)
    filename: str = ""       # usb-storage: the name on the stick; serial xmodem: the name sx is given
    expect: tuple[str, ...] = ()
    least: str = "info"
    worst: str = "low"

    @property
    def channel(self) -> str:
        return "net" if self.via in NET_VIAS else "serial" if self.via == "serial" else "usb"

    @property
    def target_port(self) -> int:
        return self.port or DEFAULT_PORTS.get(self.via, 0)


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    run: RunSpec
    allow: tuple[str, ...]
    legs: tuple[Leg, ...]
    path: Path | None = None

    @property
    def hosts(self) -> list[str]:
        """Every network name the instrument talks to, in order of first use."""
        return list(dict.fromkeys(leg.host for leg in self.legs if leg.channel == "net" and leg.via != "dns"))

    @property
    def vias(self) -> set[str]:
        return {leg.via for leg in self.legs}


@dataclass
class _Reader:
    """Takes keys out of one TOML table, so whatever is left over is an unknown key."""

    where: str
    table: dict
    used: set[str] = field(default_factory=set)

    def get(self, key: str, kind: type | tuple[type, ...], default=None):
        self.used.add(key)
        value = self.table.get(key, default)
        if value is not default and not isinstance(value, kind) or isinstance(value, bool) and kind is int:
            raise ScenarioError(f"{self.where}: {key} must be {_kind_name(kind)}")
        return value

    def done(self) -> None:
        extra = sorted(set(self.table) - self.used)
        if extra:
            raise ScenarioError(f"{self.where}: unknown key {extra[0]!r}")


def _kind_name(kind) -> str:
    names = {str: "a string", int: "a whole number", float: "a number", list: "a list", dict: "a table"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def load_scenario(path: Path) -> Scenario:
    """Read and check a scenario file; ``ScenarioError`` says what is wrong, in one line."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: not a TOML file: {exc}") from None
    return parse_scenario(raw, str(path), path)


def parse_scenario(raw: dict, where: str = "scenario", path: Path | None = None) -> Scenario:
    top = _Reader(where, raw)
    name = top.get("name", str, path.stem if path else "scenario")
    summary = top.get("summary", str, "")
    run = _run(_Reader(f"{where} [run]", top.get("run", dict, {})))
    bench = _Reader(f"{where} [bench]", top.get("bench", dict, {}))
    allow = bench.get("allow", list, [])
    bench.done()
    if not all(isinstance(a, str) and a for a in allow):
        raise ScenarioError(f"{where} [bench]: allow must be a list of host names or addresses")
    legs_raw = top.get("leg", list, [])
    top.done()
    if not legs_raw:
        raise ScenarioError(f"{where}: no [[leg]]: a scenario plays at least one conversation")
    if len(legs_raw) > MAX_LEGS:
        raise ScenarioError(f"{where}: {len(legs_raw)} legs, at most {MAX_LEGS}")
    legs = tuple(_leg(_Reader(f"{where} leg {i + 1}", item if isinstance(item, dict) else {}), run)
                 for i, item in enumerate(legs_raw))
    names = [leg.name for leg in legs]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise ScenarioError(f"{where}: two legs are named {dup!r}")
    return Scenario(name, summary, run, tuple(allow), legs, path)


def _run(r: _Reader) -> RunSpec:
    spec = RunSpec(platform=r.get("platform", str, "miseq"), samples=r.get("samples", int, 3),
                   reads=r.get("reads", int, 500), seed=r.get("seed", int, 0), variants=r.get("variants", int, 0))
    r.done()
    if not 0 <= spec.variants <= MAX_VARIANTS or spec.variants and spec.platform == "nanopore":
        raise ScenarioError(f"{r.where}: variants 0..{MAX_VARIANTS} per sample, on an Illumina platform")
    if spec.platform not in PLATFORMS:
        raise ScenarioError(f"{r.where}: platform {spec.platform!r} is not one of {', '.join(PLATFORMS)}")
    if not 1 <= spec.samples <= MAX_SAMPLES or not 1 <= spec.reads <= MAX_READS or spec.seed < 0:
        raise ScenarioError(f"{r.where}: samples 1..{MAX_SAMPLES}, reads 1..{MAX_READS}, seed >= 0")
    return spec


def _leg(r: _Reader, run: RunSpec) -> Leg:
    name = r.get("name", str, "")
    if not name:
        raise ScenarioError(f"{r.where}: every leg needs a name")
    r.where = f"{r.where} ({name})"
    via = r.get("via", str, "")
    if via not in VIAS:
        raise ScenarioError(f"{r.where}: via {via!r} is not one of {', '.join(VIAS)}")
    data_raw = r.get("data", dict, None)
    data = _data(_Reader(f"{r.where} data", data_raw), run) if data_raw is not None else None
    content = r.get("content", str, "")
    if (data is None) == (not content):
        raise ScenarioError(f"{r.where}: give either data (run data it carries) or content ({', '.join(CONTENTS)})")
    if content and content not in CONTENTS:
        raise ScenarioError(f"{r.where}: content {content!r} is not one of {', '.join(CONTENTS)}")
    form = tuple(r.get("form", list, []))
    bad = next((f for f in form if f not in FORMS), None)
    if bad is not None:
        raise ScenarioError(f"{r.where}: form {bad!r} is not one of {', '.join(FORMS)}")
    host = r.get("host", str, "").lower()
    if via in NET_VIAS and (not host or not set(host) <= HOST_CHARS or "." not in host):
        raise ScenarioError(f"{r.where}: via {via} needs host, a DNS name such as vendor.example")
    port = r.get("port", int, 0)
    if not 0 <= port <= 65535:
        raise ScenarioError(f"{r.where}: port must be 1..65535")
    expect = tuple(r.get("expect", list, []))
    least = r.get("least", str, "medium" if expect else "info")
    worst = r.get("worst", str, "critical" if expect else "low")
    for sev in (least, worst):
        if sev not in SEVERITIES:
            raise ScenarioError(f"{r.where}: severity {sev!r} is not one of {', '.join(SEVERITIES)}")
    if SEVERITIES.index(least) > SEVERITIES.index(worst):
        raise ScenarioError(f"{r.where}: least {least} is above worst {worst}")
    if data is None and expect:
        raise ScenarioError(f"{r.where}: a leg without data cannot expect findings")
    repeat = r.get("repeat", int, 1)
    if not 1 <= repeat <= MAX_REPEAT:
        raise ScenarioError(f"{r.where}: repeat 1..{MAX_REPEAT}")
    protocol = r.get("protocol", str, "text")
    if protocol not in SERIAL_PROTOCOLS or protocol != "text" and via != "serial":
        raise ScenarioError(f"{r.where}: protocol is for via serial: {', '.join(SERIAL_PROTOCOLS)}")
    if protocol == "ppp" and (not host or not set(host) <= HOST_CHARS or "." not in host):
        raise ScenarioError(f"{r.where}: protocol ppp needs host, the DNS name its request names")
    filename = r.get("filename", str, "")
    if filename and (not filename.isprintable() or "/" in filename or filename in (".", "..") or len(filename) > 200):
        raise ScenarioError(f"{r.where}: filename must be a plain file name")
    leg = Leg(name=name, via=via, host=host, port=port, path=r.get("path", str, "/"),
              method=r.get("method", str, "POST").upper(), data=data, content=content, form=form, repeat=repeat,
              protocol=protocol, filename=filename, expect=expect, least=least, worst=worst)
    r.done()
    if not leg.path.startswith("/") or not leg.path.isprintable():
        raise ScenarioError(f"{r.where}: path must start with /")
    if leg.method not in ("POST", "PUT", "GET"):
        raise ScenarioError(f"{r.where}: method POST, PUT or GET")
    return leg


def _data(r: _Reader, run: RunSpec) -> DataSpec:
    share = r.get("share", (int, float), 1.0)
    spec = DataSpec(sample=r.get("sample", int, 0), file=r.get("file", str, ""), share=float(share),
                    reads=r.get("reads", int, 0), variants=r.get("variants", int, 0))
    r.done()
    if bool(spec.sample) == bool(spec.file):
        raise ScenarioError(f"{r.where}: name either sample (1..{run.samples}) or file (run-relative path)")
    if spec.sample and not 1 <= spec.sample <= run.samples:
        raise ScenarioError(f"{r.where}: sample {spec.sample} is not in 1..{run.samples}")
    if spec.file and (spec.file.startswith("/") or ".." in Path(spec.file).parts):
        raise ScenarioError(f"{r.where}: file must be a path inside the run folder")
    if not 0.0 < spec.share <= 1.0:
        raise ScenarioError(f"{r.where}: share must be in (0, 1]")
    if spec.reads < 0 or spec.reads and spec.file:
        raise ScenarioError(f"{r.where}: reads counts a sample's reads (1 or more)")
    if spec.variants < 0 or spec.variants and (spec.file or spec.reads or spec.variants > run.variants):
        raise ScenarioError(f"{r.where}: variants counts a sample's variant calls (1 to the run's {run.variants})")
    return spec

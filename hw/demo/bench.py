"""A live demo bench: the cloud, the serial cables and the recordings the rig needs around a scenario.

Without root (the default) everything is on loopback: the cloud's servers listen on one loopback
address of this demo's own, the rig is a regular proxy the instrument is told to use (mitmproxy
connects to the cloud for the scenario's host names: ``NetTap(resolve=...)``), a DNS tunnel goes to
the cloud's resolver and is recorded by a dumpcap of its own (a regular proxy never sees DNS).
Serial legs cross a real bridge between socat PTY pairs; USB legs are written by the instrument
as the usbmon recording the USB tap would make, and the session follows it.

With ``netns`` (root) the bench is three network namespaces, instrument - rig - cloud, as on a real
bench: the rig redirects the instrument's TCP to mitmproxy (transparent mode) and records its
interface whole, DNS included; names resolve inside the instrument's namespace only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from hw.demo.pki import Pki, make_pki
from hw.follow import FollowTap
from hw.net.dumpcap import Dumpcap
from hw.net.procs import spawn, stop
from hw.tap import ProcessWatch, Tap, TapError
from sandbox.model import NotExamined
from sandbox.session import CaptureSource, Source
from sandbox.simulate.payload import net_destination, payload, run_data, serial_destination
from sandbox.simulate.render import USB_FILE, usb_devices
from sandbox.simulate.scenario import Scenario
from sandbox.simulate.truth import LegTruth
from sandbox.simulate.usblegs import usb_destination

REPO = Path(__file__).resolve().parents[2]
TRANSPARENT_PORT = 8080  # mitmproxy in the rig's own namespace: nothing else listens there
CLOUD_START_S = 60.0     # moto, grpcio and websockets import in a few seconds on a loaded 2-core box
CABLE_START_S = 15.0     # socat makes its two PTYs in milliseconds
DNS_FILE = "dns.pcapng"
SERIAL_SETTINGS = "115200,8N1"
# How late a recorder may put a packet on disk: the rig's default (0.3 s) assumes a machine with time
# to spare; the demo runs its cloud, its instrument and the rig on one busy box, where dumpcap was seen
# writing a DNS query later than that (a query read after the clock passed it splits the tunnel's
# batch, and live would differ from the replay).  Findings still land within about a second and a half.
DEMO_WRITER_DELAY_S = 1.2
VIA_SERVICE = {"https": "web", "http": "http", "s3": "web", "websocket": "ws", "grpc": "grpc", "tcp": "tcp",
               "dns": "dns"}


def demo_address() -> str:
    """A loopback address of this demo's own (127.82.0.0/16), so its recordings' filters catch nobody else."""
    pid = os.getpid()
    return f"127.82.{pid % 250 + 1}.{pid // 250 % 250 + 1}"


class DnsTap:
    """The bench resolver's traffic, recorded by a dumpcap of its own (a regular proxy sees no DNS)."""

    name = "dns"

    def __init__(self, address: str, port: int, writer_delay: float = DEMO_WRITER_DELAY_S) -> None:
        self.address, self.port, self.writer_delay = address, port, writer_delay
        self.dumpcap: Dumpcap | None = None
        self.watch = ProcessWatch("net: the bench resolver's recording")

    def start(self, session_dir: Path) -> list[Source]:
        path = Path(session_dir) / DNS_FILE
        self.dumpcap = Dumpcap("lo", path, f"udp and host {self.address} and port {self.port}")
        self.dumpcap.start()
        self.watch.add("dumpcap", self.dumpcap.proc, "the instrument's DNS was neither recorded nor examined")
        return [CaptureSource(path, follow=True, channel="net", writer_delay=self.writer_delay)]

    def failures(self) -> list[NotExamined]:
        return self.watch.check()

    def stop(self) -> None:
        self.watch.stop()
        if self.dumpcap is not None:
            self.dumpcap.stop()


@dataclass
class Cable:
    """Two PTYs joined by socat: what one end writes, the other reads."""

    a: Path
    b: Path
    proc: subprocess.Popen | None = None

    def plug(self) -> None:
        if shutil.which("socat") is None:
            raise TapError("socat is missing (Debian: apt-get install socat): the demo's serial line needs it")
        self.proc = spawn(["socat", f"pty,rawer,link={self.a}", f"pty,rawer,link={self.b}"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + CABLE_START_S
        while not (self.a.exists() and self.b.exists()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise TapError(f"socat did not make {self.a} and {self.b}")
            time.sleep(0.01)

    def unplug(self) -> None:
        stop(self.proc)


@dataclass
class Bench:
    """Everything around the rig for one scenario; ``close`` undoes it all."""

    scenario: Scenario
    session_dir: Path
    run_dir: Path
    ca_dir: Path
    netns: str | None = None
    address: str = field(default_factory=demo_address)
    runtime: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sbx-demo-")))
    ports: dict[str, int] = field(default_factory=dict)
    cables: list[Cable] = field(default_factory=list)
    cloud: subprocess.Popen | None = None
    pki: Pki | None = None
    namespaces: object | None = None
    resolver: str = ""           # the resolver's address when it is not ``address`` (namespaces)

    @property
    def serial_ends(self) -> dict[str, Path]:
        r = self.runtime
        return {"instrument": r / "instrument-ttyUSB0", "rig_instrument": r / "rig-ttyUSB0",
                "rig_host": r / "rig-ttyS0", "host": r / "host-ttyS0"}

    def services(self) -> list[str]:
        """The cloud's services the legs use; and, on the namespaces bench, the resolver the instrument
        looks the scenario's names up with (its answers vouch for their addresses to the allow-list)."""
        needed = {VIA_SERVICE[leg.via] for leg in self.scenario.legs if leg.via in VIA_SERVICE}
        return sorted(needed | ({"dns"} if self.netns else set()))

    # -- start -----------------------------------------------------------------------------------
    def start(self) -> None:
        """The cloud's certificates and servers, the serial cables; TapError when one cannot start."""
        try:
            if self.netns:
                from hw.demo.namespaces import Namespaces

                self.namespaces = Namespaces(self.netns)
                self.namespaces.create()
                self.address = self.namespaces.cloud_ip
                self.resolver = self.namespaces.resolver_ip
            self.pki = make_pki(self.runtime / "pki", [*self.scenario.hosts, self.address])
            self._start_cloud()
            if any(leg.via == "serial" for leg in self.scenario.legs):
                ends = self.serial_ends
                for a, b in ((ends["instrument"], ends["rig_instrument"]), (ends["rig_host"], ends["host"])):
                    cable = Cable(a, b)
                    self.cables.append(cable)
                    cable.plug()
        except BaseException:
            self.close()
            raise

    def _start_cloud(self) -> None:
        services = self.services()
        if not services:
            return
        s3_hosts = sorted({leg.host for leg in self.scenario.legs if leg.via == "s3"})
        cmd = [sys.executable, "-m", "hw.demo.cloud", "--pki", str(self.runtime / "pki"), "--bind",
               self.address, "--services", ",".join(services), "--log", str(self.session_dir / "cloud.jsonl")]
        cmd += [arg for host in s3_hosts for arg in ("--s3-host", host)]
        if self.netns:
            cmd += ["--standard-ports", "--dns-bind", self.resolver]
            cmd += [arg for host in self.scenario.hosts for arg in ("--dns-answer", f"{host}={self.address}")]
        log = open(self.runtime / "cloud.log", "wb")  # noqa: SIM115 - closed below, the child keeps its copy
        try:
            self.cloud = spawn(cmd, netns=self.namespaces.cloud if self.namespaces else None, cwd=REPO,
                               stdout=subprocess.PIPE, stderr=log)
        finally:
            log.close()
        line = _read_line(self.cloud, CLOUD_START_S)
        if not line.startswith("up "):
            stop(self.cloud)
            why = (self.runtime / "cloud.log").read_text(errors="replace").strip().splitlines()
            raise TapError(f"the demo cloud did not start: {why[-1] if why else 'it said nothing'}")
        self.ports = {k: int(v) for k, v in json.loads(line[3:]).items()}

    # -- the rig's taps --------------------------------------------------------------------------
    def taps(self) -> list[Tap]:
        """What the rig runs for this scenario (the network tap first)."""
        from hw.net.tap import NetTap
        from hw.serial import SerialTap
        from hw.serial.spec import parse_spec

        legs = self.scenario.legs
        taps: list[Tap] = []
        if any(leg.channel == "net" and leg.via != "dns" for leg in legs):
            if self.namespaces is not None:
                taps.append(self._transparent())
            else:
                resolve = {host: self.address for host in self.scenario.hosts}
                taps.append(NetTap("regular", "127.0.0.1:0", ca_dir=self.ca_dir, upstream_ca=self.pki.ca,
                                   resolve=resolve, writer_delay=DEMO_WRITER_DELAY_S))
        if any(leg.via == "dns" for leg in legs):
            if self.namespaces is None:
                taps.append(DnsTap(self.address, self.ports["dns"]))
            elif not taps:   # DNS alone: the rig still records its interface (no redirect needed)
                taps.append(self._transparent())
        if self.cables:
            ends = self.serial_ends
            taps.append(SerialTap([parse_spec(f"{ends['rig_instrument']}:{ends['rig_host']}@{SERIAL_SETTINGS}")],
                                  writer_delay=DEMO_WRITER_DELAY_S))
        if any(leg.channel == "usb" for leg in legs):
            taps.append(FollowTap(self.session_dir / USB_FILE, writer_delay=DEMO_WRITER_DELAY_S))
        return taps

    def _transparent(self) -> Tap:
        """The rig in its namespace: the instrument's TCP redirected to mitmproxy, its link recorded."""
        from hw.net.tap import NetTap

        return NetTap("transparent", f"0.0.0.0:{TRANSPARENT_PORT}", iface=self.namespaces.rig_iface,
                      netns=self.namespaces.rig, ca_dir=self.ca_dir, upstream_ca=self.pki.ca,
                      writer_delay=DEMO_WRITER_DELAY_S)

    def rig_lines(self, taps: list[Tap]) -> list[str]:
        """One line a running tap: what the rig does on this bench."""
        lines = []
        for tap in taps:
            if isinstance(tap, DnsTap):
                lines.append(f"DNS to the bench resolver {tap.address}:{tap.port}, recorded by dumpcap on lo")
            elif isinstance(tap, FollowTap):
                lines.append(f"USB: following {tap.path.name} (usbmon URBs, as the USB tap records them)")
            elif hasattr(tap, "started_lines"):
                lines.append(tap.started_lines()[0])
            else:
                ends = self.serial_ends
                lines.append(f"serial bridge {ends['rig_instrument']} <-> {ends['rig_host']} @{SERIAL_SETTINGS}"
                             " (PTY pairs by socat)")
        return lines

    def allow(self) -> list[str]:
        """The bench allow-list: the scenario's, and the bench's own resolver."""
        return [*self.scenario.allow, self.resolver or self.address]

    def truth(self) -> list[LegTruth]:
        """Where each leg goes on this bench and what a correct report says about it."""
        run = run_data(self.run_dir)
        devices = usb_devices(self.scenario)
        out = []
        for leg in self.scenario.legs:
            where = (net_destination(leg, self.address if self.namespaces else None) if leg.channel == "net"
                     else serial_destination(leg, self.serial_ends["rig_host"]) if leg.channel == "serial"
                     else usb_destination(leg.via, devices[leg.name]))
            p = payload(leg, run)
            out.append(LegTruth(leg.name, leg.channel, where, leg.expect, leg.least, leg.worst, p.sample, p.file))
        return out

    # -- the instrument --------------------------------------------------------------------------
    def plan(self, proxy_port: int | None, ca_cert: Path, pace: float, legs: list[str] | None = None) -> Path:
        ends = self.serial_ends
        plan = {"scenario": str(self.scenario.path), "run": str(self.run_dir), "ca": str(ca_cert),
                "proxy": f"http://127.0.0.1:{proxy_port}" if proxy_port and not self.namespaces else None,
                "ports": self.ports, "dns": [self.resolver or self.address, self.ports.get("dns", 53)],
                "serial": {"instrument": str(ends["instrument"]), "host": str(ends["host"])} if self.cables else None,
                "usb": str(self.session_dir / USB_FILE), "usb_devices": usb_devices(self.scenario),
                "pace": pace, "work": str(self.runtime / "instrument"), "legs": legs}
        path = self.runtime / "plan.json"
        path.write_text(json.dumps(plan, indent=1))
        return path

    def instrument(self, plan: Path) -> subprocess.Popen:
        """The simulated instrument, playing the plan (in its namespace with ``netns``)."""
        return spawn([sys.executable, "-m", "hw.demo.instrument", str(plan)],
                     netns=self.namespaces.instrument if self.namespaces else None, cwd=REPO,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    # -- end -------------------------------------------------------------------------------------
    def close(self) -> None:
        for cable in self.cables:
            cable.unplug()
        stop(self.cloud)
        if self.namespaces is not None:
            self.namespaces.remove()
        shutil.rmtree(self.runtime, ignore_errors=True)


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    """The first line a child prints, or "" when it exits or says nothing within ``timeout``."""
    import select

    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < deadline and b"\n" not in buf:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
        elif proc.poll() is not None:
            break
    return buf.decode(errors="replace").split("\n", 1)[0]

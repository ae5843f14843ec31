"""The network tap: mitmproxy carries the instrument's traffic, dumpcap records it, both are followed.

    tap = NetTap(mode="regular", listen="127.0.0.1:0")   # the Python API (no root needed)
    sources = tap.start(session_dir)                     # tap.listen: where the instrument points
    ...                                                  # tap.ca.cert_file: what it trusts
    tap.stop()

Record first: dumpcap writes ``net.pcapng`` (the instrument-facing interface, raw) and mitmproxy the
keys of every TLS session it terminates (``tls-keys.log``) before the session reads either.  The
session decrypts the recording as it reads it, with the key log as it grows (``sandbox.tls_inline``),
so mitmproxy's event loop does nothing for the rig but log keys, and the live session reads what the
replay of ``net.pcapng`` (its keys injected at the end) reads.

Two modes need the plaintext from inside mitmproxy: WireGuard (the raw recording holds only the
tunnel) and ``--block`` (a request is judged before mitmproxy sends it on, sooner than dumpcap
writes it).  There our addon also writes ``feed/proxied.pcapng`` (what mitmproxy read inside TLS),
which the session follows beside the raw recording.  In WireGuard mode the raw recording is kept as
evidence and for its capture health, not analysed: the tunnel's inside is the feed, and the tunnel
itself would only be an opaque upload to the rig.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hw.net.ca import CA, ensure_ca
from hw.net.dumpcap import Dumpcap
from hw.net.mitm import MitmOptions, check_mode
from hw.net.nfqueue import PacketQueue, QueuedPacket
from hw.net.nft import HoldRules, Redirect
from hw.net.procs import spawn, stop
from hw.net.ring import RingSource
from hw.tap import ProcessWatch, TapError
from sandbox.captures.ip import IpDecoder
from sandbox.model import NotExamined, Segment
from sandbox.session import WRITER_DELAY_S, CaptureSource, Source, WrappedSource
from sandbox.tls_inline import InlineDecryptingSource

START_TIMEOUT_S = 60.0     # mitmproxy imports and binds in a few seconds even on a loaded 2-core box
DEFAULT_PORTS = {"regular": 8080, "transparent": 8080, "socks5": 1080, "wireguard": 51820, "upstream": 8080}
RAW_FILE, FEED_FILE, KEYLOG_FILE = "net.pcapng", "feed/proxied.pcapng", "tls-keys.log"
# Kernel packet queues --block in transparent mode reads (one per rig process on a host or namespace).
QUEUE_BASE, QUEUE_SPAN = 0x5000, 0x4000


def parse_listen(listen: str | None, mode: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``) -> (host, port); the mode's default port when left out."""
    default_host = "127.0.0.1" if mode in ("regular", "socks5") or mode.startswith("upstream") else "0.0.0.0"
    port = DEFAULT_PORTS[mode.split(":", 1)[0]]
    if not listen:
        return default_host, port
    host, sep, p = listen.rpartition(":")
    if not sep:
        host, p = listen, str(port)
    host = host.strip("[]") or default_host
    if not (p.isascii() and p.isdigit()) or int(p) > 65535:      # "²" is a digit to isdigit(), not to int()
        raise TapError(f"--listen {listen}: the port must be a number up to 65535")
    return host, int(p)


def free_port(host: str, udp: bool = False) -> int:
    """A port nothing listens on now (for --listen HOST:0: the capture filter must name the port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_port_free(host: str, port: int, udp: bool = False) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise TapError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


class NetTap:
    """``sandbox watch --mode ...``: see the module docstring."""

    def __init__(self, mode: str = "regular", listen: str | None = None, iface: str | None = None,
                 netns: str | None = None, ca_dir: Path | None = None, judge=None,
                 upstream_ca: Path | None = None, ring: tuple[int, int] | None = None,
                 resolve: dict[str, str] | None = None, writer_delay: float = WRITER_DELAY_S) -> None:
        self.mode = check_mode(mode)
        self.host, self.port = parse_listen(listen, self.mode)
        self.iface = iface
        self.netns = netns
        self.ca_dir = ca_dir
        self.judge = judge
        self.upstream_ca = upstream_ca
        self.ring = ring
        self.resolve = resolve     # name -> address mitmproxy connects to (bench servers without DNS)
        self.writer_delay = writer_delay   # how late dumpcap and the feed may write a packet (see CaptureSource)
        self.name = f"net {self.mode}"
        self.ca: CA | None = None
        self.wireguard_conf: list[str] = []
        self.notes: list[str] = []          # said when it starts
        self._closing: list[str] = []       # said in the report once it stopped
        self._dumpcap: Dumpcap | None = None
        self._mitm: subprocess.Popen | None = None
        self._linkwatch: subprocess.Popen | None = None      # ends when the recorded interface goes
        self._redirect: Redirect | None = None
        self._hold: HoldRules | None = None
        self._queue: PacketQueue | None = None
        self._queued = {"held": 0, "refused": 0, "unreadable": 0}
        self._runtime: Path | None = None
        self._mitm_log: Path | None = None
        self._stopped = False
        self.watch = ProcessWatch(self.name)
        self._decoder = IpDecoder()     # the held packets' (one thread reads the queue)

    @property
    def on_findings(self):
        """With --block, the judge hears what the session found (see ``hw.net.judge``)."""
        if self.judge is None:
            raise AttributeError("on_findings")
        return self.judge.on_findings

    @property
    def listen(self) -> tuple[str, int]:
        return self.host, self.port

    # -- start ---------------------------------------------------------------------------------
    def start(self, session_dir: Path) -> list[Source]:
        session_dir = Path(session_dir)
        try:
            session_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise TapError(f"cannot record into {session_dir}: {exc.strerror or exc}") from None
        try:
            self._start(session_dir)
        except BaseException:
            self.stop()
            raise
        raw: Source = (RingSource(session_dir, Path(RAW_FILE).stem) if self.ring is not None
                       else CaptureSource(session_dir / RAW_FILE, follow=True, channel="net",
                                          writer_delay=self.writer_delay))
        if not self.feeds:
            return [InlineDecryptingSource(raw, session_dir / KEYLOG_FILE)]
        feed = CaptureSource(session_dir / FEED_FILE, follow=True, channel="net", writer_delay=self.writer_delay)
        return [TunnelSource(raw) if self.mode == "wireguard" else raw, feed]

    @property
    def feeds(self) -> bool:
        """Whether our addon records the plaintext itself (see the module docstring)."""
        return self.judge is not None or self.mode == "wireguard"

    def _start(self, session_dir: Path) -> None:
        transparent = self.mode in ("transparent",)
        if transparent and not self.iface:
            raise TapError("transparent mode needs --iface: the interface the instrument's traffic comes in on")
        if self.netns is None:
            if self.port == 0:
                self.port = free_port(self.host, udp=self.mode == "wireguard")
            check_port_free(self.host, self.port, udp=self.mode == "wireguard")
        elif self.port == 0:
            raise TapError("--listen HOST:0 is not supported with --netns: give the port")
        if transparent:
            self._redirect = Redirect(self.iface, self.port, self.netns, hold=self.judge is not None)
            self._redirect.check()
            if self.judge is not None:
                self._hold = HoldRules(self.iface, QUEUE_BASE + os.getpid() % QUEUE_SPAN, self.netns)
                self._hold.check()
                self._queue = PacketQueue(self._hold.queue, self._held_packet, self.netns)
                try:
                    self._queue.start()
                except OSError as exc:
                    raise TapError(f"--block in transparent mode cannot read the kernel's packet queue "
                                   f"(nfnetlink_queue): {exc.strerror or exc}") from None
        try:
            self.ca, made = ensure_ca(self.ca_dir)
        except OSError as exc:
            raise TapError(f"cannot make the rig's CA: {exc.strerror or exc}") from None
        if made:
            self.notes.append(f"made the rig's CA in {self.ca.folder} (see `sandbox ca --install-help`)")
        iface = self.iface or ("lo" if self.host.startswith("127.") or self.host == "::1" else None)
        if iface is None:
            raise TapError("give --iface: the interface the instrument's traffic comes in on")
        # proxy modes: only the instrument's leg (mitmproxy's upstream leg may share the interface);
        # WireGuard: the instrument's tunnel; transparent: everything the instrument sends
        bpf = "" if transparent else f"udp port {self.port}" if self.mode == "wireguard" else f"tcp port {self.port}"
        # the instrument's own link is recorded with the side each packet was seen on (not loopback,
        # where the instrument and the rig are one host; not WireGuard, whose feed names each flow's ends)
        sided = iface != "lo" and self.mode != "wireguard"
        self._dumpcap = Dumpcap(iface, session_dir / RAW_FILE, bpf, self.netns, ring=self.ring, sided=sided)
        self._dumpcap.start()
        self._runtime = Path(tempfile.mkdtemp(prefix="sbx-net-"))     # short paths for the sockets
        ready = self._runtime / "ready.json"
        judge_sock = None
        if self.judge is not None:
            judge_sock = self._runtime / "judge.sock"
            self.judge.listen(judge_sock)
        keylog = session_dir / KEYLOG_FILE
        os.close(os.open(keylog, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))   # secrets: private
        self._dumpcap.follow_keys(keylog)
        opts = MitmOptions(self.mode, self.host, self.port, self.ca.folder,
                           session_dir / FEED_FILE if self.feeds else None, ready, judge_sock, self.upstream_ca,
                           self.resolve)
        env = {**os.environ, "MITMPROXY_SSLKEYLOGFILE": str(keylog)}
        log_path = self._mitm_log = session_dir / "mitmdump.log"
        with open(log_path, "wb") as log:
            self._mitm = spawn(opts.command(), netns=self.netns, env=env, stdout=log, stderr=subprocess.STDOUT)
        hello = self._expect(ready, log_path)
        self.watch.add("mitmproxy", self._mitm, "the instrument's connections through the rig failed: nothing "
                       "was carried, recorded or examined")
        self.watch.add("dumpcap", self._dumpcap.proc, "the raw recording ended and the traffic in it was not examined")
        if self._dumpcap.ifindex is not None:   # a sided recording goes on, blind, if its interface goes
            self._linkwatch = spawn([sys.executable, "-m", "hw.net.linkwatch", iface, str(self._dumpcap.ifindex)],
                                    netns=self.netns, stdout=subprocess.DEVNULL)
            self.watch.add("the link watch", self._linkwatch, "nothing of the instrument's traffic was recorded or "
                           "examined", ended=f"the recorded interface {iface} went away (or is another one now)")
        self.wireguard_conf = [c for c in hello.get("wireguard", []) if c]
        if self._hold is not None:
            self._hold.install()
        if self._redirect is not None:      # last: the instrument's TCP goes to a listening mitmproxy
            self._redirect.install()

    def _held_packet(self, packet: QueuedPacket, verdict) -> None:
        """A packet the kernel holds (``HoldRules``): judged as the flow the analysis names it by; ICMP
        control passes; what no flow can be named from (headers cut short, a fragment) does not leave."""
        t = time.time()
        harmless = self._decoder.skipped.total()
        seg = self._decoder.decode(packet.ethertype, packet.payload, 0, t, 0)
        self._queued["held"] += 1
        if type(seg) is not Segment:
            if self._decoder.skipped.total() > harmless:    # ICMP control: fixed fields, nothing to judge
                verdict(True)
                return
            self._queued["unreadable"] += 1
            verdict(False)
            return

        def reply(allow: bool, _reason: str) -> None:
            if not allow:
                self._queued["refused"] += 1
            verdict(allow)

        self.judge.ask({"op": "message", "client": [seg.src, seg.sport], "dst": [seg.dst, seg.dport],
                        "transport": seg.transport, "raw": True, "t": t, "recorded": packet.arrived}, reply)

    def _expect(self, ready: Path, mitm_log: Path) -> dict:
        """Wait for our addon's ``ready`` file (mitmproxy listens, the feed is open); TapError when it dies first."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if ready.exists():
                return json.loads(ready.read_text())
            if self._mitm is not None and self._mitm.poll() is not None:
                raise TapError(f"mitmproxy did not start: {_mitm_reason(mitm_log)}")
            time.sleep(0.05)
        raise TapError(f"the network tap did not start within {START_TIMEOUT_S:.0f} s: {_mitm_reason(mitm_log)}")

    def instrument_side(self) -> list[str]:
        """The networks on the recorded interface (the instrument's side), but the rig's own addresses
        there, and that link of the recording (what arrived on it is the instrument's); a proxy on
        loopback records only its own port, so everything but its endpoint there; none in WireGuard
        mode (the feed's plaintext names who opened each flow)."""
        if self.mode == "wireguard":
            return []
        if not self.iface or self.iface == "lo":
            if self.mode == "transparent":
                return []
            proxy = f"[{self.host}]" if ":" in self.host else self.host
            return ["0.0.0.0/0", "::/0", f"!{proxy}:{self.port}"]
        cmd = ["ip", "-j", "addr", "show", "dev", self.iface]
        done = subprocess.run((["ip", "netns", "exec", self.netns] if self.netns else []) + cmd,
                              capture_output=True, text=True)
        try:
            addrs = [a for link in json.loads(done.stdout or "[]") for a in link.get("addr_info", [])
                     if a.get("scope") == "global"]
        except ValueError:
            return []
        side = [str(ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}").network) for a in addrs]
        link = self._dumpcap.ifindex if self._dumpcap is not None else None
        return side + [f"!{a['local']}" for a in addrs] + ([f"link:{link}"] if link is not None else [])

    def scope(self) -> list[str]:
        """What this tap cannot see or changed, for the report's notes: a proxy sees only what is sent
        to it; the transparent redirect refuses QUIC."""
        if self.mode == "transparent":
            held = (["network tap (transparent, --block): the instrument's UDP (its DNS included) and ICMP were held "
                     "for the judge, other IP protocols (GRE, ESP, ...) dropped"] if self.judge is not None else [])
            return ["network tap (transparent): the instrument's QUIC was refused so that HTTP/3 falls back to TCP "
                    "through the proxy", *held]
        if self.mode == "wireguard":
            return []
        return [f"network tap ({self.mode.split(':')[0]}): only the instrument's connections through the proxy were "
                "recorded and examined; its own DNS lookups, UDP and connections that bypass the proxy were not "
                "(transparent or WireGuard mode sees them, or the bench leaves no other way out)"]

    def started_lines(self) -> list[str]:
        """What the engineer needs once the tap is up: where to point the instrument, what it trusts."""
        where = {"regular": "HTTP(S) proxy", "socks5": "SOCKS5 proxy", "transparent": "transparent redirect to",
                 "wireguard": "WireGuard endpoint"}.get(self.mode, f"proxy ({self.mode})")
        lines = [f"network tap: {where} {self.host}:{self.port}" + (f" in {self.netns}" if self.netns else "")
                 + f", recording {self.iface or 'lo'}",
                 f"instrument PC trusts: {self.ca.cert_file if self.ca else '?'}  (`sandbox ca --install-help`)"]
        for conf in self.wireguard_conf:
            lines += ["WireGuard client config for the instrument PC:", conf]
        return lines + self.scope() + self.notes

    def failures(self) -> list[NotExamined]:
        return self.watch.check()

    def closing_notes(self) -> list[str]:
        return list(self._closing)

    # -- stop ----------------------------------------------------------------------------------
    def stop(self) -> None:
        """Traffic first (mitmproxy), then the recordings; keys injected, rules removed. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.watch.stop()
        try:
            if self._redirect is not None:
                self._redirect.remove()
            stop(self._mitm)       # its addon closes the feed recording
            self._closing += _addon_errors(self._mitm_log)
            if self.judge is not None:
                self.judge.close()
            if self._queue is not None:      # what it still holds is dropped; then the rules go
                self._queue.close()
                self._closing += self._queue_notes()
            if self._hold is not None:
                self._hold.remove()
            stop(self._linkwatch)
            if self._dumpcap is not None:
                self._dumpcap.stop()
                keylog = self._dumpcap.out.with_name(KEYLOG_FILE)
                why = self._dumpcap.inject_secrets(keylog)
                if why is None and keylog.exists() and self._dumpcap.files():
                    # the recording carries them now; one copy of secrets is enough (the live source
                    # reads the rest of the log through the descriptor it holds)
                    keylog.unlink()
                elif why:
                    self._closing.append(why)
        finally:
            if self._runtime is not None:
                shutil.rmtree(self._runtime, ignore_errors=True)

    def _queue_notes(self) -> list[str]:
        q = self._queued
        notes = [f"--block held {q['held']} UDP/ICMP packet(s) of the instrument and refused {q['refused']}"
                 + (f" ({q['unreadable']} unreadable)" if q["unreadable"] else "")] if q["held"] else []
        if self._queue is not None and self._queue.overflows:
            notes.append(f"--block's packet queue overflowed {self._queue.overflows} time(s): the kernel dropped "
                         "packets of the instrument it could not hold (they are in the recording)")
        return notes


class TunnelSource(WrappedSource):
    """WireGuard mode's raw recording: read to its end (its health: packets, drops) but handing over no
    Segment, as every byte of the tunnel's inside is in the feed."""

    def poll(self, limit: int) -> list[Segment]:
        self.raw.poll(limit)
        return []


def _addon_errors(log: Path | None) -> list[str]:
    """Our addon's failures mitmproxy logged: what they cost the live feed must not go unsaid."""
    if log is None or not log.exists():
        return []
    errors = [ln.split("] ", 1)[-1] for ln in log.read_text(errors="replace").splitlines() if "Addon error" in ln]
    if not errors:
        return []
    return [f"the mitmproxy addon failed {len(errors)} time(s) (first: {errors[0][:200]}); the live findings may "
            f"miss what those hooks carried: replay {RAW_FILE} for the full picture"]


def _mitm_reason(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "it exited without saying why"
    lines = [ln for ln in lines if "Error logged during startup" not in ln]
    errors = [ln for ln in lines if "rror" in ln or "denied" in ln or "in use" in ln]
    return (errors or lines or ["it exited without saying why"])[-1][:300]


def add_arguments(parser) -> None:
    parser.add_argument("--mode", metavar="MODE",
                        help="network tap: mitmproxy in MODE carries the instrument's traffic: regular (explicit "
                             "proxy), transparent (the rig redirects the instrument's TCP with nftables and refuses its QUIC, so "
                             "HTTP/3 falls back to TCP), wireguard "
                             "(prints the client config), upstream:URL (via another proxy) or socks5")
    parser.add_argument("--listen", metavar="HOST:PORT",
                        help="where the network tap listens (default 127.0.0.1:8080; transparent 0.0.0.0:8080, "
                             "socks5 :1080, wireguard :51820; PORT 0 picks a free one)")
    parser.add_argument("--iface", metavar="IFACE",
                        help="instrument-facing interface: recorded raw, and redirected in transparent mode "
                             "(default lo when listening on loopback)")
    parser.add_argument("--netns", metavar="NAME", help="run the network tap inside this network namespace")
    parser.add_argument("--ca-dir", type=Path, metavar="DIR",
                        help="the rig's CA folder (default $SANDBOX_CA_DIR or ~/.config/instrument-sandbox/ca)")
    parser.add_argument("--upstream-ca", type=Path, metavar="PEM",
                        help="CA certificate the bench's own servers are signed by (mitmproxy verifies upstreams)")
    parser.add_argument("--ring", metavar="MB[:FILES]",
                        help="long sessions: the raw recording rotates every MB megabytes (net_NNNNN_TIME.pcapng), "
                             "keeping the last FILES files when given")
    parser.add_argument("--block", action="store_true",
                        help="hold each connection, request and message until the analysis has judged it "
                             "(about 0.5 s each; in transparent mode the instrument's UDP, DNS included, and "
                             "ICMP too, in a kernel queue: needs iptables); kill what carries run data, what "
                             "the rig could not examine, "
                             "and what goes to a destination not on the allow-list or to an address no trusted "
                             "DNS answer gave for the allowed name it claims, before the upstream gets it")


def parse_ring(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    size, _, files = text.partition(":")
    if not (size + files).isascii() or not size.isdigit() or int(size) < 1 or (files and not files.isdigit()):
        raise TapError(f"--ring {text}: give MB per file, optionally :FILES to keep (e.g. 500:48)")
    return int(size), int(files or 0)


def from_args(args) -> list[NetTap]:
    if args.mode is None and not (args.listen or args.iface or args.netns or args.block or args.ring):
        return []
    judge = None
    if args.block:
        from hw.net.judge import Judge

        judge = Judge(args.allow)
    return [NetTap(args.mode or "regular", args.listen, args.iface, args.netns, args.ca_dir, judge, args.upstream_ca,
                   parse_ring(args.ring))]

"""A bench of three network namespaces for ``sandbox demo --netns`` (root): instrument - rig - cloud.

The rig's namespace routes between two veth links and nothing else; its network tap adds the
transparent redirect and records the instrument-facing link.  The instrument looks every name up with
the cloud's resolver (``/etc/netns/<instrument>/resolv.conf``, which ``ip netns exec`` mounts over
/etc/resolv.conf), as an instrument on a lab network does: the rig sees the answers, which vouch for
the addresses the allow-list's names go to.  No lookup and no packet leaves the bench: the namespaces
have no link to the host.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from hw.tap import TapError

INSTRUMENT_IP, RIG_IN_IP, RIG_OUT_IP, CLOUD_IP = "10.232.1.2", "10.232.1.1", "10.232.2.1", "10.232.2.2"
# The cloud's resolver has an address of its own: the bench allow-lists its resolver, and allowing the
# address every cloud service shares would allow every destination of the scenario.
RESOLVER_IP = "10.232.2.53"
NETNS_ETC = Path("/etc/netns")


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise TapError(f"ip {' '.join(args)}: {result.stderr.strip() or 'failed'}")


class Namespaces:
    """Names ``PREFIX-inst``, ``PREFIX-rig``, ``PREFIX-cloud``; ``create`` then ``remove`` (idempotent)."""

    def __init__(self, prefix: str) -> None:
        self.instrument, self.rig, self.cloud = (f"{prefix}-{role}" for role in ("inst", "rig", "cloud"))
        tag = "".join(ch for ch in prefix if ch.isalnum())[-6:]     # interface names: 15 characters at most
        self.links = tuple(f"sbx{tag}{x}" for x in ("i0", "r0", "r1", "c0"))
        self.rig_iface = self.links[1]
        self.cloud_ip = CLOUD_IP
        self.resolver_ip = RESOLVER_IP
        self.made: list[str] = []

    def create(self) -> None:
        if shutil.which("ip") is None:
            raise TapError("--netns needs iproute2 (Debian: apt-get install iproute2)")
        try:
            for ns in (self.instrument, self.rig, self.cloud):
                _ip("netns", "add", ns)
                self.made.append(ns)
            a, b, c, d = self.links
            _ip("link", "add", a, "netns", self.instrument, "type", "veth", "peer", "name", b, "netns", self.rig)
            _ip("link", "add", c, "netns", self.rig, "type", "veth", "peer", "name", d, "netns", self.cloud)
            for ns, dev, addr in ((self.instrument, a, INSTRUMENT_IP), (self.rig, b, RIG_IN_IP),
                                  (self.rig, c, RIG_OUT_IP), (self.cloud, d, CLOUD_IP)):
                _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
                _ip("-n", ns, "link", "set", dev, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", self.cloud, "addr", "add", f"{RESOLVER_IP}/24", "dev", d)
            _ip("-n", self.instrument, "route", "add", "default", "via", RIG_IN_IP)
            _ip("-n", self.cloud, "route", "add", "default", "via", RIG_OUT_IP)
            forward = subprocess.run(["ip", "netns", "exec", self.rig, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
                                     capture_output=True, text=True, check=False)
            if forward.returncode != 0:
                raise TapError(f"cannot route in {self.rig}: {forward.stderr.strip()}")
            etc = NETNS_ETC / self.instrument
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text("127.0.0.1 localhost\n")
            (etc / "resolv.conf").write_text(f"nameserver {RESOLVER_IP}\n")    # lookups stay on the bench
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        for ns in self.made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        self.made = []
        shutil.rmtree(NETNS_ETC / self.instrument, ignore_errors=True)

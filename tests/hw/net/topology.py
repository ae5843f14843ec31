"""Three network namespaces made by a test: "instrument" - "rig" - "cloud", joined by veth pairs.

    with bench("sbx-net-a1b2") as b:   # b.run(b.instrument, [...]) ; b.cloud_ip ; b.rig_iface
        ...

The rig routes between the two links (ip_forward) and nothing else: its tap adds the redirect.
Nothing leaves the machine: the namespaces have no link to the host.  The instrument resolves names
through the cloud's resolver (``tests.hw.net.cloud``), as on a lab network, so the rig sees the
answers that vouch for the cloud's address; the rig's own lookups (a proxy's) go there too:
``/etc/netns/<ns>/resolv.conf`` and ``hosts`` (``ip netns exec`` mounts them over /etc's) keep every
lookup on the bench.  The cloud has a second address,
``OTHER_IP``: a server nobody's DNS answer names.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

INSTRUMENT_IP, RIG_IN_IP, RIG_OUT_IP, CLOUD_IP = "10.231.1.2", "10.231.1.1", "10.231.2.1", "10.231.2.2"
OTHER_IP = "10.231.2.3"
CLOUD_NAME = "cloud.sbx.test"


@dataclass(frozen=True)
class Bench:
    instrument: str
    rig: str
    cloud: str
    rig_iface: str
    cloud_ip: str = CLOUD_IP
    cloud_name: str = CLOUD_NAME

    def cmd(self, ns: str, args: list[str]) -> list[str]:
        return ["ip", "netns", "exec", ns, *args]

    def run(self, ns: str, args: list[str], timeout: float = 120, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.cmd(ns, args), capture_output=True, text=True, timeout=timeout, **kw)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@contextmanager
def bench(prefix: str) -> Iterator[Bench]:
    """Make the three namespaces (skip when this machine gives no namespace rights); always removed."""
    if shutil.which("ip") is None:
        pytest.skip("iproute2 missing")
    names = [f"{prefix}-{role}" for role in ("inst", "rig", "cloud")]
    inst, rig, cloud = names
    probe = subprocess.run(["ip", "netns", "add", inst], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no network namespaces here: {probe.stderr.strip()}")
    etcs = [Path("/etc/netns") / inst, Path("/etc/netns") / rig]
    try:
        _ip("netns", "add", rig)
        _ip("netns", "add", cloud)
        tag = "".join(ch for ch in prefix if ch.isalnum())[-6:]    # interface names: 15 characters at most
        a, b, c, d = (f"sbx{tag}{x}" for x in ("i0", "r0", "r1", "c0"))
        _ip("link", "add", a, "netns", inst, "type", "veth", "peer", "name", b, "netns", rig)
        _ip("link", "add", c, "netns", rig, "type", "veth", "peer", "name", d, "netns", cloud)
        for ns, dev, addr in ((inst, a, INSTRUMENT_IP), (rig, b, RIG_IN_IP), (rig, c, RIG_OUT_IP), (cloud, d, CLOUD_IP)):
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", cloud, "addr", "add", f"{OTHER_IP}/24", "dev", d)
        _ip("-n", inst, "route", "add", "default", "via", RIG_IN_IP)
        _ip("-n", cloud, "route", "add", "default", "via", RIG_OUT_IP)
        subprocess.run(["ip", "netns", "exec", rig, "sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
        for etc in etcs:      # lookups stay on the bench (the rig's too: a proxy resolves what it is asked)
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text("127.0.0.1 localhost\n")
            (etc / "resolv.conf").write_text(f"nameserver {CLOUD_IP}\n")
        yield Bench(inst, rig, cloud, b)
    finally:
        for ns in names:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for etc in etcs:
            shutil.rmtree(etc, ignore_errors=True)

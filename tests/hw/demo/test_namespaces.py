"""The --netns bench: three sbx-demo-* namespaces joined by veth links through the rig, names that
resolve to the cloud inside the instrument's namespace only, and nothing left after ``remove``."""

from __future__ import annotations

import os
import subprocess

import pytest

from hw.demo.namespaces import CLOUD_IP, NETNS_ETC, RESOLVER_IP, Namespaces
from hw.tap import TapError


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@pytest.fixture
def prefix():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    name = f"sbx-demo-t{os.getpid() % 100000}"
    made = subprocess.run(["ip", "netns", "add", f"{name}-probe"], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"no network namespaces here: {made.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", f"{name}-probe"], check=False)
    yield name
    for ns in namespaces():
        if ns.startswith(name):
            subprocess.run(["ip", "netns", "del", ns], check=False)


def in_ns(ns: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, *args], capture_output=True, text=True, timeout=60, check=False)


def test_the_instrument_reaches_the_cloud_only_through_the_rig_and_nothing_is_left(prefix):
    bench = Namespaces(prefix)
    bench.create()
    try:
        assert {bench.instrument, bench.rig, bench.cloud} <= namespaces()
        assert all(ns.startswith("sbx-demo-") for ns in (bench.instrument, bench.rig, bench.cloud))
        # every name is looked up with the bench's resolver, whose answers the rig sees
        resolv = in_ns(bench.instrument, "cat", "/etc/resolv.conf").stdout
        assert resolv.split() == ["nameserver", RESOLVER_IP]
        assert in_ns(bench.instrument, "cat", "/etc/hosts").stdout.split() == ["127.0.0.1", "localhost"]
        route = in_ns(bench.instrument, "ip", "route", "get", CLOUD_IP).stdout
        assert "via 10.232.1.1" in route                                     # through the rig
        sink = subprocess.Popen(["ip", "netns", "exec", bench.cloud, "python3", "-c",
                                 "import socket; s = socket.create_server(('0.0.0.0', 9000)); print('up', flush=True);"
                                 " c, _ = s.accept(); print(c.recv(100).decode(), flush=True)"],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert sink.stdout.readline().strip() == "up"
            sent = in_ns(bench.instrument, "python3", "-c",
                         f"import socket; socket.create_connection(('{CLOUD_IP}', 9000), timeout=30).sendall(b'hello')")
            assert sent.returncode == 0, sent.stderr
            assert sink.stdout.readline().strip() == "hello"
        finally:
            sink.kill()
            sink.wait()
        assert in_ns(bench.rig, "ip", "link", "show", bench.rig_iface).returncode == 0
    finally:
        bench.remove()
    assert not {ns for ns in namespaces() if ns.startswith(prefix)}
    assert not (NETNS_ETC / bench.instrument).exists()
    bench.remove()                                                            # idempotent


def test_a_bench_that_cannot_be_made_says_why_and_leaves_nothing(prefix):
    subprocess.run(["ip", "netns", "add", f"{prefix}-cloud"], check=True)    # taken by someone else
    bench = Namespaces(prefix)
    with pytest.raises(TapError, match=f"{prefix}-cloud"):
        bench.create()
    assert namespaces() & {f"{prefix}-inst", f"{prefix}-rig"} == set()
    assert f"{prefix}-cloud" in namespaces()                                  # not ours: left alone
    assert not (NETNS_ETC / bench.instrument).exists()

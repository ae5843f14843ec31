"""Message brokers of a test's own: Mosquitto (MQTT) and a RabbitMQ node (AMQP 0-9-1), their state in a
temp folder, listening on ``host:port`` (run through ``wrap``: in a network namespace) until the block
ends.  Skipped where the broker is not installed; the packages' own services are never used."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.pgserver import free_port
from tests.processes import stop_group

RABBITMQ = "/usr/lib/rabbitmq/bin/rabbitmq-server"
START_S = 90.0                  # RabbitMQ boots an Erlang node: seconds on a loaded machine
Wrap = Callable[[list[str]], list[str]]


def _listening(port: int, wrap: Wrap) -> bool:
    return bool(subprocess.run(wrap(["ss", "-Hltn", f"sport = :{port}"]), capture_output=True, text=True).stdout.strip())


def _started(proc: subprocess.Popen, port: int, wrap: Wrap, what: str) -> None:
    deadline = time.monotonic() + START_S
    while not _listening(port, wrap):
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{what} did not listen on port {port}")
        time.sleep(0.1)


@contextmanager
def mosquitto(root: Path, host: str, port: int, wrap: Wrap = lambda args: args) -> Iterator[None]:
    """A Mosquitto broker (anonymous clients, nothing kept)."""
    binary = shutil.which("mosquitto", path=os.environ.get("PATH", "") + ":/usr/sbin")
    if binary is None:
        pytest.skip("mosquitto not installed")
    root.mkdir(parents=True, exist_ok=True)
    conf = root / "mosquitto.conf"
    conf.write_text(f"listener {port} {host}\nallow_anonymous true\npersistence false\nlog_dest none\n")
    proc = subprocess.Popen(wrap([binary, "-c", str(conf)]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        _started(proc, port, wrap, "mosquitto")
        yield
    finally:
        stop_group(proc)


@contextmanager
def rabbitmq(root: Path, host: str, port: int, wrap: Wrap = lambda args: args,
             plugins: tuple[str, ...] = ()) -> Iterator[None]:
    """A RabbitMQ node with its own Erlang port mapper (on a port of its own, stopped after it) and
    ``plugins`` (``rabbitmq_amqp1_0``: AMQP 1.0 on the same port); the default user (guest) may connect
    from anywhere."""
    if not os.path.exists(RABBITMQ):
        pytest.skip("rabbitmq-server not installed")
    root.mkdir(parents=True, exist_ok=True)
    (root / "plugins").write_text(f"[{','.join(plugins)}].\n")
    (root / "rabbitmq.conf").write_text("loopback_users = none\n")
    epmd = free_port()
    env = {"HOME": str(root), "RABBITMQ_NODE_PORT": str(port), "RABBITMQ_NODE_IP_ADDRESS": host,
           "RABBITMQ_NODENAME": f"sbx{port}@localhost", "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
           "RABBITMQ_LOG_BASE": str(root / "log"), "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "plugins"),
           "RABBITMQ_DIST_PORT": str(free_port()), "ERL_EPMD_PORT": str(epmd),
           "RABBITMQ_CONFIG_FILE": str(root / "rabbitmq")}
    environ = ["env", *(f"{k}={v}" for k, v in env.items())]
    proc = subprocess.Popen(wrap([*environ, RABBITMQ]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        _started(proc, port, wrap, "rabbitmq-server")
        yield
    finally:
        stop_group(proc)
        epmd_bin = shutil.which("epmd") or "/usr/lib/erlang/bin/epmd"
        subprocess.run(wrap([*environ, epmd_bin, "-port", str(epmd), "-kill"]), capture_output=True, timeout=30)

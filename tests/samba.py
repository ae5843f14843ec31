"""A Samba server of a test's own (smbd in the foreground, its state in a temp folder): one share that
guests may write and one user (encryption needs a session key, which guests have none of)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.processes import stop_group

USER, SECRET = "root", "bench-secret-1"
START_S = 20.0
CONF = """[global]
  server role = standalone server
  map to guest = Bad User
  guest account = root
  smb ports = {port}
  interfaces = {host}
  bind interfaces only = yes
  disable netbios = yes
  lock directory = {state}
  state directory = {state}
  cache directory = {state}
  private dir = {state}
  pid directory = {state}
  ncalrpc dir = {state}
  log file = {state}/log.%m
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  server min protocol = SMB2_02
[share]
  path = {share}
  read only = no
  guest ok = yes
  force user = root
"""


@contextmanager
def samba_server(root: Path, host: str, port: int,
                 wrap: Callable[[list[str]], list[str]] = lambda args: args) -> Iterator[Path]:
    """smbd on ``host:port`` (run through ``wrap``: in a network namespace) until the block ends; the
    share's folder.  Skipped where Samba is not installed."""
    if shutil.which("smbd", path=os.environ.get("PATH", "") + ":/usr/sbin") is None or shutil.which("smbclient") is None:
        pytest.skip("Samba (smbd, smbclient) not installed")
    (root / "state").mkdir(parents=True)
    (root / "share").mkdir()
    conf = root / "smb.conf"
    conf.write_text(CONF.format(port=port, host=host, state=root / "state", share=root / "share"))
    subprocess.run(["pdbedit", "-s", str(conf), "-a", "-u", USER, "-t"], input=f"{SECRET}\n{SECRET}\n",
                   text=True, check=True, capture_output=True)
    proc = subprocess.Popen(wrap(["smbd", "-F", "--no-process-group", "-s", str(conf), "--debug-stdout"]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + START_S
        while not subprocess.run(wrap(["ss", "-Hltn", f"sport = :{port}"]), capture_output=True,
                                 text=True).stdout.strip():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"smbd did not listen on {host}:{port}")
            time.sleep(0.1)
        yield root / "share"
    finally:
        stop_group(proc, timeout=10)

"""Running ``sandbox watch`` with the network tap in a test, and comparing it with the replay."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.hw.net.servers import Pki, make_pki
from tests.hw.net.topology import CLOUD_IP, CLOUD_NAME, Bench

REPO = Path(__file__).resolve().parents[3]
WAIT_S = 180   # generous: a loaded 2-core machine; never a performance assertion


def sandbox(*args: str, prefix: list[str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([*(prefix or []), sys.executable, "-m", "sandbox.cli", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def rows(db: Path, sql: str) -> list[tuple]:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return []
    try:
        return con.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


def wait_for(predicate, what: str, proc: subprocess.Popen | None = None, logs: tuple[Path, ...] = ()) -> None:
    """Until ``predicate()``; failing, say what the rig said (its stderr once ended, ``logs``' tails)."""
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the rig exited ({proc.returncode}) while waiting for {what}: {err[-2000:]}")
        if time.monotonic() > deadline:
            said = "".join(f"\n--- {p.name}:\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists())
            if proc is not None:
                said += f"\n--- the rig's stderr:\n{end(proc)[1][-3000:]}"
            pytest.fail(f"timed out waiting for {what}{said}")
        time.sleep(0.1)


def essence(report: dict) -> list[tuple]:
    """What live and replay must agree on: kinds, severities, destinations, samples, files."""
    return sorted((f["kind"], f["severity"], f["channel"], f["destination"], tuple(f["samples"]),
                   tuple(m["path"] for m in f["files"])) for f in report["findings"])


def chains(report: dict) -> list[tuple]:
    """Decode chains, bar their first element (live and replay may name the transport differently)."""
    return sorted((f["kind"], f["destination"], tuple(f["chain"][1:])) for f in report["findings"])


def end(proc: subprocess.Popen) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=WAIT_S)
    finally:
        proc.kill()


def replay(capture: Path, run_dir: Path, tmp: Path, *allow: str, instrument: Sequence[str] = ()) -> tuple[int, dict]:
    out = tmp / "replay.json"
    proc = sandbox("replay", str(capture), "--run", str(run_dir), "--report", str(out), "--quiet",
                   "--cache-dir", str(tmp / "cache"), *(["--allow", *allow] if allow else []),
                   *(["--instrument", *instrument] if instrument else []))
    _, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode in (0, 1, 3), err
    return proc.returncode, json.loads(out.read_text())


@contextmanager
def cloud_servers(b: Bench, tmp_path: Path) -> Iterator[tuple[Pki, Path]]:
    """The cloud's servers (``tests.hw.net.cloud``) up in ``b.cloud``: their PKI, and the file each
    thing they received is noted in."""
    pki = make_pki(tmp_path / "pki", [CLOUD_NAME, CLOUD_IP])
    received = tmp_path / "received.jsonl"
    received.touch()
    cloud = subprocess.Popen(b.cmd(b.cloud, [sys.executable, "-m", "tests.hw.net.cloud", str(tmp_path / "pki"),
                                             str(received)]), cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        while (line := cloud.stdout.readline()) and line.strip() != "up":   # moto says hello first
            pass
        assert line.strip() == "up"
        yield pki, received
    finally:
        cloud.kill()
        cloud.wait()

"""Record real loopback traffic with dumpcap while a test body runs: one helper for every live test.

    with record_lo(tmp_path / "x.pcapng", f"host {HOST} and tcp") as rec:
        ...talk to a server on HOST...
    items = dissect(rec.path)          # rec.proc.returncode == 0 once dumpcap stopped cleanly

The test is skipped only when dumpcap is not installed or cannot capture on ``lo`` (no permission,
no such device); an invalid capture filter is the caller's bug and fails the test.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT = 15.0  # dumpcap opens lo and writes its header in well under a second, even on a busy box
STOP_TIMEOUT = 10.0  # SIGINT makes dumpcap flush and exit at once; after this it is killed
SETTLE_START = 0.3  # the filter is attached when the header is written; be safe before traffic starts
SETTLE_STOP = 0.5  # before SIGINT: lets the kernel hand the last packets to dumpcap
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"  # dumpcap writes pcapng; its Section Header Block opens the file
SHB_MIN = 28  # the smallest complete Section Header Block: the header is fully on disk


@dataclass(frozen=True)
class Recording:
    """A capture in progress (then done): the file dumpcap writes and the dumpcap process."""

    path: Path
    proc: subprocess.Popen


def _capturing(path: Path) -> bool:
    if not path.exists() or path.stat().st_size < SHB_MIN:
        return False
    with open(path, "rb") as fh:
        return fh.read(4) == PCAPNG_SHB


@contextmanager
def record_lo(path: Path, bpf: str, *, buffer_mb: int = 64) -> Iterator[Recording]:
    """Run ``dumpcap -q -B buffer_mb -i lo -f bpf -w path`` around the body; capturing once entered."""
    if shutil.which("dumpcap") is None:
        pytest.skip("dumpcap not installed")
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: dumpcap never blocks on stderr
        proc = subprocess.Popen(["dumpcap", "-q", "-B", str(buffer_mb), "-i", "lo", "-f", bpf, "-w", str(path)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not _capturing(path):
                if proc.poll() is not None:
                    log.seek(0)
                    err = log.read().decode(errors="replace")[-300:]
                    if "Invalid capture filter" in err:
                        raise ValueError(f"dumpcap rejected the capture filter {bpf!r}: {err}")
                    pytest.skip(f"dumpcap cannot capture on lo: {err}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"dumpcap did not start capturing within {START_TIMEOUT}s")
                time.sleep(0.02)
            time.sleep(SETTLE_START)
            yield Recording(path, proc)
            time.sleep(SETTLE_STOP)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

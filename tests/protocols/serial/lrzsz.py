"""Real lrzsz sessions for the serial parser tests: a sender and a receiver (sz/rz, sx/rx, sb/rb)
joined by a relay that keeps every chunk each side wrote, in order, with its direction.

The sender plays the instrument ("out"), the receiver the host ("in").
"""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import time
from pathlib import Path

import pytest

WAIT_S = 60   # generous: a loaded 2-core machine; a hung transfer fails the test, never a timing


def need_lrzsz() -> None:
    if shutil.which("sz") is None:
        pytest.fail("lrzsz is not installed (scripts/install-system-deps.sh installs it)")


def session(sender: list[str], receiver: list[str], workdir: Path) -> list[tuple[str, bytes]]:
    """Run ``sender`` in ``workdir`` and ``receiver`` in ``workdir/rx``; the chunks they exchanged."""
    need_lrzsz()
    rx = workdir / "rx"
    rx.mkdir(exist_ok=True)
    snd = subprocess.Popen(sender, cwd=workdir, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
    rcv = subprocess.Popen(receiver, cwd=rx, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
    chunks: list[tuple[str, bytes]] = []
    sel = selectors.DefaultSelector()
    sel.register(snd.stdout, selectors.EVENT_READ, ("out", rcv.stdin))
    sel.register(rcv.stdout, selectors.EVENT_READ, ("in", snd.stdin))
    deadline = time.monotonic() + WAIT_S
    open_ends = 2
    try:
        while open_ends and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1.0):
                direction, peer = key.data
                data = os.read(key.fileobj.fileno(), 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    open_ends -= 1
                    continue
                chunks.append((direction, data))
                try:
                    peer.write(data)
                    peer.flush()
                except BrokenPipeError:
                    pass
        assert not open_ends, f"{sender[0]} -> {receiver[0]} did not finish"
    finally:
        for proc in (snd, rcv):
            proc.kill()
            proc.wait()
            for f in (proc.stdin, proc.stdout):
                try:
                    f.close()
                except BrokenPipeError:
                    pass
    return chunks


def streams(chunks: list[tuple[str, bytes]]) -> tuple[bytes, bytes]:
    return (b"".join(d for s, d in chunks if s == "out"), b"".join(d for s, d in chunks if s == "in"))

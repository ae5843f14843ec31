"""Child processes of a tap (mitmdump, dumpcap): they die with the rig, never orphaned.

Each runs in its own session, so Ctrl-C reaches only ``sandbox watch``, which stops them in order
(traffic first, then the recordings); ``PR_SET_PDEATHSIG`` kills them if the rig itself is killed.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from collections.abc import Sequence
from typing import Any

PR_SET_PDEATHSIG = 1
STOP_TIMEOUT_S = 10.0   # a clean stop (flush, close) takes well under a second; then it is killed


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def netns_prefix(netns: str | None) -> list[str]:
    """The command prefix that runs a program inside network namespace ``netns`` (or nothing)."""
    return ["ip", "netns", "exec", netns] if netns else []


def spawn(cmd: Sequence[str], *, netns: str | None = None, **popen: Any) -> subprocess.Popen:
    """Start ``cmd`` (in ``netns`` if given) as a child that dies with this process."""
    popen.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen([*netns_prefix(netns), *cmd], start_new_session=True, preexec_fn=_die_with_parent,
                            **popen)


def stop(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> int | None:
    """Ask ``proc`` to end with ``sig``, kill it after ``timeout``; its exit status (idempotent)."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        except ProcessLookupError:
            proc.wait()
    return proc.returncode

"""What every live tap is, to the session that runs it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Protocol, runtime_checkable

from sandbox.model import NotExamined
from sandbox.session import Source


class TapError(Exception):
    """A tap cannot start (port busy, device missing, no permission): one line, exit status 2."""


class Tap(Protocol):
    """A live tap: its own process(es), writing every byte to a recording before anything reads it."""

    name: str

    def start(self, session_dir: Path) -> list[Source]:
        """Start capturing into ``session_dir``; return the Sources the session follows.

        Raises ``TapError`` with a one-line reason, leaving nothing half-started behind."""

    def stop(self) -> None:
        """Stop capturing and close the recordings (idempotent); the Sources then read to their end."""

    def failures(self) -> list[NotExamined]:
        """What the tap lost while it ran: a process of it that ended on its own (the traffic after
        that was neither carried nor recorded). Asked on every store flush and at the end, also after
        ``stop``; the same text each time."""


@runtime_checkable
class SidedTap(Protocol):
    """A tap that knows which addresses on what it records are the instrument's."""

    def instrument_side(self) -> list[str]:
        """CIDRs of the instrument's side, and the rig's own addresses there prefixed with "!" (never the
        instrument), asked once it started: which end of a flow is the instrument is then no guess its
        packets can steer (a SYN or datagram forged in the far end's name first)."""


@runtime_checkable
class ScopedTap(Protocol):
    """A tap whose limits and doings the report states in its notes."""

    def scope(self) -> list[str]:
        """What it cannot see or changes, known when it starts."""

    def closing_notes(self) -> list[str]:
        """What it learnt while it ran (asked once ``stop`` has returned): what it held, what failed."""


class ProcessWatch:
    """A tap's own processes, checked for ending on their own: the first such end is kept, with
    what it cost, so a tap's ``failures`` says it from then on (after ``stop`` too)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.procs: list[tuple[str, subprocess.Popen, str, str]] = []
        self.stopping = False
        self.failed: list[NotExamined] = []

    def add(self, name: str, proc: subprocess.Popen, lost: str, ended: str = "") -> None:
        """``lost``: what stops when ``proc`` ends (e.g. "the line was neither bridged nor recorded");
        ``ended``: what its end means, said instead of how it ended (a watcher whose end is the news)."""
        self.procs.append((name, proc, lost, ended))

    def check(self) -> list[NotExamined]:
        if not self.stopping and not self.failed:
            for name, proc, lost, ended in self.procs:
                status = proc.poll()
                if status is not None:
                    how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
                    what = ended if ended and status == 0 else f"{name} {how}"
                    self.failed.append(NotExamined(where=self.where, what=f"{what} while the session ran: "
                                                   f"after that {lost}", packets=0, bytes=0))
                    break
        return list(self.failed)

    def stop(self) -> None:
        """The tap stops its processes now: ends from here on are ours, not failures."""
        self.check()
        self.stopping = True

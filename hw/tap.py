"""What every live tap is, to the session that runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

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

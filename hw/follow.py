"""A recording some other program writes (a dumpcap the engineer started, a tap on another host
writing to a share): the session follows it as a live tap's."""

from __future__ import annotations

from pathlib import Path

from hw.tap import TapError
from sandbox.model import NotExamined
from sandbox.session import CaptureSource, Source


class FollowTap:
    """``sandbox watch --follow FILE.pcapng``."""

    def __init__(self, path: Path, writer_delay: float | None = None) -> None:
        self.path = Path(path)
        self.name = f"follow {self.path.name}"
        self.writer_delay = writer_delay

    def start(self, session_dir: Path) -> list[Source]:
        if self.path.exists() and not self.path.is_file():
            raise TapError(f"cannot follow {self.path}: not a file")
        if not self.path.parent.is_dir():
            raise TapError(f"cannot follow {self.path}: folder {self.path.parent} does not exist")
        kwargs = {} if self.writer_delay is None else {"writer_delay": self.writer_delay}
        return [CaptureSource(self.path, follow=True, **kwargs)]

    def stop(self) -> None:
        """Nothing to stop: the other program keeps writing; the session reads what is there."""

    def failures(self) -> list[NotExamined]:
        """None of its own: the program writing the file is not the rig's (its drops are in the file)."""
        return []


def add_arguments(parser) -> None:
    parser.add_argument("--follow", action="append", type=Path, default=[], metavar="PCAPNG",
                        help="follow a pcapng another program is writing (e.g. a dumpcap you started, "
                             "or a tap on another host writing to a share); repeat for several")


def from_args(args) -> list[FollowTap]:
    return [FollowTap(path) for path in args.follow]

"""What ``sandbox demo`` prints while the scenario plays: each leg as the instrument sends it, each
finding as it lands in the store, and at the end how the findings compare with the scenario's truth."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from sandbox.model import severity_rank
from sandbox.safetext import safe_text
from sandbox.simulate.truth import LegTruth

POLL_S = 0.5    # the store is flushed every 0.25 s in a live session; twice that is "as it happens"
SHOWN_FROM = "medium"   # findings worth a line while playing (low ones are unlisted destinations)


def leg_line(event: dict) -> str:
    leg, what, detail = event.get("leg", "?"), event.get("event"), safe_text(str(event.get("detail", "")))
    if what == "start":
        return f"  > {leg}: {detail}"
    if what == "done":
        return f"    sent: {detail}"
    return f"    FAILED: {detail}"


class FindingsFeed:
    """Prints each new finding of a live store (kind, severity, destination) once, as it lands."""

    def __init__(self, db: str | Path, write: Callable[[str], None]) -> None:
        self.db, self.write = str(db), write
        self.seen: set[tuple[str, str]] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="demo-findings", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        """Stop polling; a feed never started (the demo failed before its session began) has nothing to stop."""
        self.stop.set()
        if self.thread.ident is not None:
            self.thread.join(5)

    def _run(self) -> None:
        while not self.stop.wait(POLL_S):
            self.poll()

    def poll(self) -> None:
        try:
            con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=1)
            try:
                rows = con.execute("SELECT kind, severity, destination FROM findings WHERE severity_rank >= ? "
                                   "ORDER BY t_first", (severity_rank(SHOWN_FROM),)).fetchall()
            finally:
                con.close()
        except sqlite3.Error:
            return      # not written yet, or busy this instant: the next poll sees it
        for kind, severity, destination in rows:
            if (kind, destination) not in self.seen:
                self.seen.add((kind, destination))
                self.write(f"    rig found: {kind} ({severity}) at {destination}")


def truth_lines(truth: list[LegTruth], problems: list[str]) -> list[str]:
    """The scenario's legs against what the rig found."""
    lines = ["", "scenario truth:"]
    for leg in truth:
        said = ", ".join(leg.expect) + f" (>= {leg.least})" if leg.expect else f"nothing above {leg.worst}"
        mine = [p for p in problems if p.startswith(f"{leg.name}:")]
        lines.append(f"  {'FAIL' if mine else 'ok  '} {leg.name:<22} {leg.channel:<6} {leg.destination}: {said}")
        lines += [f"       {p}" for p in mine]
    lines += [f"  FAIL {p}" for p in problems if not any(p.startswith(f"{leg.name}:") for leg in truth)]
    lines.append("the rig found what the scenario says" if not problems else
                 f"{len(problems)} difference(s) from the scenario's truth")
    return lines

"""Play a saved capture into a live recording, as a tap would write it while the instrument runs.

Used by tests, benchmarks and the demo to drive ``sandbox watch --follow`` with real timing: every
packet is written (and flushed) at its own time, re-based to now and sped up by ``speed``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sandbox.captures import open_capture
from sandbox.captures.writer import PcapngWriter


def play(capture: Path, recording: Path, *, speed: float = 1.0, stop: threading.Event | None = None,
         clock=time.time, sleep=time.sleep) -> int:
    """Write ``capture``'s packets into ``recording`` at their pace; returns packets written.

    Timestamps become ``start + (t - t0) / speed``, so the recording is what a tap would have
    written had the traffic happened now; the link types of the capture are kept.
    """
    cap = open_capture(capture)
    interfaces: dict[int, int] = {}
    written = 0
    start = clock()
    t0 = None
    with PcapngWriter(recording, interfaces=[]) as out:
        for pkt in cap.packets():
            if stop is not None and stop.is_set():
                break
            if t0 is None:
                t0 = pkt.t
            at = start + (pkt.t - t0) / speed
            wait = at - clock()
            if wait > 0:
                sleep(wait)
            if pkt.linktype not in interfaces:
                interfaces[pkt.linktype] = out.add_interface(pkt.linktype)
            out.write(pkt.data, at, interface=interfaces[pkt.linktype])
            out.flush()
            written += 1
    return written

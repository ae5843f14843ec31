"""Following dumpcap's ring buffer: every file in turn, each read to its end, nothing twice."""

from __future__ import annotations

import math

from hw.net.ring import RingSource
from sandbox.captures.writer import PcapngWriter, TcpConversation
from sandbox.ring import ring_files


def conversation_files(folder, n_files: int) -> list[int]:
    """n_files ring files of one TCP upload split across them; the bytes of each file's segments."""
    sizes = []
    t = 1.0
    for i in range(1, n_files + 1):
        with PcapngWriter(folder / f"net_{i:05d}_20260101000{i:03d}.pcapng") as w:
            conv = TcpConversation(w, client=("10.0.0.2", 40000 + i), server=("10.0.0.9", 80), t0=t)
            frames = conv.send(b"x" * 5000)
            sizes.append(len(frames))
            t += 10
    return sizes


def test_the_ring_is_read_file_after_file_while_it_grows(tmp_path):
    src = RingSource(tmp_path, "net")
    assert src.poll(100) == [] and not src.done
    assert math.isfinite(src.watermark(100.0))
    conversation_files(tmp_path, 1)
    first = src.poll(10_000)
    assert first and all(s.sport in (40001, 80) for s in first)
    conversation_files(tmp_path, 3)         # dumpcap went on to two more files
    got = []
    for _ in range(20):
        got += src.poll(10_000)
    assert {s.sport for s in got if s.sport != 80} == {40002, 40003}
    assert src.read == ring_files(tmp_path, "net")
    src.finish()
    while not src.done:
        assert src.poll(10_000) == []
    h = src.health()
    assert h.packets == len(first) + len(got) and h.state == "done"
    assert src.watermark(0.0) == math.inf
    src.close()

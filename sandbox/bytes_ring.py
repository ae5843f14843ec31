"""Large bytes on their way to the analyzer worker: a ring of memory both processes share.

Through the request queue a 64 MB body piece is pickled, pushed through a 64 KB pipe and unpickled:
~0.2 s here, spent after the piece's last byte when it ends a message (the leak at the end of an
upload waits for it).  Through the ring it is one copy in and one copy out (~0.045 s).

``dumps`` pickles a batch with every bytes object of ``RING_MIN`` or more put in the ring (a
payload's, or the views of one the session unfolded itself), and only its place in the pickle;
``loads`` takes them out in the same order, and the worker says, on a pipe of its own, up to where
the ring is free again.  Batches are loaded in the order they were dumped, so the ring frees in
order.  Bytes that do not fit now (the worker is behind) are pickled as before: the ring never
makes the session wait.
"""

from __future__ import annotations

import io
import mmap
import os
import pickle
from typing import Any

RING_BYTES = 128 << 20    # two of the largest body pieces (sandbox.protocols.sinks.MAX_BODY_PIECE)
RING_MIN = 1 << 20        # smaller bytes are cheap to pickle: they keep the ring for the large
_END = 8                  # bytes of one "free up to" record on the pipe back (atomic: < PIPE_BUF)

Place = tuple[int, int, int]   # (offset in the ring, size, bytes ever put with this: freed up to there)


class BytesRing:
    """Made before the worker is forked: both ends then share the memory and the pipe back."""

    def __init__(self, size: int = RING_BYTES) -> None:
        self.size = size
        self._mem = mmap.mmap(-1, size)          # shared, anonymous: pages come as they are first used
        self._freed, self._free_w = os.pipe()
        os.set_blocking(self._freed, False)
        self._head = 0     # session: bytes ever put (skips at the wrap included)
        self._tail = 0     # session: bytes the worker has freed

    # -- the session's end ------------------------------------------------------------------------
    def put(self, data: bytes) -> Place | None:
        """Copy ``data`` into the ring; None when it does not fit now."""
        n = len(data)
        self._reclaim()
        at = self._head % self.size
        start = self._head + (self.size - at if at + n > self.size else 0)   # contiguous: skip the wrap
        busy = self._tail < self._head        # bytes the worker has not taken yet lie in [tail, head)
        if n > self.size or (busy and start + n - self._tail > self.size):
            return None
        at = start % self.size
        self._mem[at:at + n] = data
        self._head = start + n
        return at, n, self._head

    def _reclaim(self) -> None:
        try:
            freed = os.read(self._freed, 1 << 16)
        except BlockingIOError:
            return
        if len(freed) >= _END:     # records are whole (atomic writes) and in order: the last says it all
            self._tail = int.from_bytes(freed[-_END:], "little")

    # -- the worker's end ---------------------------------------------------------------------------
    def warm(self) -> None:
        """Fault every page in now (fresh pages cost ~1-3 ms per MB here), so the first large payload
        of a live session is as quick as the next ones.  Reads only: the session may be putting bytes
        in meanwhile."""
        mem = self._mem
        for at in range(0, self.size, mmap.PAGESIZE):
            mem[at]

    def take(self, place: Place) -> bytes:
        """The bytes at ``place``; their place in the ring is free from now on."""
        at, n, end = place
        data = self._mem[at:at + n]
        try:
            os.write(self._free_w, end.to_bytes(_END, "little"))
        except OSError:
            pass        # the session has gone: nobody puts anything more
        return data

    def close(self) -> None:
        for fd in (self._freed, self._free_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._mem.close()


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, ring: BytesRing) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.ring = ring
        self.placed: dict[int, Place] = {}     # one object met twice (a view that is its payload's bytes)

    def persistent_id(self, obj: Any) -> Place | None:
        if type(obj) is not bytes or len(obj) < RING_MIN:
            return None
        place = self.placed.get(id(obj))
        if place is None:
            place = self.ring.put(obj)
            if place is not None:
                self.placed[id(obj)] = place
        return place


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, ring: BytesRing) -> None:
        super().__init__(file)
        self.ring = ring
        self.taken: dict[Place, bytes] = {}

    def persistent_load(self, pid: Any) -> bytes:
        place = tuple(pid)
        if place not in self.taken:
            self.taken[place] = self.ring.take(place)
        return self.taken[place]


def dumps(obj: Any, ring: BytesRing) -> bytes:
    """``obj`` pickled, its large bytes in ``ring`` (those that fit)."""
    out = io.BytesIO()
    _Pickler(out, ring).dump(obj)
    return out.getvalue()


def loads(blob: bytes, ring: BytesRing) -> Any:
    """What ``dumps`` pickled, its bytes taken out of the ring (and freed there)."""
    return _Unpickler(io.BytesIO(blob), ring).load()

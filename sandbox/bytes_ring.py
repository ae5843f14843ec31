"""Large payloads on their way to the analyzer worker: a ring of memory both processes share.

Through the request queue a 64 MB body piece is pickled, pushed through a 64 KB pipe and unpickled:
~0.2 s here, spent after the piece's last byte when it ends a message (the leak at the end of an
upload waits for it).  Through the ring it is one copy in and one copy out (~0.045 s).

The session puts bytes at the ring's head and sends where they are with the request; the worker
copies them out when it reaches that request and says, on a pipe of its own, up to where the ring
is free again.  Requests are handled in order, so the ring frees in order.  A payload that does not
fit (the worker is behind) takes the queue as before: the ring never makes the session wait.
"""

from __future__ import annotations

import dataclasses
import mmap
import os
from dataclasses import dataclass

from sandbox.model import Payload

RING_BYTES = 128 << 20    # two of the largest body pieces (sandbox.protocols.sinks.MAX_BODY_PIECE)
RING_MIN = 1 << 20        # smaller payloads are cheap to pickle: they keep the ring for the large
_END = 8                  # bytes of one "free up to" record on the pipe back (atomic: < PIPE_BUF)


@dataclass(slots=True)
class InRing:
    """A payload whose bytes wait in the ring (``payload.data`` is empty until ``BytesRing.take``)."""

    payload: Payload
    at: int      # offset in the ring
    size: int
    end: int     # bytes ever put, this one included: the ring is free up to here once it is taken


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
    def put(self, payload: Payload) -> InRing | None:
        """Copy ``payload``'s bytes into the ring; None when they do not fit now."""
        n = len(payload.data)
        self._reclaim()
        at = self._head % self.size
        start = self._head + (self.size - at if at + n > self.size else 0)   # contiguous: skip the wrap
        busy = self._tail < self._head        # bytes the worker has not taken yet lie in [tail, head)
        if n > self.size or (busy and start + n - self._tail > self.size):
            return None
        at = start % self.size
        self._mem[at:at + n] = payload.data
        self._head = start + n
        return InRing(dataclasses.replace(payload, data=b""), at, n, self._head)

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

    def take(self, item: InRing) -> Payload:
        """The payload with its bytes back; their place in the ring is free from now on."""
        payload = dataclasses.replace(item.payload, data=self._mem[item.at:item.at + item.size])
        try:
            os.write(self._free_w, item.end.to_bytes(_END, "little"))
        except OSError:
            pass        # the session has gone: nobody puts anything more
        return payload

    def close(self) -> None:
        for fd in (self._freed, self._free_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._mem.close()

"""TLS decrypted while the recording is read: the live form of a replay's decryption, in this process.

A live network tap records the instrument's traffic raw (dumpcap) and its TLS proxy writes the keys
of every session it terminates to an NSS key log.  This source reads the recording's Segments and
hands each on followed by the plaintext of the TLS records its frame completed (``tls_keys``), the
key log re-read as it grows.  Records whose key the proxy has not written yet wait for it (bounded
by ``tls_keys.MAX_PENDING`` and ``KEY_WAIT_S`` of capture time) and keep their own frame, and the
source's watermark stays before them, so the findings are the ones a replay of the finished
recording gives.  Memory is bounded by the connections open at once, whatever the session's length.

The key log is opened once, before the proxy writes to it: the tap may remove it once the keys are
embedded in the recording, and what is left of it is still read.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from sandbox.model import NotExamined, Segment
from sandbox.protocols.tls_keys import KeyLog, NativeDecrypt
from sandbox.session import Source, WrappedSource

# Key log bytes read per poll at most (a session's log grows by a few hundred bytes per connection).
KEYS_READ = 1 << 20


class InlineDecryptingSource(WrappedSource):
    """A live recording's ``Source`` with the TLS plaintext of its frames joined in (see the module)."""

    def __init__(self, raw: Source, keylog: Path) -> None:
        super().__init__(raw)
        self._keys_fd = os.open(keylog, os.O_RDONLY)
        self.keys = KeyLog()
        self.decrypt = NativeDecrypt(self.keys, where=raw.name)
        self._finished = False

    @property
    def position(self) -> int:
        return getattr(self.raw, "position", 0)

    def locate(self, frame: int) -> tuple[str, int]:
        locate = getattr(self.raw, "locate", None)
        return locate(frame) if locate is not None else (self.name, frame)

    def _read_keys(self) -> bool:
        """New lines of the key log, if any."""
        if self._keys_fd < 0:
            return False
        grew = False
        while data := os.read(self._keys_fd, KEYS_READ):
            self.keys.add(data)
            grew = True
            if len(data) < KEYS_READ:
                break
        return grew

    def poll(self, limit: int) -> list[Segment]:
        # the recording first, then the key log: the proxy logged the key of every record read here
        # before that record was sent.  Read the other way round, a session that lags (or is paused
        # between the two reads) would meet whole connections whose keys came in between.
        segments = self.raw.poll(limit)
        out: list[Segment] = []
        if self._read_keys() and self.decrypt.waiting:
            out += self.decrypt.retry()
        for seg in segments:
            out.append(seg)
            out += self.decrypt.feed(seg)
        if self.raw.done and not self._finished:
            self._read_keys()
            out += self.decrypt.retry()
            self.decrypt.finish()
            self._finished = True
        return out

    def watermark(self, now: float) -> float:
        mark = self.raw.watermark(now)
        held = self.decrypt.oldest_pending()
        return min(mark, math.nextafter(held, -math.inf)) if held < math.inf else mark

    def not_examined(self) -> list[NotExamined]:
        return [*self.raw.not_examined(), *self.decrypt.not_examined()]

    def capture_errors(self) -> list[str]:
        return getattr(self.raw, "capture_errors", list)()

    def close(self) -> None:
        if self._keys_fd >= 0:
            os.close(self._keys_fd)
            self._keys_fd = -1
        self.raw.close()

"""TLS decrypted while the recording is written: the live form of ``tls_decrypt``'s one tshark pass.

A live network tap records the instrument's traffic raw (dumpcap) and its TLS proxy writes the keys
of every session it terminates to an NSS key log.  Decrypting that recording as it grows, in a
process of its own, keeps the plaintext copy off the proxy's event loop, and the live session then
reads exactly what the replay of its recording reads: the same frames, the same plaintext.

One tshark reads the recording from a pipe (``tshark -r -``: it dissects a frame as soon as it has
it) and re-reads the key log as it grows (Wireshark looks keys up when it needs them).  Its export
tap writes only at the end, so a small Lua listener of ours (``tls_follow.lua``) writes a record per
frame instead, flushed at once: the frame number, its protocols and each TLS record's plaintext
(``data.data``, kept only under ``tls``).  A record for every frame tells how far tshark has got, so a
raw Segment is handed on only once tshark is past its frame, with that frame's plaintext right after
it, as ``interleave`` does in a replay.  Bounded: tshark is read only while at most ``MAX_BUFFERED``
bytes of plaintext wait; past that the pipe stops it (the recording is on disk; nothing is lost, the
session lags).

Plaintext a STARTTLS protocol (SMTP, IMAP, POP, FTP) takes instead of ``data`` is not in those
records; a TLS proxy never terminates STARTTLS (it passes such connections through, so their keys
are never in its log), and should it ever happen the frames are counted as not examined.

TLS 1.2 writes its key when the proxy has read the client's key exchange, which travels with the
client's first encrypted record: tshark is given the recording ``KEYS_HEAD_START_S`` after dumpcap
wrote it, so the key is in the log before tshark needs it.
"""

from __future__ import annotations

import collections
import math
import os
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sandbox.model import NotExamined, Segment
from sandbox.protocols.tls_decrypt import STARTTLS_PROTOCOLS, TlsDecryptError, command
from sandbox.session import Source, SourceHealth

# The proxy writes a TLS 1.2 key once it has read the client's key exchange; the client's first
# encrypted record is in the same flight: tshark gets the recording this long after it was written.
KEYS_HEAD_START_S = 0.1
# Plaintext read from tshark and not yet handed on; beyond it tshark waits (a lagging session).
MAX_BUFFERED = 32 << 20
# How often the feeder looks at the recording's size.
FEED_POLL_S = 0.02
# Bytes handed to tshark's pipe per call.
FEED_CHUNK = 1 << 20
# Characters of tshark's complaints kept for the report.
MAX_ERROR = 500
STARTTLS = {p.encode() for p in STARTTLS_PROTOCOLS}
WHAT_HANDED_OFF = "TLS plaintext tshark handed to"
WHAT_UNNAMED = "TLS plaintext in frames whose TCP segment the reader did not decode"
LUA_LISTENER = Path(__file__).with_name("tls_follow.lua")
RECORD_HEAD = struct.Struct(">IH")     # frame number, length of its protocols
COUNT = struct.Struct(">I")
# A frame completes a few TLS records (each at most 16 KiB + 2 KiB); beyond these it is not tshark.
MAX_PIECES = 65536
MAX_PIECE = 1 << 20
# Bytes of the listener's output read at a time.
READ_BYTES = 1 << 20
# tshark's pipes (Linux's default is 64 KiB; 1 MiB is what any user may ask for): with 64 KiB, each
# read of tshark's output waited for the reader thread to get the GIL back from the dissecting
# thread, and tshark, blocked on its writes, decrypted ~50 MB/s of a 125 MB/s upload.
PIPE_BYTES = 1 << 20
WHAT_BLIND = "TLS plaintext: decrypting the recording while it was written failed"


def followed_command(keylog: Path, tshark: str = "tshark") -> list[str]:
    """``tls_decrypt.command`` reading stdin, writing our Lua listener's records instead of exporting PDUs."""
    return command("-", keylog, tshark, output=("-q", "-X", f"lua_script:{LUA_LISTENER}"))


def layers_read(protocols: bytes) -> str:
    """The STARTTLS protocol a frame's TLS plaintext went to instead of ``data`` (its bytes are not in
    our records), or ""."""
    layers = protocols.split(b":")
    if b"tls" not in layers:
        return ""
    return next((p.decode() for p in layers[layers.index(b"tls") + 1:] if p in STARTTLS), "")


class RecordParser:
    """The listener's byte stream in, frames' records out (sans-IO: any cut of the stream gives the
    same records): (frame number, the plaintext records it completed, ``layers_read`` of its
    protocols).  ``ValueError`` on bytes that are not records."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, list[bytes], str]]:
        buf = self.buf
        buf += data
        out: list[tuple[int, list[bytes], str]] = []
        pos, end = 0, len(buf)
        head, count_size = RECORD_HEAD.size, COUNT.size
        while pos + head + count_size <= end:
            frame, size = RECORD_HEAD.unpack_from(buf, pos)
            at = pos + head + size
            if at + count_size > end:
                break
            (count,) = COUNT.unpack_from(buf, at)
            if count > MAX_PIECES:
                raise ValueError(f"{count} pieces in one frame")
            at += count_size
            pieces: list[bytes] = []
            for _ in range(count):
                if at + count_size > end:
                    break
                (length,) = COUNT.unpack_from(buf, at)
                if length > MAX_PIECE:
                    raise ValueError(f"a piece of {length} bytes")
                if at + count_size + length > end:
                    break
                pieces.append(bytes(buf[at + count_size: at + count_size + length]))
                at += count_size + length
            if len(pieces) < count:
                break              # the rest of this record is still to come
            other = layers_read(bytes(buf[pos + head: pos + head + size])) if size else ""
            out.append((frame, pieces, other))
            pos = at
        del buf[:pos]
        return out

    def end(self) -> None:
        """The stream ended: ``ValueError`` if it ended inside a record."""
        if self.buf:
            raise ValueError(f"a record cut short ({len(self.buf)} bytes left)")


class FollowedDecrypt:
    """tshark decrypting a growing recording (``files()``: its files so far, in order) with a key log."""

    def __init__(self, files: Callable[[], list[Path]], keylog: Path, tshark: str = "tshark",
                 head_start: float = KEYS_HEAD_START_S) -> None:
        self.files = files
        self.keylog = Path(keylog)
        self.head_start = head_start
        self.progress = 0                 # the last frame tshark printed
        self.ready: collections.deque[tuple[int, bytes]] = collections.deque()   # (frame, plaintext)
        self.buffered = 0
        self.error: str | None = None
        self.handed_off: dict[str, int] = {}    # protocol -> frames whose plaintext went there, unread
        self.done = False                 # tshark ended and everything it printed is in ``ready``
        self._remove_keylog = False
        self._finishing = threading.Event()
        self._cond = threading.Condition()
        self._errf = tempfile.TemporaryFile()
        self.keylog.touch(mode=0o600, exist_ok=True)      # tshark opens it at start; it grows later
        try:
            self.proc = subprocess.Popen(followed_command(self.keylog, tshark), stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self._errf, pipesize=PIPE_BYTES)
        except (OSError, TlsDecryptError) as exc:
            self._errf.close()
            raise TlsDecryptError(str(exc)) from None
        self._feeder = threading.Thread(target=self._feed, name="tls-follow-feed", daemon=True)
        self._reader = threading.Thread(target=self._read, name="tls-follow-read", daemon=True)
        self._feeder.start()
        self._reader.start()

    # -- the two threads -------------------------------------------------------------------------
    def _feed(self) -> None:
        """Pipe the recording's bytes to tshark as they age past the head start, file after file."""
        sink = self.proc.stdin
        assert sink is not None
        done: list[Path] = []
        try:
            while True:
                files = [p for p in self.files() if p not in done]
                if not files:
                    if self._finishing.is_set():
                        break
                    time.sleep(FEED_POLL_S)
                    continue
                path = files[0]
                self._pipe_file(path, sink.fileno(), done)
                done.append(path)
        except BrokenPipeError:
            pass              # tshark ended: the reader says why
        except OSError as exc:
            self._fail(f"feeding tshark: {exc}")
        finally:
            try:
                sink.close()
            except OSError:
                pass

    def _closed(self, path: Path, done: list[Path]) -> bool:
        """Whether ``path`` is complete: a newer file exists (dumpcap closed this one), or the writer stopped."""
        if self._finishing.is_set():
            return True
        return any(p != path and p not in done for p in self.files())

    def _pipe_file(self, path: Path, out: int, done: list[Path]) -> None:
        sizes: collections.deque[tuple[float, int]] = collections.deque()
        sent = 0
        with open(path, "rb") as f:
            while True:
                now = time.monotonic()
                final = self._closed(path, done)
                size = os.fstat(f.fileno()).st_size
                sizes.append((now, size))
                while len(sizes) > 1 and sizes[1][0] <= now - self.head_start:
                    sizes.popleft()
                upto = size if final else (sizes[0][1] if sizes[0][0] <= now - self.head_start else sent)
                while sent < upto:
                    n = os.sendfile(out, f.fileno(), sent, min(FEED_CHUNK, upto - sent))
                    if n == 0:
                        break
                    sent += n
                if final and sent >= os.fstat(f.fileno()).st_size:
                    return
                if self.proc.poll() is not None:
                    return
                time.sleep(FEED_POLL_S)

    def _read(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        parser = RecordParser()
        try:
            while True:
                data = os.read(stream.fileno(), READ_BYTES)
                try:
                    if not data:
                        parser.end()
                        break
                    records = parser.feed(data)
                except ValueError as exc:
                    self._fail(f"tshark's records are damaged: {exc}")
                    self.proc.kill()
                    break
                if not records:
                    continue
                pieces = [(frame, p) for frame, ps, _ in records for p in ps]
                size = sum(len(p) for _, p in pieces)
                with self._cond:
                    while self.buffered + size > MAX_BUFFERED and self.ready:
                        self._cond.wait()     # the session catches up; tshark waits on its pipe
                    self.ready.extend(pieces)
                    self.buffered += size
                    self.progress = records[-1][0]
                    for _, _, other in records:
                        if other:
                            self.handed_off[other] = self.handed_off.get(other, 0) + 1
        finally:
            code = self.proc.wait()
            if code != 0:
                self._errf.seek(0)
                err = " ".join(ln for ln in self._errf.read().decode("utf-8", "replace").splitlines()
                               if "Running as user" not in ln)
                self._fail(f"tshark exited {code}: {err[:MAX_ERROR]}")
            with self._cond:
                self.done = True
                self.progress = math.inf      # every frame is printed (or tshark failed: said, not waited on)
                self._cond.notify_all()
                if self._remove_keylog:
                    self.keylog.unlink(missing_ok=True)

    def _fail(self, why: str) -> None:
        if self.error is None:
            self.error = why

    # -- the session's side ----------------------------------------------------------------------
    def take(self, upto: float) -> list[tuple[int, bytes]]:
        """The plaintext of frames up to ``upto``, in frame order."""
        out: list[tuple[int, bytes]] = []
        with self._cond:
            ready = self.ready
            while ready and ready[0][0] <= upto:
                item = ready.popleft()
                self.buffered -= len(item[1])
                out.append(item)
            if out:
                self._cond.notify_all()
        return out

    def finish(self) -> None:
        """The recording is complete: pipe the rest, then tshark ends."""
        self._finishing.set()

    def remove_keylog_when_done(self) -> None:
        """The key log is kept elsewhere now (in the recording): remove it once tshark has read it
        (it looks keys up by the file's name: removed earlier, the rest would not be decrypted)."""
        with self._cond:
            self._remove_keylog = True
            if self.done:
                self.keylog.unlink(missing_ok=True)

    def handed_off_frames(self) -> list[tuple[str, int]]:
        """(STARTTLS protocol, frames whose plaintext it took), as the reader has counted them so far."""
        with self._cond:
            return sorted(self.handed_off.items())

    @property
    def pid(self) -> int:
        return self.proc.pid

    def close(self) -> None:
        self._finishing.set()
        if self.proc.poll() is None:
            self.proc.kill()
        with self._cond:
            self.ready.clear()
            self.buffered = 0
            self._cond.notify_all()
        self._reader.join(timeout=5)
        self._feeder.join(timeout=5)
        self._errf.close()
        if self._remove_keylog:
            self.keylog.unlink(missing_ok=True)


class DecryptingSource:
    """A live recording's Source with the TLS plaintext of its frames joined in (see the module)."""

    def __init__(self, raw: Source, decrypt: FollowedDecrypt) -> None:
        self.raw = raw
        self.decrypt = decrypt
        self.name = raw.name
        self.done = False
        self._waiting: collections.deque[Segment] = collections.deque()   # raw, past tshark's progress
        self._last: Segment | None = None      # the last raw TCP Segment handed on: names its plaintext
        self.unnamed = [0, 0]                  # plaintext records, bytes in frames without a TCP Segment of ours

    @property
    def channel(self) -> str:
        return self.raw.channel

    @property
    def position(self) -> int:
        return getattr(self.raw, "position", 0)

    def pids(self) -> list[int]:
        """The processes doing this source's analysis (a live session lowers their priority)."""
        return [self.decrypt.pid]

    def locate(self, frame: int) -> tuple[str, int]:
        locate = getattr(self.raw, "locate", None)
        return locate(frame) if locate is not None else (self.name, frame)

    def poll(self, limit: int) -> list[Segment]:
        if self.done:
            return []
        if len(self._waiting) < limit:
            self._waiting.extend(self.raw.poll(limit))
        progress = self.decrypt.progress
        out: list[Segment] = []
        waiting = self._waiting
        while waiting and waiting[0].frame <= progress and len(out) < limit:
            seg = waiting.popleft()
            self._plaintext(seg.frame - 1, out)
            out.append(seg)
            if seg.transport == "tcp":
                self._last = seg
            self._plaintext(seg.frame, out)
        if waiting and waiting[0].frame > progress:
            # plaintext of frames before the next raw Segment has no Segment to follow: counted now,
            # so a full buffer of it cannot stop tshark while the session waits for tshark
            self._plaintext(min(progress, waiting[0].frame - 1), out)
        if not waiting and self.raw.done:
            self._plaintext(progress, out)
            if self.decrypt.done:
                self._plaintext(math.inf, out)
                self.done = True
        return out

    def _plaintext(self, upto: float, out: list[Segment]) -> None:
        """Plaintext of frames up to ``upto``, named by its frame's TCP Segment (as ``interleave``)."""
        last = self._last
        for frame, data in self.decrypt.take(upto):
            if last is None or last.frame != frame:   # no TCP Segment of ours in that frame: counted, said
                self.unnamed[0] += 1
                self.unnamed[1] += len(data)
                continue
            out.append(Segment(t=last.t, channel=last.channel, transport="tls", src=last.src, sport=last.sport,
                               dst=last.dst, dport=last.dport, data=data, frame=frame))

    def watermark(self, now: float) -> float:
        if self.done:
            return math.inf
        mark = self.raw.watermark(now)
        if self._waiting:
            mark = min(mark, math.nextafter(self._waiting[0].t, -math.inf))
        return mark

    def finish(self) -> None:
        self.raw.finish()
        self.decrypt.finish()

    def health(self) -> SourceHealth:
        health = self.raw.health()
        if self.decrypt.error:
            health.errors = [*health.errors, f"TLS decryption: {self.decrypt.error}"]
        return health

    def not_examined(self) -> list[NotExamined]:
        blind = list(self.raw.not_examined())
        if self.decrypt.error:
            blind.append(NotExamined(where=self.name, what=f"{WHAT_BLIND}: {self.decrypt.error}", packets=0, bytes=0))
        for proto, frames in self.decrypt.handed_off_frames():
            blind.append(NotExamined(where=self.name, what=f"{WHAT_HANDED_OFF} {proto} (STARTTLS)", packets=frames,
                                     bytes=0))
        if self.unnamed[0]:
            blind.append(NotExamined(where=self.name, what=WHAT_UNNAMED, packets=self.unnamed[0], bytes=self.unnamed[1]))
        return blind

    def capture_errors(self) -> list[str]:
        errors = getattr(self.raw, "capture_errors", list)()
        return [*errors, f"TLS decryption: {self.decrypt.error}"] if self.decrypt.error else errors

    def close(self) -> None:
        self.decrypt.close()
        self.raw.close()

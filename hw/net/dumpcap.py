"""The raw recording: dumpcap on the instrument-facing interface, then the TLS keys injected into it.

dumpcap writes pcapng with a large kernel buffer (``-B``) so a burst does not drop packets, and
counts what it dropped in its Interface Statistics Blocks (the session reads them).  At the end
the key log mitmproxy wrote is embedded as a Decryption Secrets Block (as ``editcap --inject-secrets``
does, but keeping the statistics blocks editcap drops), so ``sandbox replay`` and Wireshark decrypt
the recording on their own and count its drops.

A single file is written through a pipe (``dumpcap -w - | tee FILE``): dumpcap flushes a pipe after
every batch of packets, a file only every 500 ms (measured on loopback: a packet in the file 0.12 s
after it was sent through the pipe, 0.38-0.62 s written directly), and the live session reads the
file.  Writing directly would halve the recorder's CPU; the pipe keeps the findings within a second.
A ring buffer is dumpcap's own files.

A ``sided`` recording is made on Linux's "any" device, filtered to the interface by its index, as
Linux cooked v2: its header says, packet by packet, whether the rig received it there (it came from
the instrument's side, whatever address it names) or sent it (``--instrument link:IFINDEX``).  An
interface's own link type (Ethernet) does not say, and MAC addresses are the instrument's to forge.
"""

from __future__ import annotations

import bisect
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from hw.net.procs import STOP_TIMEOUT_S, spawn, stop
from hw.tap import TapError
from sandbox.ring import ring_files, ring_number

BUFFER_MB = 256          # kernel capture buffer: ~2 s of a saturated 1 Gbit/s link
START_TIMEOUT_S = 20.0   # dumpcap opens the interface and writes its header well within this
SETTLE_S = 0.3           # before stopping: the kernel hands dumpcap the last packets in flight
SHB_MIN = 28             # a complete Section Header Block: dumpcap has started writing
KEYS_POLL_S = 0.25       # how often a ring's key timeline looks at the key log and the newest file


class KeyTimeline:
    """Which ring files dumpcap was writing while each stretch of the key log was written.

    Looked at every ``KEYS_POLL_S`` (a thread) and once more at the end: the lines written between two
    looks belong to every file that was the newest in between (a rotation between looks puts them in
    both files: a bounded copy, never a key in too late a file only).  Memory: a stretch per rotation.
    """

    def __init__(self, keylog: Path, files: Callable[[], list[Path]]) -> None:
        self.keylog, self._files = Path(keylog), files
        self.stretches: list[tuple[int, int, int]] = []    # (key log size, first file, last file), by size
        self._size = 0
        self._newest = self._newest_number(0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _newest_number(self, default: int) -> int:
        files = self._files()
        return ring_number(files[-1]) if files else default

    def look(self) -> None:
        """Note how far the key log has grown and which file is the newest now."""
        try:
            size = self.keylog.stat().st_size
        except OSError:
            size = self._size
        newest = max(self._newest, self._newest_number(self._newest))   # numbers only grow
        if size > self._size:
            span = (self._newest, newest)
            if self.stretches and self.stretches[-1][1:] == span:
                self.stretches[-1] = (size, *span)
            else:
                self.stretches.append((size, *span))
        self._size, self._newest = max(size, self._size), newest

    def files_for(self, end: int) -> tuple[int, int]:
        """The ring numbers (first, last) of the files a key line ending at byte ``end`` belongs to."""
        i = bisect.bisect_left(self.stretches, (end, -1, -1))
        if i == len(self.stretches):            # written after the last look: the newest file
            return self._newest, self._newest
        return self.stretches[i][1], self.stretches[i][2]

    def start(self) -> None:
        def run() -> None:
            while not self._stop.wait(KEYS_POLL_S):
                self.look()

        self._thread = threading.Thread(target=run, name="key-timeline", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop looking (the writers have stopped): one last look covers every line."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.look()

    def split(self, files: list[Path]) -> dict[Path, bytes]:
        """The key log's lines for each of ``files`` (those dumpcap deleted get none)."""
        by_number = {ring_number(p): p for p in files}
        out: dict[Path, bytearray] = {p: bytearray() for p in files}
        end = 0
        with open(self.keylog, "rb") as log:
            for line in log:
                end += len(line)
                first, last = self.files_for(end)
                line = line if line.endswith(b"\n") else line + b"\n"
                for number in range(first, last + 1):
                    if number in by_number:
                        out[by_number[number]] += line
        return {p: bytes(b) for p, b in out.items()}


def ifindex(iface: str, netns: str | None = None) -> int:
    """The kernel's index of ``iface`` (in ``netns``); TapError when there is no such interface."""
    cmd = (["ip", "netns", "exec", netns] if netns else []) + ["ip", "-j", "link", "show", "dev", iface]
    done = subprocess.run(cmd, capture_output=True, text=True)
    try:
        return int(json.loads(done.stdout)[0]["ifindex"])
    except (ValueError, LookupError, TypeError):
        why = done.stderr.strip().splitlines()[0] if done.stderr.strip() else "ip gave no index"
        raise TapError(f"no interface {iface}" + (f" in {netns}" if netns else "") + f": {why}") from None


class Dumpcap:
    def __init__(self, iface: str, out: Path, bpf: str = "", netns: str | None = None,
                 buffer_mb: int = BUFFER_MB, ring: tuple[int, int] | None = None, sided: bool = False) -> None:
        self.iface, self.out, self.bpf, self.netns, self.buffer_mb = iface, Path(out), bpf, netns, buffer_mb
        self.sided = sided
        self.ifindex: int | None = None      # the sided recording's interface, as its packets name it
        self.ring = ring       # (MB per file, files kept or 0 for all): STEM_NNNNN_TIME.pcapng
        self.proc: subprocess.Popen | None = None
        self.writer: subprocess.Popen | None = None     # tee: the pipe into the file (single-file recordings)
        self.log = self.out.with_name(self.out.stem + "-dumpcap.log")
        self.keys: KeyTimeline | None = None          # a ring's: which file gets which keys

    def follow_keys(self, keylog: Path) -> None:
        """A ring recording: note, while it runs, which files each of ``keylog``'s keys belong in."""
        if self.ring is not None:
            self.keys = KeyTimeline(keylog, self.files)
            self.keys.start()

    def files(self) -> list[Path]:
        """The recording's files: the one file, or the ring's in order."""
        if self.ring is None:
            return [self.out] if self.out.exists() else []
        return ring_files(self.out.parent, self.out.stem)

    def start(self) -> None:
        if shutil.which("dumpcap") is None:
            raise TapError("dumpcap is missing: install Wireshark's dumpcap (Debian: apt-get install tshark)")
        piped = self.ring is None
        if piped and shutil.which("tee") is None:
            raise TapError("tee is missing: install coreutils")
        bpf = self.bpf
        if self.sided:
            self.ifindex = ifindex(self.iface, self.netns)
            bpf = f"ifindex {self.ifindex}" + (f" and ({bpf})" if bpf else "")
        device = ["-i", "any", "-y", "LINUX_SLL2"] if self.sided else ["-i", self.iface]
        cmd = ["dumpcap", "-q", "-B", str(self.buffer_mb), *device, "-w", "-" if piped else str(self.out)]
        if bpf:
            cmd += ["-f", bpf]
        if self.ring is not None:
            size_mb, files = self.ring
            cmd += ["-b", f"filesize:{size_mb * 1000}"] + (["-b", f"files:{files}"] if files else [])
        if piped:
            os.close(os.open(self.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))    # private before a byte
        with open(self.log, "wb") as log:
            self.proc = spawn(cmd, netns=self.netns, stdout=subprocess.PIPE if piped else subprocess.DEVNULL,
                              stderr=log)
        if piped:
            assert self.proc.stdout is not None
            self.writer = spawn(["tee", "--", str(self.out)], stdin=self.proc.stdout, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
            self.proc.stdout.close()      # tee holds the pipe: dumpcap gets SIGPIPE if tee dies
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ((files := self.files()) and files[0].stat().st_size >= SHB_MIN):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                stop(self.proc)
                stop(self.writer)
                raise TapError(f"dumpcap cannot record on {self.iface}: {self._reason()}")
            time.sleep(0.05)
        os.chmod(files[0], 0o600)

    def _reason(self) -> str:
        lines = [ln.strip() for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        lines = [ln for ln in lines if not ln.startswith(("Capturing on", "File:", "Running as"))]
        return lines[0] if lines else "it exited without saying why"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            time.sleep(SETTLE_S)
        stop(self.proc, signal.SIGINT)     # dumpcap writes its statistics (drops) and closes the file
        if self.writer is not None and self.writer.poll() is None:
            try:
                self.writer.wait(STOP_TIMEOUT_S)    # tee ends at the pipe's end, the file complete
            except subprocess.TimeoutExpired:
                stop(self.writer)
        if self.keys is not None:
            self.keys.stop()

    def inject_secrets(self, keylog: Path) -> str | None:
        """Embed ``keylog`` in the recording's files (each atomically; a ring's files each with its own
        keys); None, or why it could not be."""
        from sandbox.captures.pcapng import MAX_SECRETS, inject_secrets

        files = self.files()
        if not keylog.exists() or keylog.stat().st_size == 0 or not files:
            return None
        if self.keys is not None and self.keys.keylog == keylog:
            per_file = self.keys.split(files)
            largest = max(len(secrets) for secrets in per_file.values())
        else:
            largest = keylog.stat().st_size
            per_file = dict.fromkeys(files, keylog.read_bytes()) if largest <= MAX_SECRETS else {}
        if largest > MAX_SECRETS:        # a replay would read none of them past its bound
            where = " for one ring file" if self.keys is not None else ""
            return (f"the TLS key log ({largest >> 20} MB{where}) is more than a recording file carries "
                    f"({MAX_SECRETS >> 20} MB): it stays beside the recording as {keylog.name}; "
                    f"replay with --tls-keylog {keylog.name}")
        for path, secrets in per_file.items():
            if not secrets:
                continue
            tmp = path.with_name(path.name + ".tmp")
            try:
                os.chmod(path, 0o600)
                with open(path, "rb") as src, open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                                                    "wb") as dst:
                    inject_secrets(src, dst, secrets)
                os.replace(tmp, path)
            except (OSError, ValueError) as exc:
                tmp.unlink(missing_ok=True)
                return f"could not embed the TLS keys in {path.name}: {getattr(exc, 'strerror', None) or exc}"
        return None

"""The raw recording: dumpcap on the instrument-facing interface, then the TLS keys injected into it.

dumpcap writes pcapng with a large kernel buffer (``-B``) so a burst does not drop packets, and
counts what it dropped in its Interface Statistics Blocks (the session reads them).  At the end
the key log mitmproxy wrote is embedded as a Decryption Secrets Block (as ``editcap --inject-secrets``
does, but keeping the statistics blocks editcap drops), so ``sandbox replay`` and Wireshark decrypt
the recording on their own and count its drops.

A single file is written through a pipe (``dumpcap -w - | tee FILE``): dumpcap flushes a pipe after
every batch of packets, a file only every few hundred milliseconds (measured on loopback: a packet in
the file 0.13 s after it was sent through the pipe, 0.38 s written directly), and the live session
reads the file.  A ring buffer is dumpcap's own files.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from hw.net.procs import STOP_TIMEOUT_S, spawn, stop
from hw.tap import TapError

BUFFER_MB = 256          # kernel capture buffer: ~2 s of a saturated 1 Gbit/s link
START_TIMEOUT_S = 20.0   # dumpcap opens the interface and writes its header well within this
SETTLE_S = 0.3           # before stopping: the kernel hands dumpcap the last packets in flight
SHB_MIN = 28             # a complete Section Header Block: dumpcap has started writing


class Dumpcap:
    def __init__(self, iface: str, out: Path, bpf: str = "", netns: str | None = None,
                 buffer_mb: int = BUFFER_MB, ring: tuple[int, int] | None = None) -> None:
        self.iface, self.out, self.bpf, self.netns, self.buffer_mb = iface, Path(out), bpf, netns, buffer_mb
        self.ring = ring       # (MB per file, files kept or 0 for all): STEM_NNNNN_TIME.pcapng
        self.proc: subprocess.Popen | None = None
        self.writer: subprocess.Popen | None = None     # tee: the pipe into the file (single-file recordings)
        self.log = self.out.with_name(self.out.stem + "-dumpcap.log")

    def files(self) -> list[Path]:
        """The recording's files: the one file, or the ring's in order."""
        if self.ring is None:
            return [self.out] if self.out.exists() else []
        from sandbox.ring import ring_files

        return ring_files(self.out.parent, self.out.stem)

    def start(self) -> None:
        if shutil.which("dumpcap") is None:
            raise TapError("dumpcap is missing: install Wireshark's dumpcap (Debian: apt-get install tshark)")
        piped = self.ring is None
        if piped and shutil.which("tee") is None:
            raise TapError("tee is missing: install coreutils")
        cmd = ["dumpcap", "-q", "-B", str(self.buffer_mb), "-i", self.iface, "-w", "-" if piped else str(self.out)]
        if self.bpf:
            cmd += ["-f", self.bpf]
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

    def inject_secrets(self, keylog: Path) -> str | None:
        """Embed ``keylog`` in the recording's files (each atomically); None, or why it could not be."""
        from sandbox.captures.pcapng import MAX_SECRETS, inject_secrets

        files = self.files()
        if not keylog.exists() or keylog.stat().st_size == 0 or not files:
            return None
        if keylog.stat().st_size > MAX_SECRETS:      # a replay would read none of them past its bound
            return (f"the TLS key log ({keylog.stat().st_size >> 20} MB) is more than a recording carries "
                    f"({MAX_SECRETS >> 20} MB): it stays beside the recording as {keylog.name}; "
                    f"replay with --tls-keylog {keylog.name}")
        secrets = keylog.read_bytes()
        for path in files:
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

"""mitmdump with our addon, from mitmproxy's own environment (``.venv-mitmproxy``, made by ``make setup``)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from hw.tap import TapError

REPO = Path(__file__).resolve().parents[2]
ADDON = Path(__file__).with_name("addon.py")
MODES = ("regular", "transparent", "wireguard", "socks5")   # and upstream:URL
# Response bodies larger than this are streamed through mitmproxy (the rig never needs them whole).
STREAM_LARGE_BODIES = "1m"


def mitmdump() -> str:
    """``$SANDBOX_MITMDUMP``, else the project's mitmproxy environment, else one on PATH."""
    for candidate in (os.environ.get("SANDBOX_MITMDUMP"), REPO / ".venv-mitmproxy" / "bin" / "mitmdump",
                      shutil.which("mitmdump")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise TapError("mitmproxy is not installed: run `make setup` (it makes .venv-mitmproxy/)")


def check_mode(mode: str) -> str:
    """A mode as mitmproxy spells it; ``TapError`` for one we do not run."""
    if mode in MODES or (mode.startswith("upstream:") and "://" in mode):
        return mode
    raise TapError(f"unknown mode {mode!r}: regular, transparent, wireguard, upstream:URL or socks5")


@dataclass
class MitmOptions:
    mode: str
    host: str
    port: int
    confdir: Path
    feed: Path | None      # None: the addon records nothing (the session decrypts the raw recording)
    ready: Path
    judge: Path | None = None
    upstream_ca: Path | None = None
    resolve: dict[str, str] | None = None

    def command(self) -> list[str]:
        cmd = [mitmdump(), "--mode", self.mode, "--listen-host", self.host,
               "--listen-port", str(self.port), "--set", f"confdir={self.confdir}",
               "--set", "termlog_verbosity=warn", "--set", "flow_detail=0",
               "-s", str(ADDON), "--set", f"sandbox_ready={self.ready}"]
        if self.feed is not None:
            cmd += ["--set", f"sandbox_feed={self.feed}"]
        if self.upstream_ca is not None:   # the bench's own servers, signed by its own CA
            cmd += ["--set", f"ssl_verify_upstream_trusted_ca={self.upstream_ca}"]
        if self.resolve:                   # names only the bench knows (its own servers)
            cmd += ["--set", "sandbox_resolve=" + ",".join(f"{name}={addr}" for name, addr in self.resolve.items())]
        if self.judge is not None:
            # held requests are judged whole: nothing streams past the judge; upstream only after
            cmd += ["--set", f"sandbox_judge={self.judge}", "--set", "connection_strategy=lazy"]
        else:
            cmd += ["--set", f"stream_large_bodies={STREAM_LARGE_BODIES}"]
        return cmd

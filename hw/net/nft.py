"""Transparent mode's nftables rules: the instrument's TCP goes to mitmproxy; always torn down.

One table of our own (``sbx_tap_<pid>``), so nothing else's rules are touched and teardown is one
``delete table``.  Run inside the namespace given (``ip netns exec``), else on this host.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from hw.net.procs import netns_prefix
from hw.tap import TapError


class Redirect:
    def __init__(self, iface: str, port: int, netns: str | None = None, table: str | None = None) -> None:
        self.iface, self.port, self.netns = iface, port, netns
        self.table = table or f"sbx_tap_{os.getpid()}"
        self.installed = False

    def ruleset(self) -> str:
        return (f"table inet {self.table} {{\n"
                f"  chain prerouting {{\n"
                f"    type nat hook prerouting priority dstnat; policy accept;\n"
                f"    iifname \"{self.iface}\" meta l4proto tcp redirect to :{self.port}\n"
                f"  }}\n"
                f"}}\n")

    def _nft(self, args: list[str], script: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([*netns_prefix(self.netns), "nft", *args], input=script, capture_output=True,
                              text=True, check=False)

    def check(self) -> None:
        """Before anything starts: nft is there and may change rules here (CAP_NET_ADMIN)."""
        if shutil.which("nft") is None:
            raise TapError("transparent mode needs nftables' nft (Debian: apt-get install nftables)")
        self._raise(self._nft(["list", "tables"]))

    def install(self) -> None:
        self._raise(self._nft(["-f", "-"], self.ruleset()))
        self.installed = True

    def _raise(self, res: subprocess.CompletedProcess) -> None:
        if res.returncode == 0:
            return
        why = (res.stderr.strip().splitlines() or ["nft failed"])[0]
        if "Operation not permitted" in why or "Permission denied" in why:
            raise TapError("transparent mode needs CAP_NET_ADMIN to set up its redirect (run as root)")
        raise TapError(f"cannot set up the transparent redirect on {self.iface}: {why}")

    def remove(self) -> None:
        if self.installed:
            self._nft(["delete", "table", "inet", self.table])
            self.installed = False

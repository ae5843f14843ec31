"""Transparent mode's nftables rules: the instrument's TCP goes to mitmproxy; always torn down.

QUIC cannot go through mitmproxy in transparent mode, and forwarded as it is, HTTP/3 would carry data
past the proxy encrypted with keys the rig never sees.  So it is refused (ICMP port unreachable, as a
firewall without UDP 443 answers): HTTP/3 clients then fall back to TCP, which goes to mitmproxy.
Refused are UDP 443 and a QUIC long header (an Initial: the handshake) on any port but DNS's, since a
server can announce HTTP/3 on any port (Alt-Svc).  The refused Initials are still in the recording.
Other UDP (DNS, NTP, ...) is forwarded and recorded as before.

One table of our own (``sbx_tap_<pid>``), so nothing else's rules are touched and teardown is one
``delete table``.  Run inside the namespace given (``ip netns exec``), else on this host.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from hw.net.procs import netns_prefix
from hw.tap import TapError
from sandbox.protocols.quic import IETF_VERSIONS


class Redirect:
    def __init__(self, iface: str, port: int, netns: str | None = None, table: str | None = None) -> None:
        self.iface, self.port, self.netns = iface, port, netns
        self.table = table or f"sbx_tap_{os.getpid()}"
        self.installed = False

    def ruleset(self) -> str:
        versions = ", ".join(f"{v:#010x}" for v in IETF_VERSIONS)
        return (f"table inet {self.table} {{\n"
                f"  chain prerouting {{\n"
                f"    type nat hook prerouting priority dstnat; policy accept;\n"
                f"    iifname \"{self.iface}\" meta l4proto tcp redirect to :{self.port}\n"
                f"  }}\n"
                f"  chain quic {{\n"
                f"    type filter hook forward priority filter; policy accept;\n"
                f"    iifname \"{self.iface}\" udp dport 443 reject\n"
                f"    iifname \"{self.iface}\" udp dport != 53 @ih,0,2 3 @ih,8,32 {{ {versions} }} reject\n"
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

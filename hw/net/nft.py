"""Transparent mode's netfilter rules: the instrument's TCP goes to mitmproxy; always torn down.

QUIC cannot go through mitmproxy in transparent mode, and forwarded as it is, HTTP/3 would carry data
past the proxy encrypted with keys the rig never sees.  So it is refused (ICMP port unreachable, as a
firewall without UDP 443 answers): HTTP/3 clients then fall back to TCP, which goes to mitmproxy.
Refused are UDP 443 and a QUIC long header (an Initial: the handshake) on any port but DNS's, since a
server can announce HTTP/3 on any port (Alt-Svc).  The refused Initials are still in the recording.
Other UDP (DNS, NTP, ...) is forwarded and recorded as before.

With ``--block`` (``Redirect(hold=True)`` and ``HoldRules``) nothing the rig cannot judge leaves:
the instrument's other UDP, its ICMP (echo and errors carry what their sender likes), and DNS it
sends to the rig itself wait in a
kernel queue for the judge (``hw.net.nfqueue``), and IP protocols the analysis cannot open (GRE,
ESP, SCTP, ...) are dropped; what it sent is in the recording all the same.  The queue rules are
iptables' (``-j NFQUEUE``, through nf_tables' xtables compatibility): nftables' own ``queue``
statement is a module many kernels (this project's CI's among them) are built without.

One table of our own (``sbx_tap_<pid>``), and for the queue one chain of our own in iptables'
``filter`` tables, so nothing else's rules are touched and teardown is one ``delete table`` and one
chain.  Run inside the namespace given (``ip netns exec``), else on this host.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from hw.net.procs import netns_prefix
from hw.tap import TapError
from sandbox.protocols.quic import IETF_VERSIONS


class Redirect:
    def __init__(self, iface: str, port: int, netns: str | None = None, table: str | None = None,
                 hold: bool = False) -> None:
        self.iface, self.port, self.netns, self.hold = iface, port, netns, hold
        self.table = table or f"sbx_tap_{os.getpid()}"
        self.installed = False

    def ruleset(self) -> str:
        versions = ", ".join(f"{v:#010x}" for v in IETF_VERSIONS)
        # before iptables' filter chains (priority filter), where the queue rules are
        unopened = (f"    iifname \"{self.iface}\" meta l4proto != {{ tcp, udp, icmp, ipv6-icmp }} drop\n"
                    if self.hold else "")
        return (f"table inet {self.table} {{\n"
                f"  chain prerouting {{\n"
                f"    type nat hook prerouting priority dstnat; policy accept;\n"
                f"    iifname \"{self.iface}\" meta l4proto tcp redirect to :{self.port}\n"
                f"  }}\n"
                f"  chain forward {{\n"
                f"    type filter hook forward priority filter - 10; policy accept;\n"
                f"    iifname \"{self.iface}\" udp dport 443 reject\n"
                f"    iifname \"{self.iface}\" udp dport != 53 @ih,0,2 3 @ih,8,32 {{ {versions} }} reject\n"
                f"{unopened}"
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


class HoldRules:
    """``--block`` in transparent mode: the instrument's UDP and ICMP the rig forwards, and DNS it
    sends to the rig, go to kernel queue ``queue`` (dropped while nobody reads it).
    Installed before and removed after the redirect: its TCP is never routed past mitmproxy."""

    TOOLS = (("iptables", "icmp", "ip"), ("ip6tables", "ipv6-icmp", "ip6"))

    def __init__(self, iface: str, queue: int, netns: str | None = None, chain: str | None = None) -> None:
        self.iface, self.queue, self.netns = iface, queue, netns
        self.chain = chain or f"SBX_HOLD_{os.getpid()}"
        self.installed: list[tuple[str, str, bool]] = []     # (tool, family, whether its filter table was ours)

    def _target(self) -> str:
        return f"-j NFQUEUE --queue-num {self.queue}"

    def _chain_rules(self, icmp: str) -> list[str]:
        # TCP reaches this chain only once the redirect is gone (the session ending): dropped, not routed past
        return [f"-A {self.chain} -p udp {self._target()}", f"-A {self.chain} -p {icmp} {self._target()}",
                f"-A {self.chain} -p tcp -j DROP"]

    def _hooks(self, op: str) -> list[str]:
        """The rules in iptables' own chains that send the instrument's packets to ours (``op``: -I or -D)."""
        return [f"{op} FORWARD -i {self.iface} -j {self.chain}",
                f"{op} INPUT -i {self.iface} -p udp --dport 53 {self._target()}"]

    def _run(self, args: list[str], script: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([*netns_prefix(self.netns), *args], input=script, capture_output=True, text=True,
                              check=False)

    def check(self) -> None:
        missing = [tool for tool, _, _ in self.TOOLS if shutil.which(tool) is None]
        if missing:
            raise TapError(f"--block in transparent mode needs {missing[0]} to hold the instrument's UDP and ICMP "
                           f"(Debian: apt-get install iptables)")

    def install(self) -> None:
        for tool, icmp, family in self.TOOLS:
            ours = self._run(["nft", "list", "table", family, "filter"]).returncode != 0
            script = (f"*filter\n:{self.chain} - [0:0]\n" + "\n".join([*self._chain_rules(icmp), *self._hooks("-I")])
                      + "\nCOMMIT\n")
            res = self._run([f"{tool}-restore", "--noflush"], script)
            if res.returncode != 0:
                why = (res.stderr.strip().splitlines() or [f"{tool}-restore failed"])[0]
                raise TapError(f"cannot hold the instrument's UDP on {self.iface} for --block: {why}")
            self.installed.append((tool, family, ours))

    def remove(self) -> None:
        while self.installed:
            tool, family, ours = self.installed.pop()
            self._run([f"{tool}-restore", "--noflush"], "*filter\n" + "\n".join(
                [*self._hooks("-D"), f"-F {self.chain}", f"-X {self.chain}"]) + "\nCOMMIT\n")
            left = self._run([tool, "-S"]).stdout.split()
            if ours and "-A" not in left and "-N" not in left:    # the table iptables made for us, empty again
                self._run(["nft", "delete", "table", family, "filter"])

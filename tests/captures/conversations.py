"""Conversations of a capture as tshark lists them (``-z conv,tcp`` / ``conv,udp``) and as we see them.

Both sides are sets of ``(transport, frozenset({(address, port), (address, port)}))``, so a
tunnelled capture can be compared by its inner flows.  ``carriers`` are the tunnels' own UDP ports:
tshark lists the outer datagrams as conversations too, the rig peels them.
"""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

from sandbox.captures import open_capture
from sandbox.protocols import Dissector

Conversation = tuple[str, frozenset]


def _endpoint(text: str) -> tuple[str, int]:
    address, port = text.rsplit(":", 1)
    return ipaddress.ip_address(address).compressed, int(port)


def tshark_conversations(path: Path) -> set[Conversation]:
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-q", "-z", "conv,tcp", "-z", "conv,udp"],
                         capture_output=True, text=True, check=True).stdout
    found: set[Conversation] = set()
    transport = ""
    for line in out.splitlines():
        if line.endswith("Conversations"):
            transport = line.split()[0].lower()
        elif "<->" in line:
            a, _, b = line.split()[:3]
            found.add((transport, frozenset((_endpoint(a), _endpoint(b)))))
    return found


def our_conversations(path: Path) -> set[Conversation]:
    dissector = Dissector()
    for segment in open_capture(path):
        dissector.feed(segment)
    dissector.close()
    return {(f.transport, frozenset(((f.src, f.sport), (f.dst, f.dport)))) for f in dissector.flows.values()
            if f.transport in ("tcp", "udp")}


def without(conversations: set[Conversation], ports: frozenset[int]) -> set[Conversation]:
    """The conversations with no endpoint on ``ports`` (a tunnel's carrier datagrams)."""
    return {c for c in conversations if not any(port in ports for _, port in c[1])}


def folded(theirs: set[Conversation], ours: set[Conversation]) -> set[Conversation]:
    """tshark's conversations with the client ports we fold into one flow written as port 0 (DNS:
    one flow per client and server, whatever source port each query used) folded the same way."""
    any_port = {(t, (a, b)) for t, ends in ours for a, b in [sorted(ends)] if 0 in (a[1], b[1])}
    out: set[Conversation] = set()
    for t, ends in theirs:
        (a_ip, a_port), (b_ip, b_port) = sorted(ends)
        for (ft, ((x_ip, x_port), (y_ip, y_port))) in any_port:
            if ft != t or {x_ip, y_ip} != {a_ip, b_ip}:
                continue
            fixed = (x_ip, x_port) if x_port else (y_ip, y_port)
            if fixed in ((a_ip, a_port), (b_ip, b_port)):
                other = b_ip if fixed == (a_ip, a_port) else a_ip
                ends = frozenset((fixed, (other, 0)))
                break
        out.add((t, ends))
    return out


def same_as_tshark(path: Path, carriers: frozenset[int] = frozenset()) -> set[Conversation]:
    """Our inner conversations of ``path``, asserted equal to tshark's (carriers aside)."""
    ours = our_conversations(path)
    assert without(ours, carriers) == without(folded(tshark_conversations(path), ours), carriers), path.name
    return ours

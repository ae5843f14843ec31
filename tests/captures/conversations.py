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


def same_as_tshark(path: Path, carriers: frozenset[int] = frozenset()) -> set[Conversation]:
    """Our inner conversations of ``path``, asserted equal to tshark's (carriers aside)."""
    ours = our_conversations(path)
    assert without(ours, carriers) == without(tshark_conversations(path), carriers), path.name
    return ours

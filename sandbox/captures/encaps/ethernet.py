"""An Ethernet frame inside a tunnel: transparent Ethernet bridging (0x6558, and GRE's 0x6400)."""

from __future__ import annotations

from sandbox.captures.links import ethernet
from sandbox.captures.numbers import TEB

# GRE protocol 0x6400 is Ethernet too (Wireshark's gre.proto table: Cisco's pre-standard value).
GRE_ETHERNET = 0x6400

REGISTER = {TEB: ethernet.network, GRE_ETHERNET: ethernet.network}

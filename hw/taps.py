"""The live taps ``sandbox watch`` can run: one line each.

A tap module has ``add_arguments(parser)`` (its ``sandbox watch`` options) and
``from_args(args) -> list[Tap]`` (the taps those options ask for; ``[]`` when not asked).
"""

from __future__ import annotations

from hw import follow, serial, usb
from hw.net import tap as net

TAP_MODULES = [
    follow,  # --follow FILE.pcapng: a recording another program writes
    net,  # --mode ...: mitmproxy carries the instrument's traffic, dumpcap records it
    serial,  # --serial INSTRUMENT_PORT:HOST_PORT[@115200,8N1]: a bridged serial line
    usb,  # --usb BUS|all: usbmon through dumpcap, and the devices already present
]

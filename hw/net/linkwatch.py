"""A process that ends when the interface the rig records is gone, or is another by now.

The sided recording (``hw.net.dumpcap``) is dumpcap on Linux's "any" device filtered to one
interface index: when that interface goes (a USB adapter unplugged) dumpcap records nothing more and
goes on running, and a new interface of the same name has another index.  The tap watches this
process among its own (``hw.tap.ProcessWatch``): its end is the recording's blind spot.

    python -m hw.net.linkwatch IFACE IFINDEX      # in the tap's namespace
"""

from __future__ import annotations

import socket
import sys
import time

POLL_S = 0.25


def watch(iface: str, index: int, poll_s: float = POLL_S) -> str:
    """Wait until ``iface`` no longer has ``index``; why."""
    while True:
        try:
            now = socket.if_nametoindex(iface)
        except OSError:
            return f"{iface} is gone"
        if now != index:
            return f"{iface} is another interface now (index {now}, was {index})"
        time.sleep(poll_s)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not (argv[1].isascii() and argv[1].isdigit()):
        print("usage: python -m hw.net.linkwatch IFACE IFINDEX", file=sys.stderr)
        return 2
    print(watch(argv[0], int(argv[1])), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

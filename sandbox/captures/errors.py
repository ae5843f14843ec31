"""The one error a capture reader raises, at open time only."""

from __future__ import annotations


class CaptureError(ValueError):
    """The file cannot be read as a capture (missing, unreadable, not pcap/pcapng); one-line message."""

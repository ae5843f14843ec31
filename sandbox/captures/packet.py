"""What a file-format reader yields before link-layer decoding."""

from __future__ import annotations

from typing import NamedTuple

# Largest record we accept: pcapng/pcap allow up to 256 KiB snaplen in practice (Wireshark's
# WTAP_MAX_PACKET_SIZE_STANDARD is 262144; usbmon/D-Bus go to 128 MiB, we never see those here).
# A bigger length is a corrupt header, not a packet.
MAX_RECORD = 16 << 20


class RawPacket(NamedTuple):
    frame: int          # 1-based frame number, as tshark counts
    t: float            # seconds since the epoch
    linktype: int
    data: bytes
    orig_len: int
    interface: int

"""``open_capture``: one streaming pass from a capture file to ``Segment``s.

The file format reader (pcap, pcapng; gzip-compressed or not) yields raw packets; the link-type
module peels the link layer; the IP decoder reassembles fragments and yields TCP/UDP Segments.
Damage never raises during iteration: reading stops at it and ``errors`` says where.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import BinaryIO

from sandbox.captures.errors import CaptureError
from sandbox.captures.hotpath import LINKTYPE_ETHERNET, NET_TCP, ethernet_tcp, pcap_segments
from sandbox.captures.ip import IpDecoder
from sandbox.captures.links import LINKTYPES
from sandbox.captures.packet import RawPacket
from sandbox.captures.pcap import PcapReader
from sandbox.captures.pcapng import PcapngReader, scan_secrets
from sandbox.captures.source import Chunks, FollowFile, open_source
from sandbox.model import NotExamined, Segment

# File-format readers, tried in order on the first bytes (after gzip is peeled).
READERS: list[type] = [PcapReader, PcapngReader]
# What a malformed packet raises inside struct/slicing code: it is counted, the capture goes on.
PACKET_ERRORS = (struct.error, IndexError, ValueError, KeyError, OverflowError)


@dataclass
class CaptureStats:
    """What one pass read; complete once iteration ends (the hot loop keeps its counts local)."""

    packets: int = 0
    bytes: int = 0                                   # captured bytes of all packets
    channels: Counter = field(default_factory=Counter)       # Segments per channel
    transports: Counter = field(default_factory=Counter)     # Segments per transport
    skipped: Counter = field(default_factory=Counter)        # frames without a Segment, by reason
    unknown_linktypes: Counter = field(default_factory=Counter)   # frames per link type we cannot read
    unknown_bytes: Counter = field(default_factory=Counter)       # ...and their captured bytes
    fragments_reassembled: int = 0
    fragments_dropped: int = 0
    drops: int = 0            # packets the capture itself lost (pcapng Interface Statistics Blocks)

    def not_examined(self, where: str) -> list[NotExamined]:
        """What this pass could not look into (it makes a verdict inconclusive, never clean)."""
        return [NotExamined(where=where, what=f"unknown link type {lt}", packets=n, bytes=self.unknown_bytes[lt])
                for lt, n in sorted(self.unknown_linktypes.items())]


class Capture:
    """A capture file opened for streaming; iterate it for ``Segment``s in file order.

    With ``follow`` the file is a live recording another process is still writing (pcapng only):
    iteration yields ``None`` whenever it has caught up with the writer, and goes on when
    iterated again; ``finish_follow()`` says the writer stopped, after which the end is real.
    """

    def __init__(self, path: Path | str, follow: bool = False) -> None:
        self.path = Path(path)
        self.follow = follow
        self.errors: list[str] = []
        self.stats = CaptureStats()
        self._secrets: bytes | None = None
        self._raw: BinaryIO | None = None
        self._reader = self._open()
        self.format = self._reader.name + ("+gzip" if self.compressed else "")

    def _open(self):
        try:
            if self.follow:
                stream = raw = FollowFile(self.path)
                self.compressed = False
            else:
                stream, raw, self.compressed = open_source(self.path)
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot open: {exc.strerror or exc}") from None
        self._raw = raw
        chunks = Chunks(stream)
        chunks.need(16)
        head = chunks.buf[:16]
        if chunks.error and not head:
            raw.close()
            raise CaptureError(f"{self.path}: damaged gzip stream: {chunks.error}")
        if self.follow and not PcapngReader.claim(head):
            raw.close()
            raise CaptureError(f"{self.path}: a live recording must be pcapng (starts {head[:4].hex()})")
        for reader in READERS:
            if reader.claim(head):
                try:
                    return reader(chunks)
                except CaptureError as exc:
                    raw.close()
                    raise CaptureError(f"{self.path}: {exc}") from None
        raw.close()
        what = "empty file" if not head else f"not a pcap or pcapng file (starts {head[:4].hex()})"
        raise CaptureError(f"{self.path}: {what}")

    @property
    def position(self) -> int:
        """Bytes of the file on disk consumed so far (for progress against its size)."""
        try:
            return self._raw.tell() if self._raw is not None and not self._raw.closed else self.size
        except (OSError, ValueError):
            return self.size

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    @property
    def tls_secrets(self) -> bytes:
        """NSS key log lines from pcapng Decryption Secrets Blocks (b"" for pcap)."""
        if self._secrets is None:
            if not isinstance(self._reader, PcapngReader):
                self._secrets = b""
            else:
                self._secrets = scan_secrets(self.path)
        return self._secrets

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()

    def packets(self) -> Iterator[RawPacket]:
        """The file's packet records as they are, link layer and all (to rewrite a capture)."""
        reader, self._reader = self._reader or self._open(), None
        try:
            yield from (pkt for pkt in reader.packets() if pkt is not None)
        finally:
            self.errors.extend(reader.errors)
            self.close()

    def unreadable(self) -> str | None:
        """Why not even one packet record can be read (a damaged first record, a header-only file
        with junk after it), or None.  A separate pass over the first record only: a capture that
        yields nothing must not replay as an empty, clean one."""
        reader, self._reader = self._reader or self._open(), None
        try:
            for _ in reader.packets():
                return None
        finally:
            self.close()     # iterating again re-opens the file from the start
        return reader.errors[0] if reader.errors else None

    def finish_follow(self) -> None:
        """The writer of a followed recording stopped: read what is left, then end."""
        if isinstance(self._raw, FollowFile):
            self._raw.finish()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Segment]:
        if self._reader is None:        # a second pass re-reads the file from the start
            self.errors, self.stats = [], CaptureStats()
            self._reader = self._open()
        reader, self._reader = self._reader, None
        yield from self._segments(reader)

    def _segments(self, reader) -> Iterator[Segment]:
        stats = self.stats
        ip = IpDecoder()
        handlers: dict[int, tuple] = {}       # linktype -> (network fn, segments fn), looked up once
        counts: Counter = Counter()           # (channel, transport) -> Segments
        totals = [0, 0, 0]                    # packets, bytes, last frame (hot path keeps them local)
        frame = 0

        def slow(linktype: int, data: bytes, t: float, frame: int, interface=None) -> list[Segment]:
            """The general path for one frame: link module, then the IP decoder."""
            handler = handlers.get(linktype)
            if handler is None:
                link = LINKTYPES.get(linktype)
                handler = handlers[linktype] = (getattr(link, "network", None), getattr(link, "segments", None),
                                                getattr(link, "PER_INTERFACE", False))
            network, segments, per_interface = handler
            try:
                if network is not None:
                    ethertype, off = network(data)
                    seg = ip.decode(ethertype, data, off, t, frame)
                    found = [] if seg is None else [seg]
                elif per_interface:     # e.g. a serial line: the interface names the port
                    found = list(segments(data, t, frame, interface))
                elif segments is not None:
                    found = list(segments(data, t, frame))
                else:
                    stats.unknown_linktypes[linktype] += 1
                    stats.unknown_bytes[linktype] += len(data)
                    return []
            except PACKET_ERRORS:
                stats.skipped["malformed"] += 1
                return []
            for seg in found:
                counts[seg.channel, seg.transport] += 1
            return found

        try:
            if isinstance(reader, PcapReader):
                yield from pcap_segments(reader, ip, partial(slow, reader.linktype), counts, totals)
            else:
                fast = ethernet_tcp(ip)
                for pkt in reader.packets():
                    if pkt is None:             # caught up with a live recording's writer
                        yield None
                        continue
                    frame = pkt.frame
                    stats.packets += 1
                    stats.bytes += len(pkt.data)
                    seg = fast(pkt.data, pkt.t, frame) if pkt.linktype == LINKTYPE_ETHERNET else None
                    if seg is not None:
                        counts[NET_TCP] += 1
                        yield seg
                    else:
                        yield from slow(pkt.linktype, pkt.data, pkt.t, frame, reader.interfaces[pkt.interface])
        except Exception as exc:  # a reader bug must not end the run silently: say where
            frame = max(frame, totals[2])
            self.errors.append(f"reader failed after frame {frame}: {type(exc).__name__}: {exc}".splitlines()[0])
        finally:
            stats.packets += totals[0]
            stats.bytes += totals[1]
            for (channel, transport), n in counts.items():
                stats.channels[channel] += n
                stats.transports[transport] += n
            self.errors.extend(reader.errors)
            if isinstance(reader, PcapngReader):
                stats.drops = sum(reader.drops.values())
                if self._secrets is None:
                    self._secrets = bytes(reader.secrets)
            for lt, n in sorted(stats.unknown_linktypes.items()):
                self.errors.append(f"unknown link type {lt}: {n} frames skipped")
            stats.skipped.update(ip.skipped)
            stats.fragments_reassembled = ip.fragments.reassembled
            stats.fragments_dropped = ip.fragments.dropped
            self.close()


def open_capture(path: Path | str, follow: bool = False) -> Capture:
    """Open a pcap/pcapng file (optionally gzip-compressed); raises ``CaptureError`` if it is not one.

    ``follow``: a pcapng another process is still writing (see ``Capture``)."""
    return Capture(path, follow=follow)

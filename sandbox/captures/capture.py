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
from sandbox.captures.hotpath import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL2,
    NET_TCP,
    cooked_tcp,
    ethernet_tcp,
    pcap_segments,
)
from sandbox.captures.ip import IpDecoder
from sandbox.captures.links import LINKTYPES
from sandbox.captures.links.usb import CUT as USB_CUT
from sandbox.captures.packet import RawPacket
from sandbox.captures.pcap import PcapReader
from sandbox.captures.pcapng import PcapngReader, scan_secrets
from sandbox.captures.source import Chunks, FollowFile, open_source
from sandbox.model import NotExamined, Segment

# File-format readers, tried in order on the first bytes (after gzip is peeled).
READERS: list[type] = [PcapReader, PcapngReader]
# What a malformed packet raises inside struct/slicing code: it is counted, the capture goes on.
PACKET_ERRORS = (struct.error, IndexError, ValueError, KeyError, OverflowError)
# What the pass could not look into besides what IpDecoder counts (keys of CaptureStats.unexamined).
SNAPPED = "frames cut by the capture's snap length (bytes never captured)"
FRAGMENTS_LOST = "IP fragments of datagrams that never completed"
OVERLAPS_UNREAD = "IP fragments overlapping others with other content, past the variants read of their datagram"
BAD_BLOCKS = "corrupt packet blocks"
LINK_BROKEN = "link type {}: headers cut short or malformed"
DROPPED = "packets the capture dropped (its statistics say so): never seen, never examined"
DAMAGED = "capture file damaged at byte {}: the rest is unread"


@dataclass
class CaptureStats:
    """What one pass read; complete once iteration ends (the hot loop keeps its counts local).

    ``unexamined`` says what the pass could not look into, by what stopped it: frames of a
    protocol we cannot read or whose headers are cut short (``IpDecoder``), bytes the snap length
    never captured, IP fragments that never completed, corrupt blocks and the part of a damaged
    file after the damage.
    """

    packets: int = 0
    bytes: int = 0                                   # captured bytes of all packets
    channels: Counter = field(default_factory=Counter)       # Segments per channel
    transports: Counter = field(default_factory=Counter)     # Segments per transport
    skipped: Counter = field(default_factory=Counter)        # frames with nothing to examine, by reason
    unknown_linktypes: Counter = field(default_factory=Counter)   # frames per link type we cannot read
    unknown_bytes: Counter = field(default_factory=Counter)       # ...and their captured bytes
    unexamined: Counter = field(default_factory=Counter)     # frames that may carry data we did not read
    unexamined_bytes: Counter = field(default_factory=Counter)    # ...and their bytes
    fragments_reassembled: int = 0
    fragments_dropped: int = 0
    drops: int = 0            # packets the capture itself lost (pcapng Interface Statistics Blocks)

    def not_examined(self, where: str) -> list[NotExamined]:
        """What this pass could not look into (it makes a verdict inconclusive, never clean)."""
        out = [NotExamined(where=where, what=f"unknown link type {lt}", packets=n, bytes=self.unknown_bytes[lt])
               for lt, n in sorted(self.unknown_linktypes.items())]
        if self.drops:   # lost before they reached the file (interface, OS buffer, a UART overrun)
            out.append(NotExamined(where=where, what=DROPPED, packets=self.drops, bytes=0))
        by_bytes = sorted(self.unexamined, key=lambda what: (-self.unexamined_bytes[what], what))
        return out + [NotExamined(where=where, what=what, packets=self.unexamined[what],
                                  bytes=self.unexamined_bytes[what]) for what in by_bytes]


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
        totals = [0, 0, 0, 0, 0]              # packets, bytes, last frame, snapped frames, bytes never captured
        frame = 0

        def slow(linktype: int, data: bytes, t: float, frame: int, interface=None) -> list[Segment]:
            """The general path for one frame: link module, then the network layer."""
            handler = handlers.get(linktype)
            if handler is None:
                link = LINKTYPES.get(linktype)
                handler = handlers[linktype] = (getattr(link, "network", None), getattr(link, "segments", None),
                                                getattr(link, "PER_INTERFACE", False), getattr(link, "side", None))
            network, segments, per_interface, side = handler
            try:
                where = side(data) if side is not None else None
                if network is not None:
                    proto, off = network(data)
                    seg = ip.decode(proto, data, off, t, frame, tuple(where.items()) if where else None)
                    found = ([] if seg is None else [seg]) + ip.variants
                elif per_interface:     # e.g. a serial line: the interface names the port
                    found = list(segments(data, t, frame, interface))
                elif segments is not None:
                    found = list(segments(data, t, frame))
                else:
                    stats.unknown_linktypes[linktype] += 1
                    stats.unknown_bytes[linktype] += len(data)
                    return []
            except PACKET_ERRORS:
                ip.not_examined(LINK_BROKEN.format(linktype), len(data))
                return []
            for seg in found:
                counts[seg.channel, seg.transport] += 1
                if where:    # where the capturing host saw it: a tunnel's inner packets too
                    seg.meta = {**seg.meta, **where} if seg.meta else dict(where)
                meta = seg.meta
                if meta is not None and "uncaptured" in meta:   # a link that says what it never kept (USB)
                    ip.not_examined(USB_CUT, meta["uncaptured"])
            return found

        try:
            if isinstance(reader, PcapReader):
                yield from pcap_segments(reader, ip, partial(slow, reader.linktype), counts, totals)
            else:
                fast, fast_cooked = ethernet_tcp(ip), cooked_tcp(ip)
                for pkt in reader.packets():
                    if pkt is None:             # caught up with a live recording's writer
                        yield None
                        continue
                    frame = pkt.frame
                    stats.packets += 1
                    stats.bytes += len(pkt.data)
                    if pkt.orig_len > len(pkt.data):
                        totals[3] += 1
                        totals[4] += pkt.orig_len - len(pkt.data)
                    linktype = pkt.linktype
                    seg = (fast(pkt.data, pkt.t, frame) if linktype == LINKTYPE_ETHERNET
                           else fast_cooked(pkt.data, pkt.t, frame) if linktype == LINKTYPE_LINUX_SLL2 else None)
                    if seg is not None:
                        counts[NET_TCP] += 1
                        yield seg
                    else:
                        yield from slow(pkt.linktype, pkt.data, pkt.t, frame, reader.interfaces[pkt.interface])
        except Exception as exc:  # a reader bug must not end the run silently: say where
            frame = max(frame, totals[2])
            self.errors.append(f"reader failed after frame {frame}: {type(exc).__name__}: {exc}".splitlines()[0])
            ip.not_examined(f"frames after frame {frame} (the reader failed there)", 0)
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
            self._unexamined(reader, ip, totals)
            self.close()

    def _unexamined(self, reader, ip: IpDecoder, totals: list[int]) -> None:
        """Gather what the pass could not look into (and its other counts) into ``stats``."""
        stats = self.stats
        ip.fragments.flush()
        stats.skipped.update(ip.skipped)
        stats.unexamined.update(ip.unexamined)
        stats.unexamined_bytes.update(ip.unexamined_bytes)
        stats.fragments_reassembled = ip.fragments.reassembled
        stats.fragments_dropped = ip.fragments.dropped
        extra = [(SNAPPED, totals[3], totals[4]),
                 (FRAGMENTS_LOST, ip.fragments.lost_fragments, ip.fragments.lost_bytes),
                 (OVERLAPS_UNREAD, ip.fragments.overlaps_unread, ip.fragments.overlaps_unread_bytes),
                 (BAD_BLOCKS, getattr(reader, "bad_blocks", 0), getattr(reader, "bad_bytes", 0))]
        if reader.stopped_at is not None:
            # what follows the damage is unknown: its size on disk (or what was inflated, if compressed)
            unread = reader.chunks.remaining if self.compressed else max(0, self.size - reader.stopped_at)
            extra.append((DAMAGED.format(reader.stopped_at), 1, unread))
        for what, packets, size in extra:
            if packets:
                stats.unexamined[what] += packets
                stats.unexamined_bytes[what] += size


def open_capture(path: Path | str, follow: bool = False) -> Capture:
    """Open a pcap/pcapng file (optionally gzip-compressed); raises ``CaptureError`` if it is not one.

    ``follow``: a pcapng another process is still writing (see ``Capture``)."""
    return Capture(path, follow=follow)

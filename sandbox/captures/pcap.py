"""Classic libpcap files: both byte orders, micro- and nanosecond timestamps.

Layout as data (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-03.html): a 24-byte file
header, then records of a 16-byte header (ts_sec, ts_frac, incl_len, orig_len) and incl_len bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import ClassVar

from sandbox.captures.errors import CaptureError
from sandbox.captures.packet import MAX_RECORD, RawPacket
from sandbox.captures.source import Chunks

# magic (as read little-endian) -> (byte order, seconds per timestamp fraction unit, record header extra)
MAGICS = {
    0xA1B2C3D4: ("<", 1e-6, 0), 0xD4C3B2A1: (">", 1e-6, 0),
    0xA1B23C4D: ("<", 1e-9, 0), 0x4D3CB2A1: (">", 1e-9, 0),
    0xA1B2CD34: ("<", 1e-6, 8), 0x34CDB2A1: (">", 1e-6, 8),   # Kuznetzov's patched pcap (+8 bytes)
}
FILE_HEADER = "IHHiIII"        # magic, version major/minor, thiszone, sigfigs, snaplen, linktype
RECORD_HEADER = "IIII"         # ts_sec, ts_frac, incl_len, orig_len


class PcapReader:
    name: ClassVar[str] = "pcap"

    @staticmethod
    def claim(head: bytes) -> bool:
        return len(head) >= 4 and struct.unpack_from("<I", head)[0] in MAGICS

    def __init__(self, chunks: Chunks) -> None:
        self.chunks = chunks
        self.errors: list[str] = []
        self.stopped_at: int | None = None   # stream offset where damage ended the reading
        if not chunks.need(24):
            raise CaptureError("pcap file header truncated (under 24 bytes)")
        endian, self.scale, self.extra = MAGICS[struct.unpack_from("<I", chunks.buf)[0]]
        fields = struct.unpack_from(endian + FILE_HEADER, chunks.buf, chunks.pos)
        self.version = (fields[1], fields[2])
        self.snaplen = fields[5]
        self.linktype = fields[6] & 0x0FFFFFFF   # upper bits carry FCS length flags
        self.record = struct.Struct(endian + RECORD_HEADER)
        chunks.pos += 24

    def packets(self) -> Iterator[RawPacket]:
        c, rec, scale, linktype = self.chunks, self.record, self.scale, self.linktype
        hsize = 16 + self.extra
        frame = 0
        while True:
            if not c.need(hsize):
                if c.remaining or c.error:
                    self._damage(c, frame + 1, "record header")
                return
            ts, frac, incl, orig = rec.unpack_from(c.buf, c.pos)
            if incl > MAX_RECORD:
                self.corrupt(frame + 1, incl)
                return
            if not c.need(hsize + incl):
                self._damage(c, frame + 1, "packet data")
                return
            start = c.pos + hsize
            frame += 1
            data = c.buf[start:start + incl]
            c.pos = start + incl
            yield RawPacket(frame, ts + frac * scale, linktype, data, orig, 0)

    def _damage(self, c: Chunks, frame: int, what: str) -> None:
        why = f" ({c.error})" if c.error else ""
        self.errors.append(f"truncated at byte {c.offset} (frame {frame}): {what} cut short{why}")
        self.stopped_at = c.offset

    def corrupt(self, frame: int, incl: int) -> None:
        """A record header no capture tool writes: nothing after it can be trusted."""
        self.errors.append(f"corrupt record header at byte {self.chunks.offset} (frame {frame}): "
                           f"captured length {incl}")
        self.stopped_at = self.chunks.offset

"""IP fragment reassembly with a bounded cache (IPv4 and IPv6 share it).

Overlapping fragments: the first one seen wins (what Linux did before it started dropping
overlaps outright, and what keeps a later forged fragment from rewriting bytes we already hold).  But
the receiver is the instrument's peer, whose own reassembly may take the later copy: a fragment whose
bytes differ from those kept makes a variant of the datagram, with its bytes in place, read too (reads
in second copies of every fragment, a decoy first, replayed clean).  MAX_VARIANTS a datagram; past
them the conflicting fragments are counted (``overlaps_unread``: not examined).
"""

from __future__ import annotations

from collections import OrderedDict

# Datagrams being reassembled at once: a bench capture has a handful; a fragment flood must not
# grow memory without end.  Oldest is dropped first.
MAX_PENDING = 1024
# Seconds (capture time) a datagram may wait for its missing fragments (Linux ipfrag_time = 30 s).
FRAG_TIMEOUT = 30.0
# Largest reassembled datagram: 65535 is the IPv4/IPv6 (non-jumbo) payload limit.
MAX_DATAGRAM = 65535
# Variants of one datagram made of fragments that overlap others with other content.
MAX_VARIANTS = 8


class _Pending:
    __slots__ = ("pieces", "total", "t", "size", "first")

    def __init__(self, t: float) -> None:
        self.pieces: list[tuple[int, bytes]] = []
        self.total: int | None = None
        self.t = t
        self.size = 0
        self.first: object = None     # the first fragment's extra state (IPv6 next header)


class Fragments:
    """Datagrams being reassembled; ``lost_fragments``/``lost_bytes`` count what never completed."""

    __slots__ = ("_pending", "dropped", "reassembled", "lost_fragments", "lost_bytes", "overlaps_unread",
                 "overlaps_unread_bytes")

    def __init__(self) -> None:
        self._pending: OrderedDict[tuple, _Pending] = OrderedDict()
        self.dropped = 0
        self.reassembled = 0
        self.lost_fragments = 0
        self.lost_bytes = 0
        self.overlaps_unread = 0          # fragments past MAX_VARIANTS that differ from the bytes kept
        self.overlaps_unread_bytes = 0

    def _drop(self, key: tuple) -> None:
        entry = self._pending.pop(key)
        self.dropped += 1
        self.lost_fragments += len(entry.pieces)
        self.lost_bytes += entry.size

    def flush(self) -> None:
        """The capture ended: datagrams still waiting for fragments are lost."""
        while self._pending:
            self._drop(next(iter(self._pending)))

    def add(self, key: tuple, offset: int, data: bytes, more: bool, t: float,
            first: object = None) -> tuple[bytes, object, list[bytes]] | None:
        """Add a fragment; returns (datagram payload, first-fragment state, variants) once complete."""
        pending = self._pending
        while pending:
            old_key, old = next(iter(pending.items()))
            if t - old.t <= FRAG_TIMEOUT and len(pending) < MAX_PENDING:
                break
            self._drop(old_key)
        entry = pending.get(key)
        if entry is None:
            entry = pending[key] = _Pending(t)
        entry.pieces.append((offset, data))
        entry.size += len(data)
        if offset + len(data) > MAX_DATAGRAM:
            self._drop(key)
            return None
        if offset == 0:
            entry.first = first
        if not more:
            entry.total = offset + len(data)
        if entry.total is None or entry.size < entry.total:
            return None
        pieces = sorted(entry.pieces, key=lambda p: p[0])   # stable: first seen wins on equal offsets
        out = bytearray()
        for off, piece in pieces:
            if off > len(out):
                return None                                 # a hole: wait for the missing piece
            if off + len(piece) > len(out):
                out += piece[len(out) - off:]
        if len(out) < entry.total:
            return None
        del pending[key]
        self.reassembled += 1
        kept = bytes(out[:entry.total])
        return kept, entry.first, self._variants(kept, entry.pieces)

    def _variants(self, kept: bytes, pieces: list[tuple[int, bytes]]) -> list[bytes]:
        """The datagram with each fragment that differs from the bytes kept in place of them."""
        variants: list[bytes] = []
        for off, piece in pieces:
            piece = piece[:len(kept) - off]
            if kept[off:off + len(piece)] == piece:
                continue
            if len(variants) >= MAX_VARIANTS:
                self.overlaps_unread += 1
                self.overlaps_unread_bytes += len(piece)
                continue
            variants.append(kept[:off] + piece + kept[off + len(piece):])
        return variants

"""BCF (binary VCF, BCF2.2): each record's position and alleles as a text line, label "bcf:records".

`bcftools view -Ob` makes a BCF of any VCF in a second: BGZF blocks (the gzip decoder opens them)
around binary records, where a position is a 32-bit integer and no byte of the VCF's text is left.
Written as "position ref alt,alt" lines, the records are what the correlator finds variants in
(``sandbox.correlate.variants``); the header (contigs, sample names) is text in the view already.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from sandbox.decode.base import Budget, Decoder

MAGIC = b"BCF\x02"
_TYPE_SIZES = {0: 0, 1: 1, 2: 2, 3: 4, 5: 4, 7: 1}   # typed-value kinds: missing, int8/16/32, float, char
_RECORD_HEAD = struct.Struct("<IIiiifHHI")        # l_shared, l_indiv, CHROM, POS, rlen, QUAL, n_info, n_allele, n_fmt_sample
LINE_MAX = 256  # a line's bytes at most (longer alleles are cut: a variant's position and its first letters)


def _typed(buf: memoryview, at: int) -> tuple[int, int, int]:
    """(kind, count, offset of the values) of the typed value at ``at`` (BCF2.2 6.3.3)."""
    desc = buf[at]
    kind, count, at = desc & 15, desc >> 4, at + 1
    if count == 15:                                  # the count follows as a typed integer
        size = _TYPE_SIZES.get(buf[at] & 15, 0)
        if size not in (1, 2, 4) or (buf[at] & 15) == 5:
            raise ValueError("bad typed count")
        count = int.from_bytes(buf[at + 1: at + 1 + size], "little", signed=True)
        at += 1 + size
    if kind not in _TYPE_SIZES or count < 0:
        raise ValueError("bad typed value")
    return kind, count, at


def _string(buf: memoryview, at: int, end: int) -> tuple[bytes, int]:
    kind, count, at = _typed(buf, at)
    size = count * _TYPE_SIZES[kind]
    if at + size > end:
        raise ValueError("value past its record")
    return (bytes(buf[at: at + size]).rstrip(b"\x00") if kind == 7 else b""), at + size


class BcfDecoder(Decoder):
    """Not structural: its lines are a reading of the records, not parts standing for the file (a record's
    INFO and FORMAT values, or bytes after the last record, are still searched in the view)."""

    name = "bcf"

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data.startswith(MAGIC)

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        buf = memoryview(data)
        if len(data) < 9:
            return
        at = 9 + int.from_bytes(data[5:9], "little")     # magic, version, header length, header text
        lines: list[bytes] = []
        size, status = 0, ""
        while at + _RECORD_HEAD.size <= len(data):
            l_shared, l_indiv, _, pos, _, _, _, n_allele, _ = _RECORD_HEAD.unpack_from(data, at)
            end = at + 8 + l_shared
            if l_shared < _RECORD_HEAD.size - 8 or end + l_indiv > len(data):
                status = " (truncated)"
                break
            try:
                _, cursor = _string(buf, at + _RECORD_HEAD.size, end)       # the ID
                alleles = []
                for _ in range(n_allele):
                    allele, cursor = _string(buf, cursor, end)
                    alleles.append(allele)
            except (ValueError, IndexError):
                status = " (corrupt)"
                break
            line = b"%d %s %s\n" % (pos + 1, alleles[0] if alleles else b".", b",".join(alleles[1:]) or b".")
            line = line[:LINE_MAX]
            if size + len(line) > budget.remaining:
                budget.exhausted(left=len(data) - at)
                break
            lines.append(line)
            size += len(line)
            at = end + l_indiv
        if at < len(data) and not status and not budget.hit:
            status = " (truncated)"          # a record cut short of its fixed fields
        if lines:
            yield "bcf:records" + status, b"".join(lines)

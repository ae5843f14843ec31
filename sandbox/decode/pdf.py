"""PDF (ISO 32000): the filtered streams of a document, label "pdf:obj <n>".

A run report, a QC summary or a "support document" is a PDF whose text (sample names, run IDs) and
embedded files sit in Flate streams: without this decoder those were bytes no correlator could read.
Streams are found by their ``stream`` keyword and ended at ``endstream`` (a ``/Length`` may be an
indirect reference); the filters are read from the stream's dictionary and undone in order: Flate,
ASCII85 and ASCIIHex (PostScript-born PDFs write ``[/ASCII85Decode /FlateDecode]``: with Flate
alone read, such a stream of reads replayed clean), RunLength, LZW (PDF 1.1's compression, which
old writers and TIFF-born images still use).  Other filters (DCT images, JBIG2) are left as they
are: an image stays content the rig cannot read.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

from sandbox.decode.base import Budget, Decoder, drain, drain_lzw
from sandbox.decode.base85 import cut_to_budget
from sandbox.decode.codec import keep, status_label
from sandbox.decode.pdfcrypt import security

HEADER = b"%PDF-"
HEADER_WITHIN = 1024      # readers accept the header anywhere in the first KiB
STREAM = re.compile(rb"(?<!end)stream\r?\n")
# How far back from a stream keyword its dictionary is looked for (dictionaries are short; one with
# a long /DecodeParms or /ColorSpace array is still well within this).
DICT_SPAN = 4096
OBJ = re.compile(rb"(\d{1,10})\s+(\d{1,5})\s+obj\b")
FILTER = re.compile(rb"/Filter\s*(\[[^\]]{0,256}\]|/[A-Za-z0-9]+)")


FLATE, A85, AHX, RUN_LENGTH = (b"FlateDecode", b"Fl"), (b"ASCII85Decode", b"A85"), (b"ASCIIHexDecode", b"AHx"), \
    (b"RunLengthDecode", b"RL")
LZW = (b"LZWDecode", b"LZW")
FILTERS = {*FLATE, *A85, *AHX, *RUN_LENGTH, *LZW}
# LZWDecode widens its codes one entry early unless the stream's parameters say /EarlyChange 0.
LATE_CHANGE = re.compile(rb"/EarlyChange\s+0(?![0-9.])")
MAX_FILTERS = 8
DIRECT_LENGTH = re.compile(rb"/Length\s+(\d{1,10})(?!\s+\d+\s+R)(?![\d.])")
XREF = re.compile(rb"/Type\s*/XRef\b")      # cross-reference streams are never encrypted
WHITESPACE = b" \t\r\n\x0c\x00"


def _filters(head: bytes) -> list[bytes]:
    """The filters of the last dictionary in ``head``, in order; empty when none is one we undo."""
    filters = FILTER.findall(head)
    if not filters:
        return []
    names = re.findall(rb"/([A-Za-z0-9]+)", filters[-1])
    return names if 0 < len(names) <= MAX_FILTERS and FILTERS.issuperset(names) else []


def _run_length(data: bytes, cap: int) -> bytes:
    """RunLengthDecode (ISO 32000 7.4.5): literal runs and repeated bytes, to ``cap`` bytes at most."""
    out = bytearray()
    at = 0
    while at < len(data) and len(out) < cap:
        n = data[at]
        if n == 128:
            break
        if n < 128:
            out += data[at + 1: at + 2 + n]
            at += 2 + n
        else:
            out += data[at + 1: at + 2] * (257 - n)
            at += 2
    return bytes(out[:cap])


def _unfilter(names: list[bytes], body: bytes | memoryview, budget: Budget,
              early: bool = True) -> tuple[bytes, str, int] | None:
    """``body`` with its filters undone in order: (bytes, status, the bytes of ``body`` the first filter
    read: a Flate stream ends, or breaks, before the stream does when bytes were put after it), None
    when one fails."""
    data, status, used = body, "ok", len(body)
    for name in names:
        if name in FLATE or name in LZW:
            got = drain("zlib", data, budget) if name in FLATE else drain_lzw(data, budget, msb=True, early=early)
            if not keep(got):
                return None
            if data is body and name in FLATE and got.status in ("ok", "corrupt"):
                used = (got.end or used) if got.status == "ok" else got.read
            data, status = got.data, got.status
            if status == "limit":
                break
            continue
        text = bytes(data)
        if name in A85:
            inner = text.split(b"~>", 1)[0].strip(WHITESPACE).removeprefix(b"<~")
            try:
                data = base64.a85decode(cut_to_budget(inner, budget))
            except ValueError:
                return None
        elif name in AHX:
            digits = text.split(b">", 1)[0].translate(None, WHITESPACE)
            try:
                data = binascii.unhexlify(digits + b"0" * (len(digits) % 2))
            except (ValueError, binascii.Error):
                return None
        else:
            data = _run_length(text, budget.remaining)
    return bytes(data), status, used


class PdfDecoder(Decoder):
    name = "pdf"
    structural = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data.find(HEADER, 0, HEADER_WITHIN) >= 0

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        mv = memoryview(data)
        pos = 0
        sealed = security(data)
        if sealed is not None and sealed.key is None:   # said, and its streams read as they are (some are)
            budget.not_read(sealed.unread, len(data))
            sealed = None
        while budget.remaining > 0:
            m = STREAM.search(data, pos)
            if m is None:
                return
            start = m.end()
            end = data.find(b"endstream", start)
            head = data[max(pos, m.start() - DICT_SPAN):m.start()]     # since the last stream: linear time
            pos = len(data) if end < 0 else end + 9
            obj = head.rfind(b"obj")
            if obj >= 0:
                head = head[max(0, obj - 24):]
            names = _filters(head)
            number = OBJ.findall(head)
            body = mv[start:len(data) if end < 0 else end]
            early = LATE_CHANGE.search(head) is None
            got = None
            if sealed is not None and number and not XREF.search(head):
                length = DIRECT_LENGTH.findall(head)      # the ciphertext ends there, not at the line break
                cipher = bytes(body[:int(length[-1])]) if length else \
                    bytes(body).removesuffix(b"\n").removesuffix(b"\r")
                got = _unfilter(names, sealed.decrypt(cipher, int(number[-1][0]), int(number[-1][1])), budget,
                                early)
                if got is not None:
                    got = got[0], got[1], len(cipher)
            if names and (got is None or not got[0]):   # a stream left in the clear (XRef, metadata, or
                got = _unfilter(names, body, budget, early)   # the instrument's own) is read as it is
            if got is not None and got[0]:
                # the stream's bytes read are the document's; the rest of it (its objects' syntax, streams
                # in filters the rig does not undo, what follows the last object) is searched on its own
                budget.took(start, start + got[2])
                label = f"pdf:obj {int(number[-1][0])}" if number else f"pdf:stream@{start}"
                yield status_label(label, got[1]), got[0]
                if got[1] == "limit":
                    return

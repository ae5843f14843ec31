"""PDF (ISO 32000): the Flate-compressed streams of a document, label "pdf:obj <n>".

A run report, a QC summary or a "support document" is a PDF whose text (sample names, run IDs) and
embedded files sit in Flate streams: without this decoder those were bytes no correlator could read.
Streams are found by their ``stream`` keyword and ended at ``endstream`` (a ``/Length`` may be an
indirect reference); the filter is read from the stream's dictionary.  Other filters (DCT images,
ASCII85, LZW) are left as they are: an image stays content the rig cannot read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sandbox.decode.base import Budget, Decoder, drain
from sandbox.decode.codec import keep, status_label

HEADER = b"%PDF-"
HEADER_WITHIN = 1024      # readers accept the header anywhere in the first KiB
STREAM = re.compile(rb"(?<!end)stream\r?\n")
# How far back from a stream keyword its dictionary is looked for (dictionaries are short; one with
# a long /DecodeParms or /ColorSpace array is still well within this).
DICT_SPAN = 4096
OBJ = re.compile(rb"(\d{1,10})\s+\d{1,5}\s+obj\b")
FILTER = re.compile(rb"/Filter\s*(\[[^\]]{0,256}\]|/[A-Za-z0-9]+)")


def _flate_only(head: bytes) -> bool:
    """Whether the last dictionary in ``head`` filters its stream with Flate alone."""
    filters = FILTER.findall(head)
    if not filters:
        return False
    names = re.findall(rb"/([A-Za-z0-9]+)", filters[-1])
    return names in ([b"FlateDecode"], [b"Fl"])


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
            if not _flate_only(head):
                continue
            got = drain("zlib", mv[start:len(data) if end < 0 else end], budget)
            if keep(got):
                number = OBJ.findall(head)
                label = f"pdf:obj {int(number[-1])}" if number else f"pdf:stream@{start}"
                yield status_label(label, got.status), got.data
            if got.status == "limit":
                return

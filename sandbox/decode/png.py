"""PNG (ISO 15948): the image data inflated, compressed text chunks opened, label "png:<chunk>".

A screenshot or a QC plot in a support bundle is a PNG.  Its text chunks can carry sample names and
run IDs (``zTXt``/``iTXt`` compressed), and its image data is a zlib stream: left closed it is random
bytes, content the rig could not read.  Inflated, a real image's filtered scanlines look like what they
are (far from random); bytes posing as pixels stay as random as they were and still count as unread.
Private and unknown chunks are left in the view as they are (their bytes are scanned there).  The image
is no set of parts that stands for the file: the view is still searched for streams inside it (a gzip
appended after IEND replayed clean while PNG counted as a container).
"""

from __future__ import annotations

from collections.abc import Iterator

from sandbox.decode.base import Budget, Decoder, drain
from sandbox.decode.codec import keep, status_label

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Text chunk keywords are 1-79 Latin-1 characters (ISO 15948 11.3.4.2); longer is not a keyword.
MAX_KEYWORD = 79


def _keyword(body: bytes) -> tuple[str, bytes] | None:
    """A text chunk's keyword (made printable) and what follows its NUL, or None if it has none."""
    cut = body.find(b"\x00", 0, MAX_KEYWORD + 1)
    if cut < 1:
        return None
    return body[:cut].decode("latin-1"), body[cut + 1:]


class PngDecoder(Decoder):
    name = "png"

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data.startswith(SIGNATURE)

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        mv = memoryview(data)
        pos = len(SIGNATURE)
        image: list[memoryview] = []
        while pos + 8 <= len(data):
            length = int.from_bytes(data[pos:pos + 4], "big")
            kind = data[pos + 4:pos + 8]
            if not kind.isalpha() or length > 0x7FFFFFFF:
                break                          # not a chunk: the rest is no PNG
            body = mv[pos + 8:min(len(data), pos + 8 + length)]
            pos += 12 + length
            if kind == b"IDAT":
                image.append(body)
            elif kind in (b"zTXt", b"iTXt"):
                found = _keyword(bytes(body))
                if found is None:
                    continue
                keyword, rest = found
                if kind == b"zTXt":
                    text = rest[1:]
                elif len(rest) >= 2 and rest[0] == 1:        # iTXt, compressed: skip language and translated keyword
                    after = rest[2:].split(b"\x00", 2)
                    text = after[2] if len(after) == 3 else b""
                else:
                    continue                   # an uncompressed iTXt: its text is in the view already
                got = drain("zlib", text, budget)
                if keep(got):
                    yield status_label(f"png:{kind.decode()} {keyword}", got.status), got.data
                if got.status == "limit":
                    return
            elif kind == b"IEND":
                break
        if image:
            got = drain("zlib", b"".join(image), budget)
            if keep(got):
                yield status_label("png:IDAT", got.status), got.data

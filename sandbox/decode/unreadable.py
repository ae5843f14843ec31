"""Archives and compressed files the rig recognises and does not read: said not examined.

WinRAR's archives (a Windows control PC's usual archiver), lzop's .lzo, ARJ, LHA, ACE and Windows
imaging (WIM) files compress with methods no decoder here undoes: their bytes look like ciphertext,
and under the opaque-volume threshold an upload of reads in one replayed clean.  This decoder
yields nothing; it says what it found (``Budget.not_read``), so the verdict is inconclusive at
least.  RAR is also found inside other bytes (a self-extractor, a vendor's header); the others at
the start of a view, where their magics are long or checked enough not to occur by chance.  A RAR
archive whose headers are encrypted is sealed content instead, weighed as opaque volume as TLS
without keys is (so are encrypted zip and 7z members).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from sandbox.decode import magic
from sandbox.decode.base import MAX_EMBEDDED, Budget, Decoder
from sandbox.decode.protobuf import varint

RAR = magic.RAR
RAR4, RAR5 = RAR + b"\x00", RAR + b"\x01\x00"
RAR4_MAIN, RAR4_PASSWORD = 0x73, 0x0080  # the main header's type, and its flag of encrypted headers
RAR5_ENCRYPTION = 4  # the header type of an archive whose headers are encrypted
# At the start of a view: (magic, its offset, what it is).
STARTS = ((b"\x89LZO\x00\r\n\x1a\n", 0, "lzop file (LZO)"),
          (b"MSWIM\x00\x00\x00", 0, "Windows imaging (WIM) file"),
          (b"**ACE**", 7, "ACE archive"))
ARJ = b"\x60\xea"
ARJ_MAX_HEADER = 2600
LHA_COMPRESSED = b"1234567"  # -lh1- .. -lh7-; -lh0- is stored, -lhd- a directory


def _rar(data: bytes, at: int) -> str | None:
    """What the RAR archive at ``at`` is (None: not one, or its headers are encrypted)."""
    if data.startswith(RAR5, at):
        size, after = varint(data, at + len(RAR5) + 4)  # past the header's CRC
        kind, _ = varint(data, after)
        return None if size < 0 or kind == RAR5_ENCRYPTION else "RAR 5 archive"
    if data.startswith(RAR4, at):
        head = data[at + len(RAR4): at + len(RAR4) + 5]
        if len(head) < 5 or head[2] != RAR4_MAIN:
            return None
        return None if int.from_bytes(head[3:5], "little") & RAR4_PASSWORD else "RAR 4 archive"
    return None


def _arj(data: bytes) -> bool:
    """An ARJ archive: its magic, a basic header of a size ARJ allows, and that header's CRC-32."""
    if not data.startswith(ARJ) or len(data) < 8:
        return False
    size = int.from_bytes(data[2:4], "little")
    return 0 < size <= ARJ_MAX_HEADER and len(data) >= 8 + size and \
        zlib.crc32(data[4: 4 + size]) == int.from_bytes(data[4 + size: 8 + size], "little")


def _lha(data: bytes) -> bool:
    return data[2:5] == b"-lh" and data[6:7] == b"-" and data[5:6] != b"" and data[5] in LHA_COMPRESSED


def _at_start(data: bytes) -> str | None:
    for signature, offset, what in STARTS:
        if data.startswith(signature, offset):
            return what
    if _arj(data):
        return "ARJ archive"
    if _lha(data):
        return "LHA archive"
    return None


class UnreadableDecoder(Decoder):
    name = "unreadable"
    embedded = True  # RAR is also looked for inside other bytes

    @staticmethod
    def sniff(data: bytes) -> bool:
        return magic.first(data, RAR) >= 0 or _at_start(data) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        what = _at_start(data)
        if what is not None:
            budget.not_read(f"{what}, which the rig does not read", len(data))
            return
        at, found = magic.first(data, RAR), 0
        while at >= 0 and found < MAX_EMBEDDED:
            what = _rar(data, at)
            if what is not None:
                budget.not_read(f"{what}, which the rig does not read", len(data) - at)
                return  # what follows is the archive's
            found += 1
            at = magic.find(data, RAR, at + 1)
        yield from ()

"""ZMODEM decoding details on frames built here (the real lrzsz sessions are in the conformance
suite): headers of each kind, escapes, CRC failures, rewinds, commands and cancels."""

from __future__ import annotations

import binascii
import zlib

from sandbox.protocols.serial.transfer import FileData, FileEnd, FileStart, Unclaimed
from sandbox.protocols.serial.zmodem import (
    ZCOMMAND,
    ZDATA,
    ZEOF,
    ZFILE,
    ZFIN,
    ZRINIT,
    ZRQINIT,
    ZmodemTransfer,
    parse_header,
)

ZDLE = 0x18


def escape(data: bytes) -> bytes:
    out = bytearray()
    for b in data:
        if b in (0x18, 0x10, 0x11, 0x13, 0x90, 0x91, 0x93, 0x0D, 0x8D) or b < 0x20:
            out += bytes([ZDLE, b ^ 0x40])
        elif b == 0x7F:
            out += b"\x18l"
        elif b == 0xFF:
            out += b"\x18m"
        else:
            out.append(b)
    return bytes(out)


def hexh(ftype: int, pos: int = 0) -> bytes:
    raw = bytes([ftype]) + pos.to_bytes(4, "little")
    return b"**\x18B" + (raw + binascii.crc_hqx(raw, 0).to_bytes(2, "big")).hex().encode() + b"\r\x8a\x11"


def binh(ftype: int, pos: int = 0, crc32: bool = True) -> bytes:
    raw = bytes([ftype]) + pos.to_bytes(4, "little")
    crc = zlib.crc32(raw).to_bytes(4, "little") if crc32 else binascii.crc_hqx(raw, 0).to_bytes(2, "big")
    return b"*\x18" + (b"C" if crc32 else b"A") + escape(raw + crc)


def sub(data: bytes, end: bytes = b"i", crc32: bool = True, corrupt: bool = False) -> bytes:
    """A data subpacket ending ZCRCE "h", ZCRCG "i", ZCRCQ "j" or ZCRCW "k"."""
    crc = (zlib.crc32(data + end).to_bytes(4, "little") if crc32
           else binascii.crc_hqx(data + end, 0).to_bytes(2, "big"))
    if corrupt:
        data = bytes([data[0] ^ 1]) + data[1:]
    return escape(data) + b"\x18" + end + escape(crc)


def session(name: bytes, body: bytes, crc32: bool = True, piece: int = 100) -> bytes:
    frames = hexh(ZRQINIT) + binh(ZFILE, crc32=crc32) + sub(name + b"\0" + str(len(body)).encode() + b" 0 0\0",
                                                              b"k", crc32)
    frames += binh(ZDATA, 0, crc32)
    for i in range(0, len(body), piece):
        frames += sub(body[i:i + piece], b"i" if i + piece < len(body) else b"h", crc32)
    return frames + binh(ZEOF, len(body), crc32) + hexh(ZFIN)


def feed(stream: bytes, replies: bytes = b"") -> tuple[ZmodemTransfer, list]:
    t = ZmodemTransfer("out")
    events = t.feed("out", stream)
    if replies:
        events += t.feed("in", replies)
    return t, events


def data_of(events: list) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, FileData))


BODY = bytes(range(256)) * 3 + b"\x18\x18**\x18B"


def test_headers_hex_binary_and_binary32():
    for frame, crc32 in ((hexh(ZRINIT, 0x2300), False), (binh(ZDATA, 77, False), False), (binh(ZDATA, 77), True)):
        status, ftype, flags, end, is32 = parse_header(frame, frame.index(b"*\x18"))
        assert status == "ok" and end >= len(frame) - 3 and is32 == crc32
    broken = bytearray(hexh(ZRINIT))
    broken[6] ^= 1
    assert parse_header(bytes(broken), 1)[0] == "bad"
    assert parse_header(binh(ZDATA)[:6], 0)[0] == "more"


def test_a_session_in_either_crc_decodes_with_its_name_and_ends_complete():
    for crc32 in (True, False):
        t, events = feed(session(b"reads.fastq.gz", BODY, crc32), hexh(ZFIN))
        assert t.done and data_of(events) == BODY
        assert [e for e in events if isinstance(e, FileStart)] == [FileStart("out", "zmodem", "reads.fastq.gz", len(BODY))]
        assert [e for e in events if isinstance(e, FileEnd)] == [FileEnd("out", True, "")]


def test_a_bad_subpacket_goes_back_unclaimed_and_a_rewind_sends_it_again():
    stream = (hexh(ZRQINIT) + binh(ZFILE) + sub(b"f\0" + b"300 0 0\0", b"k") + binh(ZDATA, 0)
              + sub(BODY[:100]) + sub(BODY[100:200], corrupt=True)        # noise: the receiver asks again
              + binh(ZDATA, 100) + sub(BODY[100:200]) + sub(BODY[200:300], b"h") + binh(ZEOF, 300))
    _, events = feed(stream)
    data = [(e.offset, len(e.data)) for e in events if isinstance(e, FileData)]
    assert data == [(0, 100), (100, 100), (200, 100)]
    assert [len(e.data) for e in events if isinstance(e, Unclaimed)] == [100]


def test_commands_and_text_between_frames_are_unclaimed_and_a_cancel_ends_it():
    stream = hexh(ZRQINIT) + b"PT9936-T1 between frames" + binh(ZCOMMAND) + sub(b"cat /etc/run.txt\0", b"k")
    t, events = feed(stream + b"\x18" * 8 + b"\x08" * 8 + b"after")
    assert [e.data for e in events if isinstance(e, Unclaimed)] == [b"PT9936-T1 between frames",
                                                                    b"cat /etc/run.txt\0", b"after"]
    assert t.done


def test_find_wants_a_verified_start_header():
    text = b"login: \r\n**\x18B0100000000aaaa\r\n" + hexh(ZFIN)        # bad CRC, then a ZFIN: neither starts
    assert ZmodemTransfer.find(text)[0] == -1
    assert ZmodemTransfer.find(b"rz\r" + hexh(ZRQINIT)) == (3, 3)
    assert ZmodemTransfer.find(b"abc**\x18") == (-1, 3)

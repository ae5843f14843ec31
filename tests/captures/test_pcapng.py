"""The rig's key injection: a Decryption Secrets Block after each section header, every other block
(the drop statistics above all) byte for byte."""

from __future__ import annotations

import io
import struct

from sandbox.captures import open_capture
from sandbox.captures.pcapng import (
    BYTE_ORDER_MAGIC,
    DSB,
    EPB,
    IDB,
    ISB,
    OPT_ISB_IFDROP,
    SHB,
    dsb,
    inject_secrets,
)

KEYLOG = b"CLIENT_RANDOM " + b"ab" * 32 + b" " + b"cd" * 48 + b"\n"


def block(endian: str, btype: int, body: bytes) -> bytes:
    body += bytes(-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(endian + "II", btype, length) + body + struct.pack(endian + "I", length)


def section(endian: str = "<", drops: int = 3, packets: int = 2) -> bytes:
    shb = block(endian, SHB, struct.pack(endian + "IHHq", BYTE_ORDER_MAGIC, 1, 0, -1))
    idb = block(endian, IDB, struct.pack(endian + "HHI", 1, 0, 65535))
    frame = bytes(12) + b"\x08\x00" + bytes(46)
    epbs = b"".join(block(endian, EPB, struct.pack(endian + "IIIII", 0, 0, n, len(frame), len(frame)) + frame)
                    for n in range(packets))
    isb = block(endian, ISB, struct.pack(endian + "III", 0, 0, 9)
                + struct.pack(endian + "HHQ", OPT_ISB_IFDROP, 8, drops) + bytes(4))
    return shb + idb + epbs + isb


def blocks(data: bytes) -> list[int]:
    out, pos, endian = [], 0, "<"
    while pos + 12 <= len(data):
        if struct.unpack_from("<I", data, pos)[0] == SHB:
            endian = "<" if data[pos + 8:pos + 12] == struct.pack("<I", BYTE_ORDER_MAGIC) else ">"
        btype, blen = struct.unpack_from(endian + "II", data, pos)
        out.append(btype)
        pos += blen
    return out


def injected(data: bytes) -> bytes:
    dst = io.BytesIO()
    inject_secrets(io.BytesIO(data), dst, KEYLOG)
    return dst.getvalue()


def test_the_keys_come_first_and_the_drops_stay(tmp_path):
    original = section(drops=7)
    out = injected(original)
    assert blocks(out) == [SHB, DSB, IDB, EPB, EPB, ISB]
    path = tmp_path / "c.pcapng"
    path.write_bytes(out)
    cap = open_capture(path)
    for _ in cap:
        pass
    assert cap.tls_secrets == KEYLOG and cap.stats.drops == 7
    shb_len = struct.unpack_from("<I", original, 4)[0]
    assert out == original[:shb_len] + dsb(KEYLOG) + original[shb_len:]   # the rest byte for byte


def test_each_section_in_its_own_byte_order_gets_the_keys(tmp_path):
    out = injected(section("<", drops=1) + section(">", drops=2))
    assert blocks(out) == [SHB, DSB, IDB, EPB, EPB, ISB] * 2
    path = tmp_path / "c.pcapng"
    path.write_bytes(out)
    cap = open_capture(path)
    for _ in cap:
        pass
    assert cap.stats.drops == 3 and KEYLOG in cap.tls_secrets


def test_what_is_not_a_pcapng_is_refused():
    for data in (b"", b"\xd4\xc3\xb2\xa1" + bytes(20), section()[4:]):
        try:
            injected(data)
        except ValueError:
            continue
        raise AssertionError(f"injected into {data[:8]!r}")


def test_a_damaged_tail_is_kept_as_it_is():
    good = section()
    for tail in (b"\x06\x00\x00\x00\x05\x00\x00\x00junk", b"\x06\x00\x00", good[len(good) // 2:]):
        assert injected(good + tail) == injected(good) + tail


def test_a_long_key_log_goes_in_blocks_of_whole_lines(tmp_path):
    keylog = b"".join(b"CLIENT_RANDOM %064x %096x\n" % (n, n) for n in range(12_000))   # ~2.4 MB
    dst = io.BytesIO()
    inject_secrets(io.BytesIO(section()), dst, keylog)
    out = dst.getvalue()
    assert blocks(out).count(DSB) == 3
    path = tmp_path / "c.pcapng"
    path.write_bytes(out)
    cap = open_capture(path)
    for _ in cap:
        pass
    assert cap.tls_secrets == keylog and not cap.errors


def test_keys_past_the_readers_bound_are_said(tmp_path, monkeypatch):
    from sandbox.captures import pcapng

    monkeypatch.setattr(pcapng, "MAX_SECRETS", len(KEYLOG) + 10)
    dst = io.BytesIO()
    inject_secrets(io.BytesIO(section()), dst, KEYLOG * 3)
    path = tmp_path / "c.pcapng"
    path.write_bytes(dst.getvalue())
    cap = open_capture(path)
    for _ in cap:
        pass
    assert any("key log" in e and "--tls-keylog" in e for e in cap.errors)

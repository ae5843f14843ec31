"""Writers of Windows' compression formats (MS-XCA 2.1-2.5), for tests: no Windows here to make them.

Written from the specification's compression sections, independently of the rig's decoders (which the
specification's own examples check, ``test_msxca``); greedy matching, every length and distance the
formats allow.  Slow and plain on purpose.
"""

from __future__ import annotations

import struct

MIN_MATCH = 3


def _matches(data: bytes, window, longest):
    """Greedy LZ77 parse: (literal byte) or (distance, length) items; ``window(i)`` and ``longest(i)``
    say how far back and how long a match at ``i`` may be."""
    last: dict[bytes, int] = {}
    i = 0
    while i < len(data):
        key = data[i: i + MIN_MATCH]
        j = last.get(key)
        last[key] = i
        if j is not None and len(key) == MIN_MATCH and i - j <= window(i):
            length, cap = MIN_MATCH, min(longest(i), len(data) - i)
            while length < cap:         # a block at a time while they agree, then byte by byte
                step = min(4096, cap - length)
                if data[j + length: j + length + step] == data[i + length: i + length + step]:
                    length += step
                    continue
                while length < cap and data[j + length] == data[i + length]:
                    length += 1
                break
            yield i - j, length
            for k in range(i + 1, i + length):
                last[data[k: k + MIN_MATCH]] = k
            i += length
        else:
            yield data[i]
            i += 1


def lz77(data: bytes) -> bytes:
    """Plain LZ77 (MS-XCA 2.3): flag words, 16-bit match words, lengths in shared half bytes and more."""
    out = bytearray(4)
    flag_at, flags, count, half = 0, 0, 0, -1

    def flag(bit: int) -> None:
        nonlocal flag_at, flags, count
        if count == 32:
            struct.pack_into("<I", out, flag_at, flags)
            flag_at = len(out)
            out.extend(bytes(4))
            flags, count = 0, 0
        flags = flags << 1 | bit
        count += 1

    for item in _matches(data, lambda i: 8192, lambda i: 1 << 20):
        if isinstance(item, int):
            flag(0)
            out.append(item)
            continue
        distance, length = item
        flag(1)
        extra = length - MIN_MATCH
        out += struct.pack("<H", (distance - 1) << 3 | min(extra, 7))
        if extra >= 7:
            extra -= 7
            if half < 0:
                half = len(out)
                out.append(min(extra, 15))
            else:
                out[half] |= min(extra, 15) << 4
                half = -1
            if extra >= 15:
                extra -= 15
                if extra < 255:
                    out.append(extra)
                else:
                    out.append(255)
                    total = extra + 15 + 7
                    out += struct.pack("<H", total) if total < 1 << 16 else struct.pack("<HI", 0, total)
    # the unused flags are ones (the decoder stops at a match flag with no input left)
    flags = (flags << (32 - count) | ((1 << (32 - count)) - 1)) & 0xFFFFFFFF
    struct.pack_into("<I", out, flag_at, flags)
    return bytes(out)


def lznt1(data: bytes) -> bytes:
    """LZNT1 (MS-XCA 2.5): chunks of 4096 bytes, stored when compressing does not pay."""
    out = bytearray()
    for start in range(0, len(data), 4096):
        chunk = data[start: start + 4096]
        body = bytearray()
        items = list(_matches(chunk, _lznt1_window, _lznt1_longest))
        for group in range(0, len(items), 8):
            flags_at = len(body)
            body.append(0)
            pos = sum(1 if isinstance(it, int) else it[1] for it in items[:group])
            for b, item in enumerate(items[group: group + 8]):
                if isinstance(item, int):
                    body.append(item)
                    pos += 1
                    continue
                distance, length = item
                bits = _length_bits(pos)
                body += struct.pack("<H", (distance - 1) << bits | (length - MIN_MATCH))
                body[flags_at] |= 1 << b
                pos += length
        if len(body) < len(chunk):
            out += struct.pack("<H", 0xB000 | (len(body) - 1)) + body
        else:
            out += struct.pack("<H", 0x3000 | (len(chunk) - 1)) + chunk
    return bytes(out + b"\0\0")


def _length_bits(pos: int) -> int:
    bits = 12
    at = pos - 1
    while at >= 0x10:
        at >>= 1
        bits -= 1
    return bits


def _lznt1_window(pos: int) -> int:
    return 1 << (16 - _length_bits(pos)) if pos else 0


def _lznt1_longest(pos: int) -> int:
    return (1 << _length_bits(pos)) - 1 + MIN_MATCH


def huffman(data: bytes) -> bytes:
    """LZ77+Huffman (MS-XCA 2.1): every one of the 512 symbols 9 bits long (a whole code, if not the
    shortest), matches of 3 to 17 bytes (no length bytes between the code words), 64 KiB a block."""
    out = bytearray()
    for start in range(0, len(data), 65536):
        block = data[start: start + 65536]
        bits: list[tuple[int, int]] = []          # (value, width)
        pos = 0
        for item in _matches(block, lambda i: 65535, lambda i: 17):
            if isinstance(item, int):
                bits.append((item, 9))
                pos += 1
                continue
            distance, length = item
            if (distance, length) == (1, MIN_MATCH):   # symbol 256 at the input's end reads as its end
                bits += [(byte, 9) for byte in block[pos: pos + MIN_MATCH]]
                pos += MIN_MATCH
                continue
            pos += length
            high = distance.bit_length() - 1
            bits.append((256 + (high << 4 | (length - MIN_MATCH)), 9))
            if high:
                bits.append((distance - (1 << high), high))
        out += bytes([0x99] * 256)
        total = sum(width for _, width in bits)
        words = 2 + max(0, -(-(total - 16) // 16))    # what the decoder fetches: two, then one per 16 bits used
        acc, have = 0, 0
        stream = bytearray()
        for value, width in bits:
            acc = acc << width | value
            have += width
            while have >= 16:
                have -= 16
                stream += struct.pack("<H", acc >> have & 0xFFFF)
        if have:
            stream += struct.pack("<H", acc << (16 - have) & 0xFFFF)
        stream += bytes(2 * words - len(stream))
        out += stream
    return bytes(out)

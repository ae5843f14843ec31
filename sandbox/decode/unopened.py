"""Outbound content the decoders could not open: bytes that look like ciphertext and explain nothing.

An instrument that encrypts what it sends (a "diagnostics bundle" sealed with the vendor's key, a
password-protected zip, a compressor the rig does not know) leaves the correlator random bytes that
match nothing: before this, an HTTPS upload of such a bundle through the rig's own proxy was clean.
Each view of an expansion is probed for bytes that look random; what its decoded views do not account
for is *unopened*, and the correlator weighs it as it weighs TLS without keys (opaque volume).

A view is probed with one window per block, at an offset drawn per block from a seed the instrument
cannot know, so plaintext placed where a fixed probe would look cannot hide the ciphertext around it.
Random bytes, compressed and encrypted data have ~162 distinct values in 256 bytes; text, reads,
base64, machine code, 16-bit samples and float32 arrays far fewer.  Noisy float64 arrays come close
(~141) and partly count: raw measurements are as unreadable to the rig as ciphertext.  What this
cannot see: ciphertext re-encoded into a small alphabet (hex or base32 the decoders do not recognise,
words), or padded with a third of filler, looks like text; an allow-list is what catches those.
"""

from __future__ import annotations

import secrets

import numpy as np

BLOCK = 8192
WINDOW = 256
# Distinct byte values in 256 random bytes: 162 on average (sd ~5; none under 142 in 32,000
# windows); noisy float64 measurements 141, float32 129, text and reads under 100.
MIN_DISTINCT = 140
# Views of at least this many blocks are probed with numpy; shorter ones window by window.
VECTOR_FROM = 32
_SEED = secrets.randbits(63)   # per process: where the windows fall is not the instrument's to know
_MIX = 0x9E3779B97F4A7C15


_MASK = (1 << 64) - 1


def ciphertext_bytes(data: bytes) -> int:
    """Bytes of ``data`` in blocks that look random (the last block takes the remainder)."""
    n = len(data)
    if n < WINDOW:
        return 0
    blocks = max(1, n // BLOCK)
    last = n - (blocks - 1) * BLOCK
    if blocks < VECTOR_FROM:
        view = memoryview(data)
        found = 0
        for b in range(blocks):
            size = BLOCK if b < blocks - 1 else last
            a = b * BLOCK + ((((b + _SEED) * _MIX) & _MASK) >> 33) % (size - WINDOW + 1)
            if len(set(view[a:a + WINDOW])) >= MIN_DISTINCT:
                found += size
        return found
    h = (np.arange(blocks, dtype=np.uint64) + np.uint64(_SEED)) * np.uint64(_MIX) >> np.uint64(33)
    spans = np.full(blocks, BLOCK - WINDOW + 1, dtype=np.uint64)
    spans[-1] = last - WINDOW + 1
    at = np.arange(blocks, dtype=np.int64) * BLOCK + (h % spans).astype(np.int64)
    windows = np.frombuffer(data, dtype=np.uint8)[at[:, None] + np.arange(WINDOW)]
    present = np.zeros((blocks, 256), dtype=bool)
    present[np.arange(blocks)[:, None], windows] = True
    random = np.count_nonzero(present, axis=1) >= MIN_DISTINCT
    return int(random[:-1].sum()) * BLOCK + (last if random[-1] else 0)


def unopened_bytes(views: list[bytes], explained: list[int]) -> int:
    """Ciphertext-looking bytes of ``views`` beyond what each one's decoded views (``explained``:
    bytes decoded out of it) account for: a gzip stream is opened by its output, a zip's stored
    member is its own view, but an encrypted member (or random bytes after a decoded part) is not."""
    return sum(max(0, ciphertext_bytes(data) - out) for data, out in zip(views, explained, strict=True)
               if out < len(data))

"""Winnowing: the >= 256-byte guarantee, low-information content, streaming equals one pass."""

from __future__ import annotations

import numpy as np

from sandbox.index import winnow as wn


def _random(n: int, seed: int = 1) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _index(data: bytes) -> dict[int, set[int]]:
    h, off, _ = wn.fingerprints([data[i:i + 70_001] for i in range(0, len(data), 70_001)])
    out: dict[int, set[int]] = {}
    for x, o in zip(h.tolist(), off.tolist(), strict=True):
        out.setdefault(x, set()).add(o)
    return out


def test_guarantee_constants():
    assert wn.GUARANTEE == 256 and wn.W + wn.K - 1 == wn.GUARANTEE


def test_every_256_byte_fragment_shares_a_fingerprint_at_its_offset():
    data = _random(3 * wn.CHUNK // 2)  # crosses a pass boundary
    idx = _index(data)
    rng = np.random.default_rng(2)
    offsets = list(rng.integers(0, len(data) - 256, 400)) + [wn.CHUNK - 128, wn.CHUNK - 1, 0, len(data) - 256]
    for o in map(int, offsets):
        h, pos = wn.winnow(np.frombuffer(b"junk" + data[o:o + 256] + b"tail", dtype=np.uint8))
        assert any(o + p - 4 in idx.get(x, ()) for x, p in zip(h.tolist(), pos.tolist(), strict=True)), o


def test_streaming_equals_single_pass_and_density():
    data = _random(400_000, 3)
    h1, o1, n = wn.fingerprints([data])
    h2, o2, _ = wn.fingerprints([data[i:i + 999] for i in range(0, len(data), 999)])
    assert n == len(data) and np.array_equal(h1, h2) and np.array_equal(o1, o2)
    assert abs(len(data) / len(h1) - 1 / wn.DENSITY) < 10


def test_low_information_content_has_no_fingerprints():
    for junk in (bytes(300_000), b"A" * 5000, b"CAG" * 3000, b"\x00\x01" * 4000, b"FFFF:FFFFFFFFFFFFFFFFFFF,FFFFFFFFFFFFFFFFF" * 400,
                 b"abcdefgh" * 1000):
        h, _, _ = wn.fingerprints([junk])
        assert len(h) == 0, junk[:10]


def test_low_info_at_agrees_with_full_test():
    buf = np.frombuffer(_random(3000) + b"CAG" * 100 + _random(500, 4) + bytes(200), dtype=np.uint8)
    full = wn.low_info(buf)
    pos = np.arange(len(full))
    assert np.array_equal(wn.low_info_at(buf, pos), full)
    assert full[3000:3200].all() and not full[:2900].any()


def test_sliding_min_matches_reference():
    v = np.random.default_rng(5).integers(0, 2**63, 5000, dtype=np.uint64)
    for w in (1, 2, 7, 225, 5000):
        ref = np.lib.stride_tricks.sliding_window_view(v, w).min(axis=1)
        assert np.array_equal(wn.sliding_min(v, w), ref)


def test_short_input():
    assert len(wn.winnow(np.frombuffer(b"short", dtype=np.uint8))[0]) == 0
    h, pos = wn.winnow(np.frombuffer(_random(100), dtype=np.uint8))
    assert len(h) == 1  # shorter than a window: its minimum


def test_xml_boilerplate_is_not_evidence(tmp_path):
    from sandbox.correlate import Correlator
    from sandbox.index import build_index
    from sandbox.index.boilerplate import is_boilerplate
    from sandbox.model import Payload, View

    prolog = b'<?xml version="1.0" encoding="utf-8"?>\r\n'
    ns = b'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    assert is_boilerplate(wn.kgram_hashes(np.frombuffer(prolog, dtype=np.uint8))).all()
    run = tmp_path / "run"
    run.mkdir()
    body = b"".join(b"  <Setting%d>%s</Setting%d>\r\n" % (i, _random(12, i).hex().encode(), i) for i in range(40))
    (run / "RunParameters.xml").write_bytes(prolog + b"<RunParameters " + ns + b">\r\n" + body + b"</RunParameters>")
    ix = build_index(run, cache_dir=tmp_path / "c")
    status = prolog + b"<Status " + ns + b">\r\n  <State>Idle</State>\r\n</Status>\r\n"
    for data, expect in ((status, 0), (body[300:600], 1)):
        c = Correlator([ix])
        c.scan(Payload(data, ("tcp",), "f", "out", 0.0, 0.0), [View(data, ("tcp",))])
        assert len([f for f in c.findings() if f.kind == "run-bytes"]) == expect


def _reference_winnow(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Winnowing spelled out over the whole buffer at once (no steps, full low-information mask)."""
    h = wn.kgram_hashes(buf)
    keys = np.minimum(h & wn._HIGH_MASK, wn._KEY_CAP) | np.arange(len(h), dtype=np.uint64)
    keys[wn.low_info(buf)] = wn.LOW_INFO
    mins = np.lib.stride_tricks.sliding_window_view(keys, min(wn.W, len(h))).min(axis=1)
    first = np.concatenate(([True], mins[1:] != mins[:-1]))
    chosen = mins[first]
    pos = (chosen[chosen != wn.LOW_INFO] & wn._POS_MASK).astype(np.int64)
    return h[pos], pos


def test_stepwise_winnow_equals_whole_buffer_reference():
    rng = np.random.default_rng(9)
    sizes = [40, 300, wn.BLOCK - 1, wn.BLOCK + wn.W, 2 * wn.BLOCK + 77, 5 * wn.BLOCK // 2]
    for n in sizes:
        buf = rng.integers(0, 256, n, dtype=np.uint8)
        # low-information stretches (zero runs, short repeats) around step boundaries
        for at in range(0, n, max(1, wn.BLOCK // 3)):
            buf[at: at + 600] = np.resize(rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8), len(buf[at: at + 600]))
        h1, p1 = wn.winnow(buf)
        h2, p2 = _reference_winnow(buf)
        assert np.array_equal(p1, p2) and np.array_equal(h1, h2), n

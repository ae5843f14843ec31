"""Winnowing: the >= 256-byte guarantee, low-information content, streaming equals one pass."""

from __future__ import annotations

import numpy as np

from sandbox.index import _kernels
from sandbox.index import winnow as wn
from tests.index import oracle


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


def test_low_information_places():
    data = _random(3000) + b"CAG" * 100 + _random(500, 4) + bytes(200)
    low = np.empty(len(data) - wn.K + 1, dtype=np.uint8)
    _kernels.low_info(data, low)
    assert low[3000:3200].all() and not low[:2900].any() and low[3800:].all()


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
        assert len([f for f in c.findings() if "run-bytes" in f.evidence_kinds]) == expect


def test_streaming_seams_equal_whole_stream_oracle():
    """Passes overlap by GUARANTEE - 1 bytes; the fingerprints of a stream cut into passes are the
    oracle's of the whole stream (positions need more bits than one pass has, so the oracle runs
    on every pass and the seams are joined as a set)."""
    rng = np.random.default_rng(9)
    data = bytearray(rng.integers(0, 256, 2 * wn.CHUNK + 5000, dtype=np.uint8).tobytes())
    for at in (wn.CHUNK - 400, wn.CHUNK - 100, 2 * wn.CHUNK - 10):  # low information across seams
        data[at: at + 600] = b"\x00\x01" * 300
    data = bytes(data)
    h, off, _ = wn.fingerprints([data[i:i + 77_777] for i in range(0, len(data), 77_777)])
    want = set()
    for start in range(0, len(data), wn.CHUNK):
        piece = np.frombuffer(data[start:start + wn.SPAN], dtype=np.uint8)
        ph, pp = oracle.winnow(piece)
        want |= set(zip(ph.tolist(), (pp + start).tolist(), strict=True))
        if start + wn.SPAN >= len(data):
            break
    assert set(zip(h.tolist(), off.tolist(), strict=True)) == want and len(h) == len(want)
    assert np.all(np.diff(off.astype(np.int64)) > 0)


def test_a_view_winnowed_on_threads_is_winnowed_pass_by_pass():
    """Large views' passes run side by side; what comes out is each pass's fingerprints in order,
    whatever the length (a pass boundary a byte either side, one pass short of parallel, many)."""
    data = _random(6 * wn.CHUNK + 3000, 12)
    for n in (wn.SPAN + 1, 2 * wn.CHUNK + wn.GUARANTEE - 1, 2 * wn.CHUNK + wn.GUARANTEE,
              (wn.PARALLEL_MIN_PASSES - 1) * wn.CHUNK + 300, len(data)):
        view = data[:n]
        hs, ps, start = [], [], 0
        while True:          # the passes one after another: every CHUNK bytes until one reaches the end
            h, p = wn.winnow(view[start:start + wn.SPAN])
            hs.append(h)
            ps.append(p + start)
            if start + wn.SPAN >= n:
                break
            start += wn.CHUNK
        h, p = wn.view_fingerprints(view)
        assert np.array_equal(h, np.concatenate(hs)) and np.array_equal(p, np.concatenate(ps)), n
        assert p.dtype == np.int64

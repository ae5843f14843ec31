"""The compiled kernels give exactly what the numpy oracle defines, on random and hostile input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.index import _kernels, kmers, winnow
from tests.index import oracle

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def byte_streams(draw, max_size: int = 6000) -> bytes:
    """Random bytes spliced with the cases the kernels branch on: runs, short periods with a few
    breaks, DNA text, quality strings, zero padding; lengths around K, one window and a block."""
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["random", "run", "period", "dna", "quality", "zeros"]))
        size = draw(st.one_of(st.integers(0, 40), st.integers(200, 300), st.integers(0, max_size // 3)))
        if kind == "random":
            parts.append(draw(st.binary(min_size=size, max_size=size)))
        elif kind == "run":
            parts.append(bytes([draw(st.integers(0, 255))]) * size)
        elif kind == "period":
            unit = draw(st.binary(min_size=1, max_size=12))
            piece = bytearray((unit * (size // len(unit) + 1))[:size])
            for _ in range(draw(st.integers(0, 6))):  # a few breaks
                if piece:
                    piece[draw(st.integers(0, len(piece) - 1))] = draw(st.integers(0, 255))
            parts.append(bytes(piece))
        elif kind == "dna":
            parts.append(bytes(draw(st.lists(st.sampled_from(b"ACGTNacgt\n"), min_size=size, max_size=size))))
        elif kind == "quality":
            parts.append(bytes(draw(st.lists(st.sampled_from(b"FFFFFFFF:,#"), min_size=size, max_size=size))))
        else:
            parts.append(bytes(size))
    return b"".join(parts)


def _u8(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8)


@PROPERTY
@given(byte_streams())
def test_kgram_hashes_equal_oracle(data):
    np.testing.assert_array_equal(winnow.kgram_hashes(data), oracle.kgram_hashes(_u8(data)))


@PROPERTY
@given(byte_streams())
def test_low_information_mask_equals_oracle(data):
    out = np.empty(max(len(data) - winnow.K + 1, 0), dtype=np.uint8)
    _kernels.low_info(data, out)
    np.testing.assert_array_equal(out.astype(bool), oracle.low_info(_u8(data)))


@PROPERTY
@given(byte_streams())
def test_winnow_equals_oracle(data):
    h, pos = winnow.winnow(data)
    want_h, want_pos = oracle.winnow(_u8(data))
    np.testing.assert_array_equal(pos, want_pos)
    np.testing.assert_array_equal(h, want_h)


@PROPERTY
@given(byte_streams(max_size=3000), st.integers(1, 32))
def test_canonical_kmers_equal_oracle(data, k):
    got, starts = kmers.canonical(data, k)
    want, want_starts = oracle.canonical(data, k)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(starts, want_starts)


@PROPERTY
@given(st.lists(st.integers(0, (1 << 62) - 1), max_size=300), byte_streams(max_size=600))
def test_evidence_mask_equals_oracle(values, dna):
    packed, _ = kmers.canonical(dna)  # real sequence: repeats, low complexity, adapters spliced in
    adapters = kmers.ADAPTER_KMERS[: len(values) % 7]
    q = np.concatenate([np.array(values, dtype=np.uint64), packed, adapters])
    np.testing.assert_array_equal(kmers.evidence_mask(q), oracle.evidence_mask(q))


def test_whole_passes_equal_oracle():
    """A full 1 MiB pass of each kind, beyond what the property tests draw."""
    rng = np.random.default_rng(1)
    n = winnow.SPAN
    cases = {
        "random": rng.integers(0, 256, n, dtype=np.uint8),
        "dna": np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, n)],
        "quality": np.frombuffer(b"FFFF:FF,F", np.uint8)[rng.integers(0, 9, n) * (rng.random(n) < 0.2)],
        "zeros": np.zeros(n, dtype=np.uint8),
    }
    for name, buf in cases.items():
        data = buf.tobytes()
        h, pos = winnow.winnow(data)
        want_h, want_pos = oracle.winnow(buf)
        assert np.array_equal(pos, want_pos) and np.array_equal(h, want_h), name


def test_arrays_too_small_get_the_first_and_the_count():
    """``winnow`` sizes its arrays for ordinary content and asks again when a pass has more."""
    data = np.random.default_rng(2).integers(0, 256, 40_000, dtype=np.uint8).tobytes()
    h, pos = winnow.winnow(data)
    hashes, positions = np.empty(3, np.uint64), np.empty(3, np.int64)
    assert _kernels.winnow(data, hashes, positions) == len(h) > 3
    assert hashes.tolist() == h[:3].tolist() and positions.tolist() == pos[:3].tolist()


def test_kernels_check_their_arguments():
    import pytest

    with pytest.raises(ValueError):
        _kernels.winnow(bytes(1 << 20), np.empty(8, np.uint64), np.empty(8, np.int64))
    with pytest.raises(TypeError):
        _kernels.winnow(b"x" * 100, np.empty(8, np.uint32), np.empty(8, np.int64))
    with pytest.raises(ValueError):
        _kernels.canonical(b"ACGT" * 20, 33, np.empty(80, np.uint64), np.empty(80, np.int64))
    with pytest.raises(ValueError):
        _kernels.canonical(b"ACGT" * 20, 31, np.empty(3, np.uint64), np.empty(3, np.int64))


@PROPERTY
@given(st.lists(st.integers(0, 400), max_size=80), st.lists(st.integers(0, 400), max_size=80),
       st.integers(0, 6), st.data())
def test_merge_in_place_is_the_union(old, new, spare, data):
    """Wherever the run lies in its array, with room on either side, the union ends up at one end."""
    a, b = np.unique(np.array(old, np.uint64)), np.unique(np.array(new, np.uint64))
    buf = np.full(len(a) + len(b) + spare, 7, dtype=np.uint64)
    lo = data.draw(st.integers(0, len(buf) - len(a)))
    buf[lo: lo + len(a)] = a
    if lo < len(b) and len(buf) - lo - len(a) < len(b):
        import pytest

        with pytest.raises(ValueError):
            _kernels.merge(buf, lo, len(a), b)
        return
    lo, count = _kernels.merge(buf, lo, len(a), b)
    assert buf[lo: lo + count].tolist() == np.union1d(a, b).tolist()
    assert lo == 0 or lo + count == len(buf)


@PROPERTY
@given(st.lists(st.integers(0, (1 << 64) - 1), max_size=300), st.integers(0, 50), st.integers(1, 64))
def test_sample_in_place_equals_the_mix_threshold(values, lo, scale):
    from sandbox.index.kmerset import max_hash

    v = np.array(values, dtype=np.uint64)
    buf = np.concatenate([np.zeros(lo, np.uint64), v])
    count = _kernels.sample(buf, lo, len(v), int(max_hash(scale)))
    assert buf[:count].tolist() == v[winnow.mix64(v.copy()) <= max_hash(scale)].tolist()


@PROPERTY
@given(st.integers(0, 500), st.integers(0, 2**32))
def test_permute_in_place_equals_fancy_indexing(n, seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 1 << 63, n, dtype=np.uint64)
    order = rng.permutation(n).astype(np.int64)
    want = values[order]
    _kernels.permute(values, order, np.zeros((n + 7) // 8, np.uint8))
    assert values.tolist() == want.tolist()


def test_in_place_kernels_check_their_arguments():
    import pytest

    buf = np.arange(10, dtype=np.uint64)
    with pytest.raises(ValueError):  # no room on either side
        _kernels.merge(buf, 0, 10, np.array([3], np.uint64))
    with pytest.raises(ValueError):  # the new run inside the array it is merged into
        _kernels.merge(buf, 5, 5, buf[:3])
    with pytest.raises(ValueError):
        _kernels.sample(buf, 4, 7, 0)
    with pytest.raises(ValueError):  # not a permutation: refused, not looping
        _kernels.permute(buf, np.zeros(10, np.int64), np.zeros(2, np.uint8))
    with pytest.raises(ValueError):
        _kernels.permute(buf, np.arange(10, dtype=np.int64), np.ones(2, np.uint8))


@st.composite
def dna_views(draw) -> tuple[bytes, np.ndarray]:
    """DNA runs (random, repeats, low complexity, line-wrapped) and which of their k-mers an index
    holds: stretches found densely, sparsely, or not at all, so windows land on both sides of the rule."""
    parts = []
    for _ in range(draw(st.integers(1, 5))):
        size = draw(st.one_of(st.integers(31, 80), st.integers(150, 450), st.integers(0, 1500)))
        kind = draw(st.sampled_from(["random", "repeat", "wrapped", "period"]))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        seq = bytes(rng.choice(np.frombuffer(b"ACGT", np.uint8), size))
        if kind == "repeat":  # the same k-mers again in one window: counted once
            seq = (seq[:60] * (size // 60 + 1))[:size] if size > 60 else seq
        elif kind == "wrapped":
            seq = b"\n".join(seq[i:i + 60] for i in range(0, len(seq), 60))
        elif kind == "period":
            seq = (b"CAG" * (size // 3 + 1))[:size]
        parts.append(seq + draw(st.sampled_from([b" x ", b"\n+\n", b"N", b",\""])))
    data = b"".join(parts)
    runs = kmers.dna_runs(data)
    if not len(runs):
        return data, np.zeros(0, dtype=bool)
    n = len(kmers.canonical(runs.joined)[0])
    found = np.zeros(n, dtype=bool)
    for _ in range(draw(st.integers(0, 6))):
        a = draw(st.integers(0, max(n - 1, 0)))
        b = min(n, a + draw(st.integers(1, 300)))
        density = draw(st.sampled_from([1.0, 0.6, 0.3, 0.1]))
        found[a:b] |= np.random.default_rng(a + b).random(b - a) < density
    return data, found


@PROPERTY
@given(dna_views(), st.integers(1, 40), st.sampled_from([1, 3]))
def test_read_windows_equal_oracle(view, need, scale):
    data, found = view
    runs = kmers.dna_runs(data)
    if not len(runs):
        return
    km, starts = kmers.canonical(runs.joined)
    max_hash = int(np.uint64((1 << 64) // scale - 1)) if scale > 1 else (1 << 64) - 1
    confirmed = np.empty(len(km), dtype=bool)
    got = _kernels.read_windows(km, starts, runs.starts, found, kmers.K, 200, need, 0.3, max_hash,
                                kmers._low_entropy_table(kmers.K), kmers.ADAPTER_KMERS, confirmed)
    windows, bases, first, want = oracle.read_windows(km, starts, runs.starts, found, kmers.K, 200, need, 0.3,
                                                      max_hash)
    assert got == (windows, bases, first)
    assert confirmed.tolist() == want.tolist()


@st.composite
def haystacks_and_needles(draw) -> tuple[bytes, tuple[bytes, ...], int]:
    """1-16 needles of 1-8 bytes (some sharing a first byte), planted whole and cut short around the
    16-byte blocks the vector loop reads, in random bytes or a flood of a needle's first byte."""
    needles = tuple(draw(st.lists(st.binary(min_size=1, max_size=8), min_size=1, max_size=16)))
    if draw(st.booleans()) and len(needles) > 1:
        needles = (needles[0], needles[0][:1] + needles[1], *needles[2:])[:16]
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        filler = draw(st.sampled_from(["random", "flood"]))
        size = draw(st.one_of(st.integers(0, 20), st.integers(0, 300)))
        parts.append(draw(st.binary(min_size=size, max_size=size)) if filler == "random"
                     else needles[0][:1] * size)
        needle = draw(st.sampled_from(needles))
        parts.append(needle[: draw(st.integers(1, len(needle)))])
    data = b"".join(parts)
    return data, needles, draw(st.integers(0, len(data) + 2))


@PROPERTY
@given(haystacks_and_needles())
def test_first_of_equals_bytes_find(case):
    data, needles, start = case
    out = np.empty(len(needles), dtype=np.int64)
    _kernels.first_of(data, needles, start, out)
    assert out.tolist() == [data.find(n, start) for n in needles]


def test_first_of_checks_its_arguments():
    out = np.empty(2, dtype=np.int64)
    for bad in [((), 0, out), ((b"a",) * 17, 0, np.empty(17, np.int64)), ((b"a",), -1, out),
                ((b"a", b"b", b"c"), 0, out), (("a",), 0, out), ((b"a",), 0, np.empty(2, np.int32))]:
        try:
            _kernels.first_of(b"abc", *bad)
        except (ValueError, TypeError):
            continue
        raise AssertionError(f"accepted {bad!r}")


@PROPERTY
@given(st.binary(max_size=300), st.integers(0, 15))
def test_lower_ascii_equals_bytes_lower(data, spare):
    out = bytearray(len(data) + spare)
    _kernels.lower_ascii(data, out)
    assert out[: len(data)] == data.lower() and out[len(data):] == bytes(spare)
    try:
        _kernels.lower_ascii(data + b"x", bytearray(len(data)))
    except ValueError:
        return
    raise AssertionError("a short out was accepted")


@PROPERTY
@given(st.binary(max_size=600), st.integers(1, 40), st.integers(1, 3))
def test_two_bit_forms_are_the_forms_of_the_unpacked_bases(data, stride, orders):
    """One pass over packed bytes gives what unpacking them (``two_bit_runs``) and asking
    ``canonical_at`` and ``patterns`` gives, in each order asked."""
    want = [kmers.patterns(kmers.canonical_at(kmers.two_bit_runs(data, high).joined, stride))
            for high, bit in ((True, 1), (False, 2)) if orders & bit]
    windows = (4 * len(data) - kmers.K) // stride + 1 if 4 * len(data) >= kmers.K else 0
    out = np.empty(2 * windows, dtype=np.uint64)
    count = _kernels.two_bit_forms(data, kmers.K, stride, orders, out)
    assert out[:count].tolist() == np.concatenate([np.empty(0, np.uint64), *want]).tolist()


def test_two_bit_forms_checks_its_arguments():
    for bad in [(b"abcd", 0, 1, 3, np.empty(8, np.uint64)), (b"abcd", 33, 1, 3, np.empty(8, np.uint64)),
                (b"abcd", 5, 0, 3, np.empty(8, np.uint64)), (b"abcd", 5, 1, 4, np.empty(8, np.uint64)),
                (b"abcdefgh", 5, 1, 3, np.empty(3, np.uint64)), (b"abcd", 5, 1, 3, np.empty(8, np.int32))]:
        with pytest.raises((ValueError, TypeError)):
            _kernels.two_bit_forms(*bad)


def _low_bit_stream(data: bytes, bits: int, pattern: int) -> np.ndarray:
    """The low ``bits`` (higher first) of the bytes ``pattern`` takes, as one array of bits."""
    cover = np.frombuffer(data, np.uint8)
    index = np.arange(len(cover))
    cover = cover[[np.ones(len(cover), bool), index % 4 != 3, index % 2 == 0][pattern]]
    return np.stack([cover >> k & 1 for k in range(bits - 1, -1, -1)], axis=1).ravel().astype(np.uint8)


def _low_bits_oracle(data: bytes, bits: int, pattern: int, skip: int, lsb_first: bool) -> bytes:
    """``_kernels.low_bits`` by numpy: the stream packed from ``skip``, whole bytes."""
    stream = _low_bit_stream(data, bits, pattern)[skip:]
    return np.packbits(stream[:len(stream) // 8 * 8], bitorder="little" if lsb_first else "big").tobytes()


@PROPERTY
@given(byte_streams(2000), st.sampled_from([1, 2]), st.sampled_from([0, 1, 2]), st.integers(0, 20), st.booleans(),
       st.integers(0, 300))
def test_low_bits_equal_oracle(data, bits, pattern, skip, lsb_first, room):
    out = bytearray(room)
    made = _kernels.low_bits(data, bits, pattern, skip, lsb_first, out)
    assert bytes(out[:made]) == _low_bits_oracle(data, bits, pattern, skip, lsb_first)[:room]


@PROPERTY
@given(byte_streams(3000), st.lists(st.binary(min_size=3, max_size=3), min_size=1, max_size=8), st.integers(32, 2000))
def test_low_bit_look_finds_what_the_oracle_does(data, needles, looked):
    """Every needle at every bit of each way's first ``looked`` bits, and a way's quiet phase where one
    phase of eight is 0 four times in five and another varies."""
    ways = [(1, 0), (2, 0), (1, 1), (2, 1), (1, 2), (2, 2)]
    out = np.empty((6 * 2000 * 8 + 6, 3), np.int64)       # room for a needle at every bit
    count = _kernels.low_bit_look(data, np.array(ways, np.int64), b"".join(needles), looked, out)
    expected = []
    for w, (bits, pattern) in enumerate(ways):
        stream = _low_bit_stream(data, bits, pattern)[:looked]
        text = stream.tobytes()
        for at in range(len(stream) - 23):
            window = text[at:at + 24]
            expected += [(n, w, at) for n, needle in enumerate(needles)
                         if window == bytes(np.unpackbits(np.frombuffer(needle, np.uint8)))]
        got = len(stream)
        ones = [int(stream[p::8].sum()) for p in range(8)]
        quiet = [p for p in range(8) if ones[p] * 5 <= got // 8]
        varied = any(got // 8 < ones[p] * 10 < got // 8 * 9 for p in range(8))
        if quiet and varied and got >= 64:
            expected.append((-1, w, min(quiet, key=lambda p: ones[p])))
    assert sorted(map(tuple, out[:count].tolist())) == sorted(expected)


def _unfilter_oracle(data: bytes, stride: int, bpp: int) -> bytes:
    """PNG's filters undone as ISO 15948 9.2 writes them, a byte at a time."""
    rows, prior = [], bytearray(stride)
    for r in range(len(data) // (stride + 1)):
        kind, line = data[r * (stride + 1)], bytearray(data[r * (stride + 1) + 1:(r + 1) * (stride + 1)])
        if kind > 4:
            break
        for i in range(stride):
            a, b = line[i - bpp] if i >= bpp else 0, prior[i]
            c = prior[i - bpp] if i >= bpp else 0
            p = a + b - c
            paeth = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c
            line[i] = (line[i] + [0, a, b, (a + b) // 2, paeth][kind]) & 0xFF
        rows.append(bytes(line))
        prior = line
    return b"".join(rows)


@PROPERTY
@given(st.integers(1, 40), st.integers(1, 8), st.integers(0, 12), st.data())
def test_png_unfilter_equals_oracle(stride, bpp, rows, draw):
    body = b"".join(bytes([draw.draw(st.sampled_from([0, 1, 2, 3, 4, 4, 4, 5]))]) + draw.draw(
        st.binary(min_size=stride, max_size=stride)) for _ in range(rows))
    out = np.zeros((rows, stride), np.uint8)
    done = _kernels.png_unfilter(body, stride, bpp, out)
    want = _unfilter_oracle(body, stride, bpp)
    assert done == len(want) // stride and out[:done].tobytes() == want


def test_image_kernels_check_their_arguments():
    with pytest.raises(ValueError):
        _kernels.png_unfilter(b"\0" * 8, 0, 1, bytearray(8))
    with pytest.raises(ValueError):
        _kernels.png_unfilter(b"\0" * 8, 4, 9, bytearray(8))
    with pytest.raises(ValueError):
        _kernels.low_bits(b"\0" * 8, 3, 0, 0, False, bytearray(8))
    with pytest.raises(ValueError):
        _kernels.low_bits(b"\0" * 8, 1, 3, 0, False, bytearray(8))
    with pytest.raises(ValueError):
        _kernels.low_bit_look(b"\0" * 8, np.array([1, 0], np.int64), b"abc", 16, np.empty((1, 3), np.int64))
    with pytest.raises(ValueError):
        _kernels.low_bit_look(b"\0" * 8, np.array([3, 0], np.int64), b"abc", 64, np.empty((1, 3), np.int64))
    with pytest.raises(BufferError):
        _kernels.low_bits(b"\0" * 8, 1, 0, 0, False, b"read only")


def test_lz4_block_size_walks_blocks_and_counts_copies_from_before_them():
    """Against python-lz4: a block's size and matches; with a window, copies from a dictionary before
    it counted (none without one: no whole block); a window outside 0-64 KiB refused."""
    import lz4.block

    text = b"".join(b"@r%d\nACGTTGCA%dCCGGTTAA\n" % (i, i * 7919) for i in range(400))
    plain = lz4.block.compress(text, store_size=False)
    size, matches, before = _kernels.lz4_block_size(plain, 0)
    assert size == len(text) and matches > 0 and before == 0
    keyed = lz4.block.compress(text, store_size=False, dict=text[-2000:])
    assert _kernels.lz4_block_size(keyed, 0)[0] == -1
    size, matches, before = _kernels.lz4_block_size(keyed, 0, 1 << 16)
    assert size == len(text) and before > 0
    with pytest.raises(ValueError):
        _kernels.lz4_block_size(plain, 0, (1 << 16) + 1)

"""RunIndex lookups (Bloom prefilter + bucket directory, in the compiled kernels) against plain numpy."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sandbox.index.runindex import bloom_filter


def bloom_bucket(kmers: np.ndarray, bits: int) -> np.ndarray:
    """The bitmap bit of a k-mer: the top ``bits`` bits of k-mer * an odd constant."""
    return (kmers * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits)


def reference(km: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    found = np.isin(q, km)
    return found, np.searchsorted(km, q[found]).astype(np.int64)


def with_km(ix, km: np.ndarray):
    km = np.asarray(km, dtype=np.uint64)
    return replace(ix, km=km, km_sid=np.zeros(len(km), dtype=np.uint32))


def check(ix, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q = np.asarray(q, dtype=np.uint64)
    found, rows = ix.lookup_kmers(q)
    want_found, want_rows = reference(np.asarray(ix.km), q)
    assert found.dtype == bool and rows.dtype == np.int64
    np.testing.assert_array_equal(found, want_found)
    np.testing.assert_array_equal(rows, want_rows)
    return found, rows


def random_table(rng, n: int, bits: int = 62) -> np.ndarray:
    return np.unique(rng.integers(0, 1 << bits, n, dtype=np.uint64))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_mixed_queries(gen_index, seed):
    rng = np.random.default_rng(seed)
    km = random_table(rng, 50_000)
    ix = with_km(gen_index, km)
    members = rng.choice(km, 30_000)  # with repeats
    q = np.concatenate([members, random_table(rng, 40_000), members[:500], km[:3], km[-3:],
                        np.array([0, 1, km[-1] + 1, 2**64 - 1], dtype=np.uint64)])
    rng.shuffle(q)
    found, _ = check(ix, q)
    assert found.sum() >= 30_000


def test_all_hit_and_no_hit(gen_index):
    rng = np.random.default_rng(7)
    km = random_table(rng, 20_000)
    ix = with_km(gen_index, km)
    found, rows = check(ix, km)
    assert found.all() and rows.tolist() == list(range(len(km)))
    outside = np.setdiff1d(random_table(rng, 20_000), km)
    found, rows = check(ix, outside)
    assert not found.any() and not len(rows)


def test_empty_inputs(gen_index):
    found, rows = with_km(gen_index, []).lookup_kmers(np.arange(5, dtype=np.uint64))
    assert found.tolist() == [False] * 5 and rows.shape == (0,)
    found, rows = gen_index.lookup_kmers(np.empty(0, dtype=np.uint64))
    assert found.shape == (0,) and rows.shape == (0,)
    hit, lo, hi = gen_index.lookup_fingerprints(np.empty(0, dtype=np.uint64))
    assert hit.shape == lo.shape == hi.shape == (0,)


@pytest.mark.parametrize("value", [0, 1, 2**62 + 5, 2**64 - 1])
def test_single_row_table(gen_index, value):
    ix = with_km(gen_index, [value])
    q = np.array([value, 0, 1, 2**63, 2**64 - 1, value], dtype=np.uint64)
    found, rows = check(ix, q)
    assert found[0] and found[-1] and set(rows.tolist()) == {0}


def test_crowded_buckets(gen_index):
    """Low-complexity sequence packs thousands of k-mers into one directory bucket (wide path)."""
    rng = np.random.default_rng(3)
    dense = np.arange(0, 20_000, 3, dtype=np.uint64)  # all in bucket 0
    km = np.union1d(dense, random_table(rng, 5_000))
    ix = with_km(gen_index, km)
    q = np.concatenate([np.arange(0, 21_000, dtype=np.uint64), rng.choice(km, 5_000), random_table(rng, 5_000)])
    check(ix, q)
    assert np.diff(ix._tables["km"].directory.starts.astype(np.int64)).max() > 1000


def test_real_kmers(gen_index):
    """The generated run's own canonical k-mers, mixed with unrelated ones."""
    km = np.asarray(gen_index.km)
    rng = np.random.default_rng(11)
    q = np.concatenate([km[rng.integers(0, len(km), 20_000)], random_table(rng, 20_000, bits=2 * 31)])
    rng.shuffle(q)
    found, _ = check(gen_index, q)
    assert found.sum() >= 20_000


def test_replace_rebuilds_lookup_structures(gen_index):
    rng = np.random.default_rng(5)
    a = with_km(gen_index, random_table(rng, 1_000))
    a.lookup_kmers(np.asarray(a.km[:5]))
    b = replace(a, km=random_table(rng, 1_000))
    found, _ = check(b, np.asarray(b.km))
    assert found.all()


def test_bloom_has_the_indexed_bucket_bits():
    rng = np.random.default_rng(9)
    km = random_table(rng, 10_000)
    bloom, bits = bloom_filter(km)
    flags = np.unpackbits(bloom, bitorder="little").astype(bool)
    want = np.zeros(1 << bits, dtype=bool)
    want[bloom_bucket(km, bits)] = True
    np.testing.assert_array_equal(flags, want)
    assert flags[bloom_bucket(random_table(rng, 100_000), bits)].mean() < 0.15  # unrelated: mostly rejected


def test_fingerprints_equal_searchsorted(gen_index):
    fp = np.asarray(gen_index.fp_hash)
    rng = np.random.default_rng(4)
    q = np.concatenate([fp[rng.integers(0, len(fp), 5_000)], rng.integers(0, 2**63, 5_000, dtype=np.uint64)])
    hit, lo, hi = gen_index.lookup_fingerprints(q)
    want_lo, want_hi = np.searchsorted(fp, q, "left"), np.searchsorted(fp, q, "right")
    want = np.flatnonzero(want_hi > want_lo)
    np.testing.assert_array_equal(hit, want)
    np.testing.assert_array_equal(lo, want_lo[want])
    np.testing.assert_array_equal(hi, want_hi[want])


@pytest.mark.parametrize("seed", [0, 1])
def test_fingerprint_ranges_are_searchsorted(gen_index, seed):
    rng = np.random.default_rng(seed)
    table = np.sort(np.concatenate([random_table(rng, 30_000, bits=64), np.arange(500, dtype=np.uint64),
                                    np.full(100, 2**64 - 1, dtype=np.uint64)]))  # crowded, repeated, top
    keys = np.concatenate([table[rng.integers(0, len(table), 5_000)], random_table(rng, 5_000, bits=64),
                           np.array([0, 2**64 - 1, 2**64 - 2], dtype=np.uint64)])
    hit, lo, hi = replace(gen_index, fp_hash=table).lookup_fingerprints(keys)
    want_lo, want_hi = np.searchsorted(table, keys, "left"), np.searchsorted(table, keys, "right")
    want = np.flatnonzero(want_hi > want_lo)
    np.testing.assert_array_equal(hit, want)
    np.testing.assert_array_equal(lo, want_lo[want])
    np.testing.assert_array_equal(hi, want_hi[want])


def test_fingerprints_with_repeats_and_top_value(gen_index):
    rng = np.random.default_rng(8)
    fp = np.sort(np.concatenate([rng.integers(0, 2**64 - 1, 3_000, dtype=np.uint64, endpoint=True),
                                 np.repeat(np.uint64(12345), 7), np.repeat(np.uint64(2**64 - 1), 3)]))
    ix = replace(gen_index, fp_hash=fp)
    q = np.concatenate([fp[::3], [np.uint64(2**64 - 1), np.uint64(12345), np.uint64(12346)]])
    hit, lo, hi = ix.lookup_fingerprints(q)
    want_lo, want_hi = np.searchsorted(fp, q, "left"), np.searchsorted(fp, q, "right")
    want = np.flatnonzero(want_hi > want_lo)
    np.testing.assert_array_equal(hit, want)
    np.testing.assert_array_equal(lo, want_lo[want])
    np.testing.assert_array_equal(hi, want_hi[want])
    assert hi[-1] - lo[-1] == 7 and hi[-2] == len(fp)  # 12346 is absent


def test_fingerprints_no_hit(gen_index):
    fp = np.asarray(gen_index.fp_hash)
    q = np.setdiff1d(np.random.default_rng(2).integers(0, 2**64 - 1, 70_000, dtype=np.uint64), fp)
    hit, lo, hi = gen_index.lookup_fingerprints(q)
    assert hit.shape == lo.shape == hi.shape == (0,)


def test_a_prepared_index_has_its_lookup_structures_and_answers_the_same(gen_index):
    """A live session prepares its indexes before the first payload; lookups are unchanged."""
    fresh = replace(gen_index)
    assert fresh._fp_dir is None and "km" not in fresh._tables
    fresh.prepare()
    assert fresh._fp_dir is not None and fresh._tables["km"] is not None
    rng = np.random.default_rng(6)
    fp, km = np.asarray(fresh.fp_hash), np.asarray(fresh.km)
    q = np.concatenate([fp[rng.integers(0, len(fp), 2_000)], rng.integers(0, 2**63, 2_000, dtype=np.uint64)])
    other = replace(gen_index)
    for got, want in zip(fresh.lookup_fingerprints(q), other.lookup_fingerprints(q), strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(fresh.lookup_kmers(km[:3000]), other.lookup_kmers(km[:3000]), strict=True):
        np.testing.assert_array_equal(got, want)

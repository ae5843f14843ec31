from __future__ import annotations

import numpy as np

from sandbox.index.kmers import canonical
from sandbox.index.kmerset import KmerSetBuilder, max_hash
from tests.index.genrun import random_genome


def test_sample_sets_merge_across_files():
    shared = random_genome(2000, 1)
    only_a, only_b = random_genome(2000, 2), random_genome(2000, 3)
    b = KmerSetBuilder()
    b.add_reads([shared[:1000], only_a], ("A",))
    b.add_reads([shared[500:], only_b], ("B",))
    b.add_reads([shared[:40]], ("C",))
    kmers, sids, sets, scale = b.finish()
    assert scale == 1 and np.all(np.diff(kmers) > 0)

    def owners(seq):
        k = canonical(seq)[0]
        return {tuple(sets.sets[s]) for s in sids[np.searchsorted(kmers, k)].tolist()}

    assert owners(only_a) == {("A",)} and owners(only_b) == {("B",)}
    assert owners(shared[500:1000]) == {("A", "B")} and owners(shared[:40]) == {("A", "C")}
    assert b.reads == 5 and b.bases == 1000 + 2000 + 1500 + 2000 + 40


def test_budget_turns_into_fracminhash():
    b = KmerSetBuilder(budget=1000)
    b.add_reads([random_genome(20_000, 4)], ("A",))
    kmers, _, _, scale = b.finish()
    assert scale >= 16 and len(kmers) <= 1000
    from sandbox.index.kmers import kmer_hash
    assert np.all(kmer_hash(kmers) <= max_hash(scale))


def test_specific_attribution_beats_lane_wide():
    from sandbox.index.kmerset import most_specific

    assert most_specific([{"A"}, {"A", "B", "C"}]) == {"A"}
    assert most_specific([{"A"}, {"B"}, {"A", "B", "C"}]) == {"A", "B"}
    assert most_specific([{"A", "B", "C"}, set()]) == {"A", "B", "C"}
    assert most_specific([{"A"}, {"B", "C", "D"}]) == {"A", "B", "C", "D"}
    assert most_specific([set()]) == set()
    genome = random_genome(3000, 9)
    b = KmerSetBuilder()
    b.add_reads([genome], ("A",))
    b.add_reads([genome], ("A", "B", "C"))  # the same reads again from an undemultiplexed BCL tile
    kmers, sids, sets, _ = b.finish()
    assert {sets.sets[s] for s in sids.tolist()} == {("A",)}


def _owners_by_reference(files: list[tuple[bytes, tuple[str, ...]]]) -> dict[int, set[str]]:
    """Each k-mer's samples, by the definition: the most specific attributions of the files holding it."""
    from sandbox.index.kmers import evidence_mask
    from sandbox.index.kmerset import most_specific

    held: dict[int, list[set[str]]] = {}
    for seq, samples in files:
        k = np.unique(canonical(seq)[0])
        for value in k[evidence_mask(k)].tolist():
            held.setdefault(value, []).append(set(samples))
    return {value: most_specific(sets) for value, sets in held.items()}


def test_many_sample_sets_combine_like_the_definition():
    """70 files (more than one union takes at once), overlapping, some undemultiplexed."""
    genome = random_genome(30_000, 21)
    files = []
    for i in range(70):
        start = (i * 397) % 28_000
        samples = (f"S{i}",) if i % 5 else (f"S{i}", f"S{i + 1}", f"S{i + 2}")
        files.append((genome[start: start + 2000], samples))
    b = KmerSetBuilder()
    for seq, samples in files:
        b.add_reads([seq], samples)
    kmers, sids, sets, scale = b.finish()
    want = _owners_by_reference(files)
    assert scale == 1 and kmers.tolist() == sorted(want)
    assert [set(sets.sets[s]) for s in sids.tolist()] == [want[v] for v in kmers.tolist()]


def test_union_kernel_equals_numpy():
    from sandbox.index.kmerset import union

    rng = np.random.default_rng(3)
    arrays = [np.unique(rng.integers(0, 5000, int(rng.integers(0, 900)), dtype=np.uint64)) for _ in range(9)]
    values, masks = union(arrays)
    assert values.tolist() == np.unique(np.concatenate(arrays)).tolist()
    for bit, a in enumerate(arrays):
        assert ((masks >> np.uint64(bit)) & np.uint64(1)).astype(bool).tolist() == np.isin(values, a).tolist()
    assert union(arrays[:2], masks=False)[0].tolist() == np.union1d(arrays[0], arrays[1]).tolist()

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


def _reads_with_errors(genome: bytes, count: int, seed: int) -> list[bytes]:
    """150-base reads of a genome with 1% substitutions: most k-mers repeat, errors add new ones."""
    rng = np.random.default_rng(seed)
    codes = np.frombuffer(genome, dtype=np.uint8)
    reads = []
    for start in rng.integers(0, len(genome) - 150, count).tolist():
        read = codes[start: start + 150].copy()
        hit = rng.random(150) < 0.01
        read[hit] = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, int(hit.sum()))]
        reads.append(read.tobytes())
    return reads


def test_memory_stays_within_its_bound_and_the_set_within_the_definition():
    """Four sample sets read by two threads with a small budget and small pending arrays: hundreds
    of in-place merges and several samplings, never more held than the bound, and the result is
    the definition's (every distinct evidence k-mer under the final scale, owned by its samples)."""
    from concurrent.futures import ThreadPoolExecutor

    from sandbox.index.kmers import evidence_mask, kmer_hash
    from sandbox.index.kmerset import ROOM_PENDINGS, most_specific

    genomes = [random_genome(6000, 30 + i) for i in range(3)]
    files = [(_reads_with_errors(genomes[i % 3], 900, 40 + i), (f"S{i}",)) for i in range(4)]
    b = KmerSetBuilder(budget=12_000, pending=700)
    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(lambda f: b.add_reads(*f), files)) == [900] * 4
    assert b.budget < b.peak_held <= b.memory_bound(threads=2)
    assert b.held() <= b.budget + ROOM_PENDINGS * b.pending  # no pending array left, rooms given back
    kmers, sids, sets, scale = b.finish()
    assert scale >= 4 and b.held() == 0
    held: dict[int, list[set[str]]] = {}
    for reads, samples in files:
        k = np.unique(np.concatenate([canonical(r)[0] for r in reads]))
        k = k[evidence_mask(k) & (kmer_hash(k) <= max_hash(scale))]
        for value in k.tolist():
            held.setdefault(value, []).append(set(samples))
    assert kmers.tolist() == sorted(held)
    assert [set(sets.sets[s]) for s in sids.tolist()] == [most_specific(held[v]) for v in kmers.tolist()]


def test_many_sample_sets_give_back_their_merge_room():
    """Twelve files one after another: the sets merged into long ago keep no free slots, so what
    is held is the k-mers plus the room limit."""
    from sandbox.index.kmers import evidence_mask
    from sandbox.index.kmerset import ROOM_PENDINGS

    b = KmerSetBuilder(budget=10**9, pending=500)
    kept = 0  # distinct evidence k-mers of each file, summed: what the sets hold
    for i in range(12):
        reads = _reads_with_errors(random_genome(3000, 60 + i), 200, i)
        assert b.add_reads(reads, (f"S{i}",)) == 200
        k = np.unique(np.concatenate([canonical(r)[0] for r in reads]))
        kept += int(evidence_mask(k).sum())
        assert kept <= b.held() <= kept + ROOM_PENDINGS * b.pending
    assert b.peak_held <= b.memory_bound(threads=1)
    assert b.finish()[3] == 1 and b.held() == 0

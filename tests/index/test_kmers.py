"""Canonical k-mers, the low-complexity / adapter filter and DNA run extraction."""

from __future__ import annotations

import re

import numpy as np

from sandbox.index import kmers as km
from tests.index.genrun import random_genome, revcomp


def _brute(seq: bytes) -> list[int]:
    def enc(s: bytes) -> int:
        v = 0
        for ch in s:
            v = v * 4 + b"ACGT".index(ch)
        return v
    return [min(enc(seq[i:i + km.K]), enc(revcomp(seq[i:i + km.K]))) for i in range(len(seq) - km.K + 1)]


def test_canonical_matches_brute_force_and_strands():
    seq = random_genome(300, 1)
    kmers, starts = km.canonical(seq)
    assert kmers.tolist() == _brute(seq) and starts.tolist() == list(range(len(seq) - km.K + 1))
    assert sorted(km.canonical(revcomp(seq))[0].tolist()) == sorted(kmers.tolist())
    assert km.canonical(seq.lower())[0].tolist() == kmers.tolist()


def test_windows_with_n_are_skipped():
    seq = bytearray(random_genome(100, 2))
    seq[50] = ord("N")
    kmers, starts = km.canonical(bytes(seq))
    assert not any(s <= 50 < s + km.K for s in starts.tolist())
    assert len(kmers) == 100 - km.K + 1 - km.K


def test_low_complexity_and_adapters_are_not_evidence():
    for junk in (b"A" * 60, b"CAG" * 30, b"AC" * 40, b"AATG" * 20, b"GGAATC" * 15, b"A" * 25 + b"C" + b"A" * 30,
                 km.ADAPTERS[0].encode(), revcomp(km.ADAPTERS[1].encode())):
        kmers, _ = km.canonical(junk)
        assert not km.evidence_mask(kmers).any(), junk[:12]
    genome = random_genome(20_000, 3)
    kmers, _ = km.canonical(genome)
    assert km.evidence_mask(kmers).mean() > 0.99


def _runs(data: bytes) -> list[tuple[int, bytes]]:
    runs = km.dna_runs(data)
    joined = runs.joined.tobytes()
    return [(int(o), joined[s:s + n]) for o, s, n in zip(runs.offsets, runs.starts, runs.lengths, strict=True)]


def test_dna_runs():
    seq = random_genome(100, 4)
    text = b'{"a":"cat","seq":"' + seq.lower() + b'"} >r\n' + seq[:60] + b"\n" + seq[60:] + b"\n+ ACGTACG"
    runs = _runs(text)
    assert [r for _, r in runs] == [seq.lower(), seq]
    assert text[runs[0][0]:runs[0][0] + 5] == seq[:5].lower()
    assert km.dna_runs(text).joined.tobytes() == seq.lower() + b"N" + seq
    assert _runs(b"x" + b"A" * 40 + b"\n" + b"a" * 9 + b" " + seq) == [(52, seq)]  # poly-A is no run


def test_hash_spreads():
    h = km.kmer_hash(np.arange(100_000, dtype=np.uint64))
    assert 0.45 < (h < np.uint64(1 << 63)).mean() < 0.55


_RUN = re.compile(rb"[ACGTNacgtn]{%d,}(?:\r?\n[ACGTNacgtn]+)*" % km.K)


def test_dna_runs_equal_the_regex():
    rng = np.random.default_rng(8)
    pieces = [b"ACGT", b"acgtn", b"\n", b"\r\n", b"x", b" ", bytes(range(256))]
    for _ in range(300):
        parts = []
        for _ in range(int(rng.integers(1, 12))):
            alphabet = pieces[int(rng.integers(0, len(pieces)))]
            size = int(rng.choice([1, 15, 16, 17, 30, 31, 32, 33, 80, 150]))
            parts.append(bytes(rng.choice(list(alphabet), size).tolist()))
        data = b"".join(parts)
        plain = [(m.start(), m.group().replace(b"\r", b"").replace(b"\n", b"")) for m in _RUN.finditer(data)]
        plain = [(o, r) for o, r in plain if len(set(r.lower())) > 1]  # one letter repeated: no run
        assert _runs(data) == plain, data


def test_canonical_long_sequence_with_breaks_equals_per_window_packing():
    seq = bytearray(random_genome(70_000, 6))
    seq[35_005] = ord("N")
    seq = bytes(seq)
    kmers, starts = km.canonical(seq)
    assert len(kmers) == len(seq) - km.K + 1 - km.K
    code = {ord(c): i for i, c in enumerate("ACGT")}
    for i in (0, 34_000, 34_974, 35_006, len(seq) - km.K):
        window = seq[i:i + km.K]
        fwd = int("".join(f"{code[b]:02b}" for b in window), 2)
        rev = int("".join(f"{code[b]:02b}" for b in revcomp(window)), 2)
        assert int(kmers[np.searchsorted(starts, i)]) == min(fwd, rev), i

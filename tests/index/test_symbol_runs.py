"""Bases written in other symbols (``kmers.symbol_runs``) and the k-mer form blind to how they were
written (``kmers.patterns``): what the kernels give, against plain Python definitions."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from sandbox.index import kmers as km
from sandbox.index.winnow import mix64
from tests.index.genrun import random_genome

SEPARATORS = set(b"\0 \t\n\v\f\r") | {c for c in range(33, 127) if not chr(c).isalnum()}
TEXT = set(range(32, 127)) | set(b"\t\n\r")


def symbols_of(data: bytes, mode: str) -> list[tuple[int, int]]:
    """(symbol, byte offset) of every symbol of ``data`` as ``mode`` reads it (separators left out; a
    spaced byte that is not text is -2, which no run holds)."""
    out = []
    for at, b in enumerate(data):
        if mode.startswith("half bytes"):
            pair = (b >> 4, b & 15) if mode.endswith("high first") else (b & 15, b >> 4)
            out += [(pair[0], at), (pair[1], at)]
        elif mode == "spaced bytes" and b in SEPARATORS:
            continue
        elif mode == "spaced bytes" and b not in TEXT:
            out.append((-2, at))
        else:
            out.append((b + 32 if 65 <= b <= 90 else b, at))
    return out


def check_runs(data: bytes, mode: str, k: int = km.SYMBOL_RUN_MIN) -> list[bytes]:
    """The runs ``symbol_runs`` gives, each checked against the definition; their bases."""
    runs = km.symbol_runs(data, mode, k)
    joined = bytes(runs.joined)
    out = []
    for n in range(len(runs)):
        start, at, length, end = (int(a[n]) for a in (runs.offsets, runs.starts, runs.lengths, runs.ends))
        bases = joined[at:at + length]
        assert length >= k and set(bases) == set(b"ACGT")
        assert n == len(runs) - 1 or joined[at + length:at + length + 1] == b"N"
        syms = [s for s, where in symbols_of(data, mode) if start <= where < end]
        if mode.startswith("half bytes"):      # a run may start or end inside a byte
            assert length <= 2 * (end - start) and len(set(syms)) >= 4
        else:
            assert len(syms) == length and -2 not in syms
            names = sorted(set(syms))
            assert len(names) == 4 and bytes(b"ACGT"[names.index(s)] for s in syms) == bases
            if mode == "bytes":
                assert names != sorted(b"acgt")      # plain letters are dna_runs' to read
            else:
                assert data[start] not in SEPARATORS and data[end - 1] not in SEPARATORS
        out.append(bases)
    assert all(runs.offsets[i] < runs.offsets[i + 1] for i in range(len(runs) - 1))
    return out


def encoded(read: bytes, mode: str, codes: bytes) -> bytes:
    """``read`` (ACGT) written with ``codes`` for A, C, G, T."""
    table = dict(zip(b"ACGT", codes, strict=True))
    if mode == "bytes":
        return bytes(table[b] for b in read)
    if mode == "spaced bytes":
        return b",".join(bytes([table[b]]) for b in read)
    pairs = [(table[read[i]], table[read[i + 1]] if i + 1 < len(read) else 15) for i in range(0, len(read), 2)]
    if mode == "half bytes, high first":
        return bytes(a << 4 | b for a, b in pairs)
    return bytes(b << 4 | a for a, b in pairs)


CODES = {"bytes": [b"0123", b"\0\1\2\3", b"ACGU", b"wxyz", b"TGCN"], "spaced bytes": [b"ACGT", b"0123", b"acgu"],
         "half bytes, high first": [bytes([1, 2, 4, 8]), bytes([9, 3, 0, 12])],
         "half bytes, low first": [bytes([1, 2, 4, 8]), bytes([5, 6, 7, 14])]}


@pytest.mark.parametrize("mode", list(km.SYMBOL_MODES))
def test_a_read_written_in_four_symbols_among_other_bytes_is_a_run(mode):
    rng = random.Random(3)
    read = random_genome(150, 11)
    for codes in CODES[mode]:
        for junk in (bytes(rng.randrange(256) for _ in range(300)), b'{"status": "ok", "temperature": 38.25}' * 8):
            data = junk + encoded(read, mode, codes) + junk[::-1]
            runs = check_runs(data, mode)
            order = sorted(codes)                # the run's symbols in their order, as A, C, G, T
            want = read.translate(bytes.maketrans(b"ACGT", bytes(b"ACGT"[order.index(c)] for c in codes)))
            assert any(want[10:-10] in bases for bases in runs), (codes, junk[:8])


@pytest.mark.parametrize("mode", list(km.SYMBOL_MODES))
def test_every_run_is_what_it_says_on_any_input(mode):
    rng = random.Random(5)
    alphabets = [bytes(range(256)), b"0123", b"ACGT", b"ACGU\n", b"abcd ,", b"\0\1\2\3\4", bytes([0x12, 0x48, 0x84, 0x21])]
    for n in range(300):
        letters = rng.choice(alphabets)
        data = bytes(rng.choice(letters) for _ in range(rng.randrange(0, 600)))
        if n % 3 == 0:
            data = data[:100] + bytes([rng.randrange(256)]) * rng.randrange(0, 300) + data[100:]
        check_runs(data, mode)


@pytest.mark.parametrize("mode", list(km.SYMBOL_MODES))
def test_runs_packed_end_to_end_fit_their_buffers(mode):
    """The most runs an input can make (each the shortest, the next starting at the symbol that ended
    it): what the kernel writes stays within what ``symbol_runs`` gives it, and each run is right."""
    rng = random.Random(9)
    k = km.SYMBOL_RUN_MIN
    if mode.startswith("half bytes"):
        groups = [bytes([0x12, 0x48, 0x84, 0x21]), bytes([0x35, 0x6a, 0x9c, 0x53])]
        data = b"".join(bytes(rng.choice(groups[n % 2]) for _ in range(k // 2)) for n in range(400))
    else:
        groups = [b"0123", b"4567"] if mode == "bytes" else [b"0,1,2,3,", b"4 5 6 7 "]
        data = b"".join(bytes(rng.choice(groups[n % 2]) for _ in range(k if mode == "bytes" else 2 * k))
                        for n in range(400))
    runs = check_runs(data, mode)
    assert len(runs) >= 100


def test_plain_letters_and_text_and_random_bytes_make_no_run():
    rng = np.random.default_rng(2)
    for data in (random_genome(5000, 3), random_genome(5000, 4).lower(), rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes(),
                 b'{"state":"Running","fluidics":"ok","cycle":42}\n' * 500, b"A" * 10_000, bytes(10_000)):
        for mode in ("bytes", "half bytes, high first", "half bytes, low first"):
            assert len(km.symbol_runs(data, mode)) == 0, (mode, data[:10])
    # spaced: FASTA lines are not spaced enough, comma-separated bases are
    assert len(km.symbol_runs(b">r\n" + b"\n".join(random_genome(800, 5)[i:i + 80] for i in range(0, 800, 80)),
                              "spaced bytes")) == 0
    assert check_runs(b",".join(bytes([b]) for b in random_genome(100, 6)), "spaced bytes")


def _pattern(x: int, k: int = km.K) -> int:
    codes = [(x >> (2 * (k - 1 - i))) & 3 for i in range(k)]

    def renamed(seq: list[int]) -> int:
        names: dict[int, int] = {}
        out = 0
        for c in seq:
            out = out * 4 + names.setdefault(c, len(names))
        return out
    return int(mix64(np.array([min(renamed(codes), renamed(codes[::-1]))], dtype=np.uint64))[0])


def test_the_form_of_a_kmer_is_its_renamed_bases_either_way():
    rng = random.Random(7)
    values = [rng.getrandbits(62) for _ in range(2000)] + [0, (1 << 62) - 1, int("01" * 31, 2), int("2" * 30 + "1", 4)]
    got = km.patterns(np.array(values, dtype=np.uint64))
    assert got.tolist() == [_pattern(v) for v in values]


def test_the_form_is_the_same_in_any_symbols_and_either_direction():
    seq = random_genome(200, 9)
    forms = set(km.patterns(km.canonical(seq)[0]).tolist())
    for perm in itertools.permutations(b"ACGT"):
        written = seq.translate(bytes.maketrans(b"ACGT", bytes(perm)))
        for variant in (written, written[::-1]):
            assert set(km.patterns(km.canonical(variant)[0]).tolist()) == forms
    other = set(km.patterns(km.canonical(random_genome(200, 10))[0]).tolist())
    assert not forms & other


def test_kmers_asked_every_stride_are_those_of_the_full_pass():
    seq = bytearray(random_genome(2000, 12))
    seq[700] = ord("N")
    seq[1300:1310] = seq[1300:1310].lower()
    kmers, starts = km.canonical(bytes(seq))
    for stride in (1, 7, 20, 40, 5000):
        want = [int(x) for x, at in zip(kmers.tolist(), starts.tolist(), strict=True) if at % stride == 0]
        assert km.canonical_at(bytes(seq), stride).tolist() == want
    assert len(km.canonical_at(b"ACGT", 20)) == 0


def test_a_run_without_evidence_kmers_has_no_form(gen_index):
    """Only low-complexity k-mers (none counts as evidence): no form is the run's, whatever is asked."""
    import dataclasses

    poly_a = km.canonical(b"A" * 40 + b"C" * 40)[0]
    bare = dataclasses.replace(gen_index, km=km.sorted_unique(poly_a), km_sid=np.zeros(len(set(poly_a.tolist())), np.uint32))
    asked = km.patterns(np.concatenate([poly_a, km.canonical(random_genome(300, 13))[0]]))
    assert not bare.lookup_patterns(asked).any()
    assert gen_index.lookup_patterns(km.patterns(km.canonical(gen_index_read(gen_index))[0])).any()


def gen_index_read(index) -> bytes:
    """A stretch of the run's own sequence, from its first evidence k-mers (unpacked)."""
    kmer = int(index.km[km.evidence_mask(np.asarray(index.km))][0])
    return bytes(b"ACGT"[(kmer >> (2 * (km.K - 1 - i))) & 3] for i in range(km.K))

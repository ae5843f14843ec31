"""Variant keys and the kernel that finds numbers beside allele tokens: a Python definition of each,
the index's tables from a VCF, and the two agreeing (what the index keys is what traffic yields)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from sandbox.index import _kernels, build_index
from sandbox.index.kmerset import SampleSets, max_hash
from sandbox.index.variants import NO_ALLELE, VariantSetBuilder, allele_value, variant_keys
from tests.index.genrun import random_variants, write_vcf

SIDE = _kernels.ALLELE_SIDE
ALLELES = set(b"ACGTNacgtn")
TEXT = {9, 10, 13, *range(32, 127)}
BESIDE = {b for b in range(256) if b == 0 or (b in TEXT and not chr(b).isalnum())}


def _letter(b: int) -> bool:
    return 65 <= b <= 90 or 97 <= b <= 122


def _digit(b: int) -> bool:
    return 48 <= b <= 57


def tokens_of(d: bytes) -> list[tuple[int, int, int]]:
    """(start, end, value) of the allele tokens: runs of ACGTN letters, at most 64, with text that is
    no letter or digit on either side (or NUL, or an end), save that a digit may come before."""
    out, i = [], 0
    while i < len(d):
        if not _letter(d[i]):
            i += 1
            continue
        j = i
        while j < len(d) and _letter(d[j]):
            j += 1
        if (j - i <= 64 and all(c in ALLELES for c in d[i:j]) and (i == 0 or d[i - 1] in BESIDE or _digit(d[i - 1]))
                and (j == len(d) or d[j] in BESIDE)):
            out.append((i, j, allele_value(d[i:j].decode())))
        i = j
    return out


def number_end(d: bytes, i: int) -> int:
    """The end of the number at i (2-9 digits, text that is no letter or digit before, and after it
    the same or an allele token), else 0."""
    if not (_digit(d[i]) and i + 1 < len(d) and _digit(d[i + 1]) and (i == 0 or d[i - 1] in BESIDE)):
        return 0
    j = i
    while j < len(d) and _digit(d[j]):
        j += 1
    if j - i > 9:
        return 0
    k = j
    while k < len(d) and d[k] in ALLELES and k - j <= 64:
        k += 1
    return j if k == len(d) or d[k] in BESIDE else 0


def numbered_definition(d: bytes, lo: int, hi: int, window: int) -> list[tuple[int, int, int, tuple[int, ...]]]:
    tokens = tokens_of(d)
    out = []
    for i in range(lo, hi):
        j = number_end(d, i)
        if not j:
            continue
        before = [t for t in tokens if t[1] <= i and i - t[1] <= window][-SIDE:]
        after = [t for t in tokens if t[0] >= j and t[0] - j <= window][:SIDE]
        near = [t[2] for t in before + after]
        if not any(v >> 57 == 2 for v in near) and not any(a != b for a, b in zip(near, near[1:], strict=False)):
            continue
        slots = [t[2] for t in reversed(before)] + [0] * (SIDE - len(before))
        slots += [t[2] for t in after] + [0] * (SIDE - len(after))
        out.append((i, j, int(d[i:j]), tuple(slots)))
    return out


def numbered_kernel(d: bytes, lo: int, hi: int, window: int) -> list[tuple[int, int, int, tuple[int, ...]]]:
    cap = (hi - lo) // 3 + 2
    spans, values, tokens = np.empty(2 * cap, np.int64), np.empty(cap, np.uint64), np.empty(2 * SIDE * cap, np.uint64)
    n, _ = _kernels.numbered_alleles(d, lo, hi, window, np.empty(0, np.uint8), 0, np.zeros(1, np.uint64),
                                     spans, values, tokens, 0, np.empty(cap, np.uint64))
    return [(int(spans[2 * k]), int(spans[2 * k + 1]), int(values[k]), tuple(int(t) for t in tokens[6 * k: 6 * k + 6]))
            for k in range(n)]


PIECES = [b"A", b"C", b"G", b"T", b"N", b"a", b"g", b"AG", b"TT", b"GAT", b"CAT", b"ACGTACGTACGTACGTACGTAC",
          b"ACGT" * 17, b"status", b"tail", b"at", b"an", b"NA12878", b"rs6054257", b"x", b" ", b",", b"\t", b"\n",
          b'"', b":", b">", b"/", b".", b"-", b"\x00", b"\xff\x80", b"\x01", b"e"]


def random_document(rng: np.random.Generator, size: int) -> bytes:
    parts = []
    while sum(map(len, parts)) < size:
        r = rng.random()
        if r < 0.25:
            parts.append(str(int(rng.integers(0, 10 ** int(rng.integers(1, 13))))).encode())
        elif r < 0.3:
            parts.append(rng.bytes(int(rng.integers(1, 6))))
        else:
            parts.append(PIECES[int(rng.integers(len(PIECES)))])
    return b"".join(parts)


@pytest.mark.parametrize("seed", range(40))
def test_numbered_alleles_is_its_definition(seed):
    rng = np.random.default_rng(seed)
    d = random_document(rng, int(rng.integers(50, 6000)))
    window = int(rng.choice([0, 3, 17, 128, 200]))
    assert numbered_kernel(d, 0, len(d), window) == numbered_definition(d, 0, len(d), window)
    cuts = sorted({0, len(d), *rng.integers(0, len(d), 4).tolist()})  # ranges of one call each: the same numbers
    pieces = [x for a, b in zip(cuts, cuts[1:], strict=False) for x in numbered_kernel(d, a, b, window)]
    assert pieces == numbered_definition(d, 0, len(d), window)


def test_numbers_in_text_and_binary_and_at_the_ends():
    cases = {
        b"8216712A>G": [(8216712, (0, 0, 0, allele_value("A"), allele_value("G"), 0))],   # HGVS
        b'{"pos":8216712,"ref":"a","alt":"g"}': [(8216712, (0, 0, 0, allele_value("A"), allele_value("G"), 0))],
        b"rs1 1 82154 AG": [(82154, (0, 0, 0, allele_value("AG"), 0, 0))],
        b"A G 12": [(12, (allele_value("G"), allele_value("A"), 0, 0, 0, 0))],
        b"x8216712 A G": [],               # after a letter: part of a name
        b"8216712x A G": [],
        b"1234567890 A G": [],             # ten digits
        b"7 A G": [],                      # one digit
        b"123 A A": [],                    # the same token twice: no pair of alleles
        b"123 \x01A G": [],                # a binary byte beside the token
        b"123 A3 G": [],                   # a digit after the token
        b"123\x00A\x00G": [(123, (0, 0, 0, allele_value("A"), allele_value("G"), 0))],
    }
    for text, want in cases.items():
        got = [(v, t) for _, _, v, t in numbered_kernel(text, 0, len(text), 128)]
        assert got == want, text
        assert numbered_definition(text, 0, len(text), 128) == numbered_kernel(text, 0, len(text), 128), text


def test_long_inputs_cost_one_pass():
    """Hostile shapes: a letter run of a megabyte, digits without end, a number every three bytes;
    cut in ranges as the correlator does, the numbers are those of the whole."""
    for d in (b"A" * (1 << 20) + b" 12 A G", b"9" * (1 << 20), b"12 A G " * (1 << 17), b"12,AC," * (1 << 17)):
        whole = numbered_definition(d, 0, len(d), 128) if len(d) < 100_000 else None
        pieces = [x for lo in range(0, len(d), 1 << 16) for x in numbered_kernel(d, lo, min(len(d), lo + (1 << 16)), 128)]
        if whole is not None:
            assert pieces == whole
        assert len(pieces) <= len(d) // 3 + 1


def test_allele_values():
    assert allele_value("A") == 1 << 57 | 1 and allele_value("acgtn") == allele_value("ACGTN")
    assert allele_value("AC") == 2 << 57 | 1 << 3 | 2
    assert allele_value("ACGTACGTACGTACGTACG") >> 57 == 19
    assert allele_value("A" * 20) >> 57 == 31 and allele_value("A" * 20) != allele_value("A" * 21)
    assert allele_value("A" * 65) is None and allele_value("<DEL>") is None and allele_value("R") is None
    assert allele_value("") is None


def test_allele_values_are_the_kernel_s(tmp_path):
    rng = np.random.default_rng(3)
    alleles = ["".join("ACGTN"[x] for x in rng.integers(0, 5, int(n))) for n in rng.integers(1, 65, 300)]
    for allele in alleles:
        text = f"12345 {allele.lower() if len(allele) % 2 else allele} T".encode()
        ((_, _, _, slots),) = numbered_kernel(text, 0, len(text), 128) or [(0, 0, 0, (0, 0, 0, 0, 0, 0))]
        if allele != "T":
            assert slots[3] == allele_value(allele), allele


def test_the_index_keys_each_record_and_each_snp_alone(tmp_path):
    variants = random_variants(2000, 11)
    run = tmp_path / "run"
    run.mkdir()
    write_vcf(run / "S1.vcf", variants, "S1")
    (run / "SampleSheet.csv").write_text("[Data]\nSample_ID,Sample_Name\nS1,S1\n")
    index = build_index(run, cache_dir=tmp_path / "cache")
    assert index.variants == 2000
    pos = np.array([p for _, p, _, _ in variants], np.uint64)
    ref = np.array([allele_value(r) for _, _, r, _ in variants], np.uint64)
    alt = np.array([allele_value(a) for _, _, _, a in variants], np.uint64)
    found, rows = index.lookup_variants(variant_keys(pos, ref, alt))
    assert found.all()
    snp = np.array([len(r) == 1 for _, _, r, _ in variants])
    assert index.lookup_variants(variant_keys(pos[snp], np.full(snp.sum(), NO_ALLELE, np.uint64), alt[snp]))[0].all()
    assert not index.lookup_variants(variant_keys(pos + np.uint64(1), ref, alt))[0].any()
    assert index.lookup_positions(pos).all()
    assert {s for sid in np.unique(index.var_sid) for s in index.sample_sets[sid]} == {"S1"}
    again = build_index(run, cache_dir=tmp_path / "cache")     # from the cache, the same tables
    assert again.cached and np.array_equal(again.var_key, index.var_key) and again.variants == 2000


def test_a_key_of_several_files_is_the_most_specific_sample_set_s():
    sets = SampleSets()
    lane, a, b = sets.intern(("A", "B")), sets.intern(("A",)), sets.intern(("B",))
    vs = VariantSetBuilder()
    vs.add([(100, "A", ("G",)), (200, "C", ("T",))], lane)
    vs.add([(100, "A", ("G",))], a)
    vs.add([(300, "G", ("A", "<DEL>")), (400, "R", ("A",))], b)      # a symbolic allele, an IUPAC code: no key
    keys, sids, positions = vs.finish(sets)
    assert positions.tolist() == [100, 200, 300]
    owner = dict(zip(keys.tolist(), sids.tolist(), strict=True))
    key = int(variant_keys(np.array([100], np.uint64), np.array([allele_value("A")], np.uint64),
                           np.array([allele_value("G")], np.uint64))[0])
    assert sets.sets[owner[key]] == ("A",)
    assert len(keys) == 2 * 3        # three SNPs, each with its alternate-allele key


def test_past_the_budget_keys_are_sampled_whatever_the_order_of_files():
    records = [(p, "A", ("G",)) for p in range(100, 2100)]        # 4,000 keys
    one, two = VariantSetBuilder(budget=1000), VariantSetBuilder(budget=1000)
    one.add(records, 0)
    two.add(records[1000:], 0)
    two.add(records[:1000], 0)
    (keys, _, positions), (again, _, _) = one.finish(SampleSets()), two.finish(SampleSets())
    assert one.scale == two.scale == 8 and 300 < len(keys) <= 1000 and np.array_equal(keys, again)
    assert keys.max() <= max_hash(8) and one.records == 2000
    every = variant_keys(np.array([p for p, _, _ in records] * 2, np.uint64),
                         np.array([allele_value("A")] * 2000 + [NO_ALLELE] * 2000, np.uint64),
                         np.full(4000, allele_value("G"), np.uint64))
    assert np.array_equal(keys, np.sort(every[every <= max_hash(8)]))
    assert set(positions.tolist()) <= {p for p, _, _ in records}


def test_a_sampled_index_says_how_many_variants_it_finds(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    write_vcf(run / "S1.vcf", random_variants(3000, 5), "S1")
    exact = build_index(run, cache_dir=tmp_path / "cache")
    floor = exact.detection_floor()
    assert floor["variants"] == 12 and floor["exact"] and "any 12 of its variant records" in floor["text"]
    sampled = replace(exact, var_scale=4)
    floor = sampled.detection_floor()
    assert not floor["exact"] and floor["variants"] > 4 * 12 and "sampled 1/4" in floor["text"]


def listed_kernel(d: bytes, column: int) -> list[int]:
    cap = len(d) // 3 + 2
    spans, values, tokens = np.empty(2 * cap, np.int64), np.empty(cap, np.uint64), np.empty(2 * SIDE * cap, np.uint64)
    listed = np.empty(cap, np.uint64)
    _, m = _kernels.numbered_alleles(d, 0, len(d), 128, np.empty(0, np.uint8), 0, np.zeros(1, np.uint64),
                                     spans, values, tokens, column, listed)
    return listed[:m].tolist()


def test_numbers_are_listed_where_a_column_of_alleles_is():
    """All the numbers of a range holding a column of alleles (one-letter tokens, three of A, C, G, T
    a tenth or more of them): in either mode, few numbers or many."""
    for count in (30, 3000):
        positions = [1000 + 7 * i for i in range(count)]
        refs = ["ACGT"[i % 4] for i in range(count)]
        doc = json.dumps({"pos": positions, "ref": refs}).encode()
        assert listed_kernel(doc, 24) == positions, count
        assert listed_kernel(doc, 0) == []                                   # not asked
        assert listed_kernel(json.dumps({"pos": positions, "ref": ["A"] * count}).encode(), 24) == []
        prose = " ".join(f"a cat at {p} and a dog" for p in positions).encode()
        assert listed_kernel(prose, 24) == []                                  # its "a" is no column

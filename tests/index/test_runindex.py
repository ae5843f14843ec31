from __future__ import annotations

from dataclasses import replace

from sandbox.index.runindex import _poisson_floor


def test_floor_exact_and_sampled(gen_index):
    assert gen_index.detection_floor()["bytes"] == 256
    sampled = replace(gen_index, fp_scale=64, km_scale=100)
    floor = sampled.detection_floor()
    assert not floor["exact"] and 45_000 < floor["bytes"] < 55_000  # ln(1000) * 64 * 113 bytes
    # a stretch of B bases holds B - K + 1 k-mers: 9.23 sampled ones expected at 1/100 need 954 bases
    assert floor["sequence_bases"] == round(_poisson_floor(2, 0.999) * 100 + 0.5) + 30
    assert 9.2 < _poisson_floor(2, 0.999) < 9.3


def test_lookups(gen_index):
    hit, lo, hi = gen_index.lookup_fingerprints(gen_index.fp_hash[:10].copy())
    assert hit.tolist() == list(range(10)) and (hi > lo).all()
    found, rows = gen_index.lookup_kmers(gen_index.km[5:8].copy())
    assert found.all() and rows.tolist() == [5, 6, 7]

"""build_index on generated and real run folders: contents, cache reuse and invalidation, sampling."""

from __future__ import annotations

import os

import numpy as np
import pytest

from sandbox.index import build_index, cache_folder, default_cache_root
from sandbox.index.kmers import canonical
from sandbox.runs import RunFolderError
from tests.index.genrun import FLOWCELL, RUN_ID, make_run


def test_generated_run_contents(gen_run, gen_index):
    ix = gen_index
    assert ix.run_id == RUN_ID and ix.platform == "illumina"
    assert ix.sample_ids == ["PT1000-Biopsy", "PT1001-Biopsy"]
    assert ix.reads == 6000 and ix.bases == 6000 * 150
    fq = {f.rel: f for f in ix.files if f.kind == "fastq"}
    assert set(fq) == set(gen_run.fastq.values())
    for f in fq.values():
        assert f.raw_len == f.size and f.decoded_len > 3 * f.size and f.reads == 3000
    values = {i["value"]: i["kind"] for i in ix.identifiers}
    assert values[RUN_ID] == "run_id" and values[FLOWCELL] == "flowcell"
    assert "PT1000-Biopsy" in values and "ZetaTrial-Batch7" in values
    assert np.all(np.diff(ix.fp_hash.astype(np.uint64)) >= 0) and np.all(np.diff(ix.km) > 0)
    # a read's k-mers are in the index and attributed to its sample only
    read = gen_run.reads["PT1001-Biopsy"][0]
    found, rows = ix.lookup_kmers(canonical(read)[0])
    assert found.all()
    assert {s for sid in np.unique(ix.km_sid[rows]) for s in ix.sample_sets[sid]} == {"PT1001-Biopsy"}
    assert ix.detection_floor()["exact"] and ix.detection_floor()["bytes"] == 256
    assert "exact" in ix.summary()


def test_cache_reuse_and_invalidation(tmp_path, monkeypatch):
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(tmp_path / "cache"))
    run = make_run(tmp_path / "run", samples=1, reads_per_sample=1500, seed=11)
    before = sorted(p.name for p in run.path.rglob("*"))
    first = build_index(run.path)
    assert not first.cached and (cache_folder(run.path) / "index.json").is_file()
    assert sorted(p.name for p in run.path.rglob("*")) == before  # nothing written into the run
    second = build_index(run.path)
    assert second.cached and not second.notes
    for name in ("fp_hash", "fp_loc", "fp_off", "km", "km_sid"):
        assert np.array_equal(getattr(first, name), getattr(second, name))
    assert second.files == first.files and second.identifiers == first.identifiers
    sheet = run.path / "SampleSheet.csv"
    st = sheet.stat()
    os.utime(sheet, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    third = build_index(run.path)
    assert not third.cached and not third.notes  # a changed run is rebuilt without a doubt
    (run.path / "extra.txt").write_text("new file " * 100)
    fourth = build_index(run.path)
    assert not fourth.cached and any(f.rel == "extra.txt" for f in fourth.files)
    assert build_index(run.path).cached


def test_a_file_rewritten_with_its_old_size_and_mtime_is_seen(tmp_path):
    """The instrument can set mtime back after rewriting a file; ctime moves anyway."""
    run = make_run(tmp_path / "run", samples=1, reads_per_sample=300, seed=14)
    assert not build_index(run.path, cache_dir=tmp_path / "c").cached
    sheet = run.path / "SampleSheet.csv"
    st = sheet.stat()
    sheet.write_bytes(sheet.read_bytes().replace(b"PT1000", b"PT9999"))
    os.utime(sheet, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert sheet.stat().st_size == st.st_size and sheet.stat().st_mtime_ns == st.st_mtime_ns
    again = build_index(run.path, cache_dir=tmp_path / "c")
    assert not again.cached and "PT9999-Biopsy" in again.sample_ids


def test_cache_locations(tmp_path, monkeypatch):
    """--cache-dir, else $SANDBOX_CACHE_DIR, else $XDG_CACHE_HOME/instrument-sandbox/index."""
    run = make_run(tmp_path / "run", samples=1, reads_per_sample=200, seed=12)
    ix = build_index(run.path, cache_dir=tmp_path / "given")
    assert (cache_folder(run.path, tmp_path / "given") / "index.json").is_file() and not ix.cached
    assert build_index(run.path, cache_dir=tmp_path / "given").cached
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(tmp_path / "env"))
    assert default_cache_root() == tmp_path / "env"
    build_index(run.path)
    assert (tmp_path / "env").is_dir() and build_index(run.path).cached
    monkeypatch.delenv("SANDBOX_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_root() == tmp_path / "xdg" / "instrument-sandbox" / "index"
    build_index(run.path)
    assert build_index(run.path).cached and default_cache_root().is_dir()
    assert not (run.path / ".sandbox-index").exists()
    # keyed by the resolved path: a symlink to the run shares its cache, another run does not
    (tmp_path / "link").symlink_to(run.path)
    assert cache_folder(tmp_path / "link") == cache_folder(run.path) != cache_folder(tmp_path)


def test_sampled_index_states_its_floor(tmp_path):
    run = make_run(tmp_path / "run", samples=1, reads_per_sample=3000, seed=13)
    ix = build_index(run.path, cache_dir=tmp_path / "c", fp_budget=2000, kmer_budget=5000)
    assert ix.fp_scale > 1 and ix.km_scale > 1
    assert len(ix.fp_hash) <= 2000 and len(ix.km) <= 5000
    floor = ix.detection_floor()
    assert not floor["exact"] and floor["bytes"] > 256 and floor["sequence_bases"] > 0
    assert "99.9%" in floor["text"]


def test_missing_folder(tmp_path):
    with pytest.raises(RunFolderError):
        build_index(tmp_path / "nope")


@pytest.mark.parametrize("sub", ["illumina", "nanopore", "sequences"])
def test_real_folders_index(shared_data, tmp_path, sub):
    folders = sorted(p for p in (shared_data / sub).iterdir() if p.is_dir()) if sub == "illumina" \
        else [shared_data / sub]
    for folder in folders:
        ix = build_index(folder, cache_dir=tmp_path)
        assert ix.files and len(ix.fp_hash) > 0, folder
        assert all(isinstance(e, str) for e in ix.errors)
        assert build_index(folder, cache_dir=tmp_path).cached
    if sub == "nanopore":
        assert ix.reads > 0 and len(ix.km) > 0


def test_the_index_does_not_depend_on_the_threads(tmp_path):
    run = make_run(tmp_path / "run", samples=3, reads_per_sample=4000, seed=8)
    one = build_index(run.path, cache_dir=tmp_path / "one", workers=1)
    two = build_index(run.path, cache_dir=tmp_path / "two", workers=2, fp_budget=10**9, kmer_budget=10**9)
    for name in ("fp_hash", "fp_loc", "fp_off", "km", "km_sid"):
        assert np.array_equal(getattr(one, name), getattr(two, name)), name
    assert one.sample_sets == two.sample_sets and one.files == two.files
    small = [build_index(run.path, cache_dir=tmp_path / f"s{w}", workers=w, fp_budget=5000, kmer_budget=30_000)
             for w in (1, 2)]
    assert small[0].fp_scale == small[1].fp_scale > 1 and small[0].km_scale == small[1].km_scale > 1
    for name in ("fp_hash", "fp_loc", "fp_off", "km", "km_sid"):
        assert np.array_equal(getattr(small[0], name), getattr(small[1], name)), name


def test_fingerprints_are_sampled_evenly(gen_run, gen_index, tmp_path):
    """Winnowing keeps window minima, so a threshold on their own hashes would keep nearly all and
    then nothing; sampling by a second mix keeps about 1 in scale of them."""
    exact = len(gen_index.fp_hash)
    ix = build_index(gen_run.path, cache_dir=tmp_path, fp_budget=exact // 10)
    assert ix.fp_scale == 16 and exact // 40 < len(ix.fp_hash) <= exact // 10
    assert np.isin(ix.fp_hash, gen_index.fp_hash).all()


def test_fingerprint_set_sorts_by_hash_stream_and_offset_whatever_the_order_passes_came_in():
    """Passes of three streams handed over shuffled (as threads do), a budget that samples twice:
    the columns are joined and put in order in place, and equal the definition."""
    from sandbox.index.boilerplate import is_boilerplate
    from sandbox.index.build import _FingerprintSet, _sample_key
    from sandbox.index.kmerset import max_hash

    rng = np.random.default_rng(4)
    passes = [(rng.integers(0, 1 << 40, 300, dtype=np.uint64), np.arange(i * 300, i * 300 + 300, dtype=np.uint64), loc)
              for loc in (1, 2, 5) for i in range(20)]
    passes += [(np.full(50, 77, np.uint64), np.arange(50, dtype=np.uint64) + 10**6, 2)]  # one hash repeated
    fps = _FingerprintSet(budget=5000)
    for i in rng.permutation(len(passes)).tolist():
        fps.add(*passes[i])
    h, loc, off = fps.finish()
    assert fps.scale == 4 and len(h) <= 5000
    all_h, all_off = (np.concatenate([p[c] for p in passes]) for c in (0, 1))
    all_loc = np.concatenate([np.full(len(p[0]), p[2], np.uint32) for p in passes])
    keep = (_sample_key(all_h) <= max_hash(4)) & ~is_boilerplate(all_h)
    order = np.lexsort((all_off[keep], all_loc[keep], all_h[keep]))
    assert h.tolist() == all_h[keep][order].tolist() and loc.dtype == np.uint32
    assert loc.tolist() == all_loc[keep][order].tolist() and off.tolist() == all_off[keep][order].tolist()

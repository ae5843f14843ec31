"""An archive replayed on a real Dask cluster gives the report a single-process replay gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from distributed import LocalCluster

from sandbox.archive import replay_archive
from sandbox.replay import replay
from sandbox.report.bundle import write_bundle
from sandbox.report.profile import Profile
from sandbox.report.stored import report_from_store
from sandbox.store import Store
from sandbox.stores import open_source
from tests.archive.conftest import ALLOW, REPO
from tests.pgserver import wait_released

# An acceptance profile with an allow-list, expected telemetry and a waiver (the report judges by it).
PROFILE_TEXT = """
name = "archive acceptance"
[destinations]
allowed = ["lims.lab.example"]
expected_telemetry = ["lims.lab.example"]
[[waiver]]
destination = "10.20.0.1"
kind = "destination"
reason = "bench DNS resolver"
by = "J. Reviewer"
"""
PROFILE = Profile.parse(PROFILE_TEXT, source="archive.toml")


def _dump(report: dict) -> str:
    """The whole report but the wall-clock times the two replays ran at."""
    session = {k: v for k, v in report["session"].items() if k not in ("started", "finished")}
    return json.dumps({**report, "session": session}, indent=1, sort_keys=True, default=str)


def _both(captures: list[Path], run_dir: Path, cache: Path, cluster: str = "local:2", **kw):
    one = replay(captures, [run_dir], allow=ALLOW, cache_dir=cache, jobs=1, profile=PROFILE)
    many = replay_archive(captures, [run_dir], cluster=cluster, allow=ALLOW, cache_dir=cache, profile=PROFILE, **kw)
    return one, many


def test_independent_sessions_on_two_workers_give_the_single_replay_report(demo, sessions, tmp_path):
    run_dir, _ = demo
    captures = [*sessions["tunnel"], *sessions["a"], *sessions["ring"], *sessions["b"]]   # not in time order
    one, many = _both(captures, run_dir, tmp_path / "cache")
    assert _dump(many.report) == _dump(one.report)
    findings = one.report["findings"]
    assert one.report["verdict"] == "leak" and len(findings) >= 20   # opaque uploads: one per destination
    assert one.report["profile"]["name"] == "archive acceptance" and one.report["runs"][0]["instrument"] == "M07011"
    assert any(f["waived"] for f in findings) and any(f["fails"] for f in findings)
    located = [f["location"] for f in findings if f["location"]]
    assert len({loc["capture"] for loc in located} & {str(c) for c in captures}) >= 4    # in every session
    assert all(loc["frame"] > 0 and loc["byte_offset"] > 0 for loc in located)
    assert any(f["flow"].endswith(" #4") for f in findings)       # the same connection in four sessions
    assert any(f["kind"] == "destination" and f["detail"]["flow_count"] == 4 for f in findings)
    # the opaque upload of each session, one destination: the books of the four groups added together
    assert [f["detail"]["flows"] for f in findings if f["kind"] == "opaque-volume"] == [4]
    assert any(f["kind"] == "dns-tunnel" for f in findings)
    stats = many.stats
    assert (stats.groups, stats.runs, stats.rounds, stats.reasons) == (4, 4, 1, [])   # the ring is one group
    assert stats.workers == 2 and set(stats.worker_loads.values()) == {1}           # indexes loaded once each


def test_sessions_sharing_state_are_replayed_together_and_still_equal(demo, sessions, tmp_path):
    run_dir, _ = demo
    captures = [*sessions["a"], *sessions["tunnel"], *sessions["b"], *sessions["tunnel2"], *sessions["close"]]
    one, many = _both(captures, run_dir, tmp_path / "cache")
    assert _dump(many.report) == _dump(one.report)
    stats = many.stats
    assert stats.rounds == 2 and stats.runs == stats.groups + 1      # one joined group, replayed once more
    assert any("DNS zone telemetry-cache.test (asked by 10.20.0.5) counts toward a tunnel verdict" in r for r in stats.reasons), stats.reasons
    assert any("groups must be 301 s apart" in r for r in stats.reasons)


def test_a_running_scheduler_by_address(demo, sessions, tmp_path):
    run_dir, _ = demo
    captures = [*sessions["a"], *sessions["b"]]
    with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", scheduler_port=0,
                      dashboard_address=None) as cluster:
        one, many = _both(captures, run_dir, tmp_path / "cache", cluster=cluster.scheduler_address)
    assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
    assert _dump(many.report) == _dump(one.report) and many.stats.workers == 1


def test_the_store_gets_the_merged_session(demo, sessions, tmp_path, postgres_url):
    run_dir, _ = demo
    store = Store(postgres_url, fresh=True, rig="archive-host")
    result = replay_archive([*sessions["a"], *sessions["tunnel"]], [run_dir], cluster="local:2", allow=ALLOW,
                            cache_dir=tmp_path / "cache", store=store, profile=PROFILE)
    assert len(store.findings()) == len(result.report["findings"])
    # the report rebuilt from the store is the archive replay's, to the times it ran at
    again = report_from_store(postgres_url, session_id=store.session_id)
    assert json.dumps(again, sort_keys=True, default=str) == json.dumps(result.report, sort_keys=True, default=str)
    meta = write_bundle(postgres_url, tmp_path / "archive.tar.zst", session_id=store.session_id)   # its inputs kept
    assert meta["capture_names"] == [str(sessions["a"][0]), str(sessions["tunnel"][0])]
    assert meta["findings"] == [f["id"] for f in result.report["findings"]]
    session = store.session()
    assert session["verdict"] == "leak" and session["finished"] and session["cluster"] == "local:2"
    assert store.tags() == {"rig": "archive-host", "instrument": "M07011"}
    store.close()
    source = open_source(postgres_url)
    wait_released(source, store.session_id)
    assert source.alive([store.session_id]) == set()
    source.close()


def sandbox(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sandbox.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600)


def test_cli_replays_a_folder_on_the_cluster(demo, sessions, tmp_path):
    run_dir, _ = demo
    folder = sessions["ring"][0].parent
    (tmp_path / "profile.toml").write_text(PROFILE_TEXT)
    common = ["--run", str(run_dir), "--cache-dir", str(tmp_path / "cache"), "--allow", *ALLOW,
              "--profile", str(tmp_path / "profile.toml")]
    single = sandbox("replay", *map(str, sessions["ring"]), "--report", str(tmp_path / "one.json"), *common)
    cluster = sandbox("replay", "--cluster", "local:2", str(folder), "--report", str(tmp_path / "many.json"), *common)
    assert (single.returncode, cluster.returncode) == (1, 1), cluster.stderr
    assert "cluster local:2: 4 capture(s) in 1 group(s) on 2 worker(s)" in cluster.stdout
    assert "run indexes loaded once per worker" in cluster.stdout
    many, one = (json.loads((tmp_path / name).read_text()) for name in ("many.json", "one.json"))
    assert _dump(many) == _dump(one) and many["profile"]["name"] == "archive acceptance"


@pytest.mark.parametrize(("spec", "message"), [
    ("remote", "expected local, local:N or tcp://HOST:PORT"),
    ("local:0", "between 1 and 256 local workers"),
    ("tcp://127.0.0.1:9", "cannot reach the Dask scheduler at tcp://127.0.0.1:9"),
])
def test_cli_refuses_a_cluster_it_cannot_use_in_one_line(demo, sessions, spec, message, tmp_path):
    run_dir, _ = demo
    done = sandbox("replay", "--cluster", spec, str(sessions["a"][0]), "--run", str(run_dir),
                   "--cache-dir", str(tmp_path / "cache"), "--quiet")
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1

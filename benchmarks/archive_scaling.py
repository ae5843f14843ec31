"""Archive replay on Dask: how it scales with local workers, against a single-process replay.

Builds (once, in --workdir) a simulated run folder and an archive of --sessions bench sessions (one
generated mixed capture, copies shifted an hour apart with editcap: the same connections recur,
as they do session after session), warms the run index, then in one run times:

- the anchor: ``replay`` of every capture in one process (``--jobs 1``: one core, as one worker);
- ``replay --cluster local:1`` and ``local:2`` (this machine has 2 cores), wall time with and
  without starting the cluster, and each group's own replay time and CPU time;
- the unfavourable case: the same archive with a session holding a DNS tunnel first and last, whose
  zone joins every group between them into one (replayed again, as one).

It checks every cluster report equals the anchor's, and prints the speedup, the efficiency (speedup
/ workers; target >= 0.8) and, for more cores than this machine has, a figure computed from the
per-worker throughput (bytes per CPU second of a worker) and the measured serial part (Amdahl),
stated as computed, not measured.  Rounds are interleaved and the best of each kept: other work on
a shared machine only ever slows a run down.

    python benchmarks/archive_scaling.py [--sessions 8] [--size-mb 20] [--repeat 2] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from gen_mixed_capture import generate  # noqa: E402

from sandbox.archive import replay_archive  # noqa: E402
from sandbox.captures import open_capture  # noqa: E402
from sandbox.index import build_index  # noqa: E402
from sandbox.replay import replay  # noqa: E402
from sandbox.simulate import ensure_demo  # noqa: E402
from sandbox.simulate.runfolder import make_illumina_run  # noqa: E402

HOUR = 3600
PROJECTED_WORKERS = (4, 8, 16, 32)


def prepare(workdir: Path, sessions: int, size_mb: int) -> tuple[Path, list[Path], list[Path]]:
    """The run folder, the archive's captures, and the unfavourable archive's."""
    workdir.mkdir(parents=True, exist_ok=True)
    runs = workdir / "runs"
    run = next(runs.glob("*_M07011_*"), None) if runs.is_dir() else None
    if run is None:
        run = make_illumina_run(runs, seed=1, reads_per_sample=2000)
    base = workdir / f"session-{size_mb}mb.pcap"
    if not base.is_file():
        stats = generate(base, size=size_mb << 20, run=run)
        print(f"generated {base.name}: {stats['bytes'] / 1e6:.0f} MB, {stats['flows']} flows")
    archive = []
    for i in range(sessions):
        out = workdir / f"archive-{size_mb}mb" / f"session{i:03d}.pcap"
        if not out.is_file():
            out.parent.mkdir(exist_ok=True)
            subprocess.run(["editcap", "-t", str(i * HOUR), str(base), str(out)], check=True, capture_output=True)
        archive.append(out)
    _, demo = ensure_demo(REPO / "captures" / "demo")
    offset = _first_time(base) - _first_time(demo)
    tunnels = []
    for name, shift in (("first", -HOUR), ("last", sessions * HOUR)):
        out = workdir / f"tunnel-{name}-{sessions}x{size_mb}mb.pcapng"
        if not out.is_file():
            subprocess.run(["editcap", "-t", f"{offset + shift:.6f}", str(demo), str(out)], check=True,
                           capture_output=True)
        tunnels.append(out)
    return run, archive, [tunnels[0], *archive, tunnels[1]]


def _first_time(path: Path) -> float:
    capture = open_capture(path)
    try:
        return next(seg.t for seg in capture if seg is not None)
    finally:
        capture.close()


def _dump(report: dict) -> str:
    """The whole report but the wall-clock times each replay ran at."""
    session = {k: v for k, v in report["session"].items() if k not in ("started", "finished")}
    return json.dumps({**report, "session": session}, sort_keys=True, default=str)


def _anchor(captures: list[Path], run: Path, cache: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    result = replay(captures, [run], cache_dir=cache, jobs=1)
    return time.perf_counter() - started, result.report


def _cluster(captures: list[Path], run: Path, cache: Path, workers: int, expected: dict) -> dict:
    result = replay_archive(captures, [run], cluster=f"local:{workers}", cache_dir=cache)
    assert _dump(result.report) == _dump(expected), "the cluster's report differs from the one-process replay's"
    st = result.stats
    return {"wall": st.wall_seconds, "replaying": st.wall_seconds - st.connect_seconds, "start": st.connect_seconds,
            "group_seconds": sum(st.group_seconds), "group_cpu": sum(st.group_cpu_seconds),
            "bytes": sum(st.group_bytes), "groups": st.groups, "runs": st.runs, "rounds": st.rounds}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sessions", type=int, default=8)
    p.add_argument("--size-mb", type=int, default=20, help="capture size of one session")
    p.add_argument("--repeat", type=int, default=2, help="interleaved rounds; the best of each is kept "
                   "(other work on the machine only ever slows a run down)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/sandbox-archive-bench"))
    p.add_argument("--json", type=Path, help="write the figures here")
    args = p.parse_args(argv)
    run, archive, unfavourable = prepare(args.workdir, args.sessions, args.size_mb)
    cache = args.workdir / "index-cache"
    build_index(run, cache_dir=cache)
    total = sum(c.stat().st_size for c in archive) / 1e6
    print(f"archive: {len(archive)} sessions, {total:.0f} MB; {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.1f} before")
    anchors, ones, twos = [], [], []
    for _ in range(args.repeat):
        seconds, report = _anchor(archive, run, cache)
        anchors.append(seconds)
        ones.append(_cluster(archive, run, cache, 1, report))
        twos.append(_cluster(archive, run, cache, 2, report))
    single = min(anchors)
    one = min(ones, key=lambda f: f["replaying"])
    two = min(twos, key=lambda f: f["replaying"])
    print(f"load average {os.getloadavg()[0]:.1f} after; best of {args.repeat} interleaved rounds:")
    print(f"  one process (--jobs 1, the anchor): {single:6.1f} s  {total / single:5.1f} MB/s "
          f"({len(report['findings'])} findings, {report['verdict']})")
    for name, f in (("local:1", one), ("local:2", two)):
        print(f"  --cluster {name}: {f['replaying']:6.1f} s replaying ({f['start']:.1f} s more starting the cluster)"
              f"  {total / f['replaying']:5.1f} MB/s; {f['groups']} groups, {f['runs']} replays; report equal; "
              f"workers' CPU {f['group_cpu']:.1f} s = {f['group_cpu'] / f['replaying']:.2f} cores busy on average")
    speedup = one["replaying"] / two["replaying"]
    print(f"measured: 2 workers vs 1: {speedup:.2f}x = {speedup / 2:.2f} of linear (target >= 0.8); "
          f"vs the one-process anchor: {single / two['replaying']:.2f}x; CPU per MB with 2 workers "
          f"{two['group_cpu'] / one['group_cpu']:.2f}x that with 1 (above 1: the workers slow each other)")
    per_worker = one["bytes"] / 1e6 / one["group_cpu"]
    serial = max(0.0, one["replaying"] - one["group_seconds"])      # probing, merging: the coordinator's part
    parallel = one["group_cpu"]
    group = parallel / args.sessions
    print(f"computed, not measured: per-worker throughput {per_worker:.1f} MB/s of CPU time ({group:.1f} s a "
          f"session), serial part {serial:.1f} s; N workers with a core each, an archive of 4N such sessions:")
    projected = {}
    for n in PROJECTED_WORKERS:
        sessions = 4 * n
        one_worker = serial + group * sessions
        t = serial + group * -(-sessions // n)
        projected[n] = one_worker / t
        print(f"  {n:3d} workers: {one_worker / t:5.2f}x = {one_worker / t / n:.2f} of linear")
    worst_single, worst_report = _anchor(unfavourable, run, cache)
    worst = _cluster(unfavourable, run, cache, 2, worst_report)
    print(f"unfavourable (a DNS tunnel zone in the first and last session joins every group between): "
          f"{worst['groups']} groups, {worst['runs']} replays in {worst['rounds']} rounds; --cluster local:2 "
          f"{worst['replaying']:.1f} s vs one process {worst_single:.1f} s; report equal")
    if args.json:
        args.json.write_text(json.dumps({"anchor": single, "local:1": one, "local:2": two, "speedup": speedup,
                                         "projected": projected, "unfavourable": {"one_process": worst_single,
                                                                                  **worst}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Decompression bombs without labels: seconds and peak RSS of a full CLI replay, per case.

Every capture holds one hostile upload, then 20 KB of a sample's reads on the same connection and
again on a second one (``sandbox.simulate.bombs``).  The anchor is the same story with an
incompressible upload of the bomb's wire size in place of the bomb; each case prints its time and
memory beside the anchor's, as ratios, and whether the leak behind it was found on both flows.

    .venv/bin/python benchmarks/hostile_bombs.py [--workdir DIR] [--tree DIR] [--repeat 1]

``--tree`` replays with the ``sandbox`` package of another checkout (run from there), e.g. main,
to compare before and after on the same captures.  Bar (issue 7): at most 60 s and 2 GiB a case.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.simulate import ensure_demo  # noqa: E402
from sandbox.simulate.bombs import gzip_bomb, nested_zip_bomb, write_capture  # noqa: E402
from sandbox.simulate.runfolder import sample_fastqs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LEAK_BYTES = 20_000
MB = 1_000_000


def cases() -> dict[str, tuple[bytes, str]]:
    """name -> (hostile upload, Content-Encoding label)."""
    bomb = gzip_bomb(1 << 30)
    return {
        "anchor: random upload": (os.urandom(len(bomb)), ""),
        "gzip bomb 1 GiB, no label": (bomb, ""),
        "gzip bomb 1 GiB, labelled": (bomb, "gzip"),
        "nested zip bomb 16^3 x 32 MiB": (nested_zip_bomb(levels=3), ""),
    }


def replay(capture: Path, run_dir: Path, work: Path, tree: Path | None) -> tuple[float, int, dict]:
    """Wall seconds, peak RSS (bytes, the CLI and its worker) and the report of one replay."""
    report = work / "report.json"
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    cmd = [sys.executable, "-m", "sandbox.cli", "replay", str(capture), "--run", str(run_dir),
           "--report", str(report), "--quiet", "--cache-dir", str(work / "cache")]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=tree or REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1, 3):
        raise SystemExit(f"replay failed ({proc.returncode}): {proc.stderr.read().decode()[-500:]}")
    return seconds, usage.ru_maxrss * 1024, json.loads(report.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, help="where captures and indexes go (default: a temp dir)")
    ap.add_argument("--tree", type=Path, help="replay with the sandbox package of this checkout")
    ap.add_argument("--repeat", type=int, default=1, help="replays per case; the best is shown")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sbx-hostile-bombs-"))
    work.mkdir(parents=True, exist_ok=True)
    run_dir, _ = ensure_demo(REPO / "captures" / "demo")
    leak = gzip.decompress(next(iter(sample_fastqs(run_dir).values())).read_bytes())[:LEAK_BYTES]
    anchor: tuple[float, int] | None = None
    print(f"{'case':<32} {'capture':>9} {'seconds':>8} {'peak RSS':>9} {'x time':>7} {'x RSS':>6}  "
          f"verdict  leak found  not examined")
    for name, (hostile, label) in cases().items():
        capture = work / (name.split(":")[0].replace(" ", "-").replace(",", "") + ".pcapng")
        flows = write_capture(capture, hostile, leak, label=label)
        runs = [replay(capture, run_dir, work, args.tree) for _ in range(args.repeat)]
        seconds = min(r[0] for r in runs)
        rss = min(r[1] for r in runs)
        report = runs[0][2]
        anchor = anchor or (seconds, rss)
        found = sum(any(f["flow"] == flow and f["kind"] in ("run-bytes", "sequence")
                        and f["severity"] in ("high", "critical") for f in report["findings"])
                    for flow in flows.values())
        unexamined = sum(f.get("detail", {}).get("bytes_not_examined", 0) for f in report["findings"]
                         if f["kind"] == "decode-limit")
        print(f"{name:<32} {capture.stat().st_size / MB:7.2f}MB {seconds:8.1f} {rss / MB:7.0f}MB "
              f"{seconds / anchor[0]:7.1f} {rss / anchor[1]:6.1f}  {report['verdict']:<8} {found}/2 flows  "
              f"{unexamined} B")


if __name__ == "__main__":
    main()

"""What the acceptance reports cost, side by side with their anchors in one run.

On the mixed capture of ``benchmarks/replay.py`` (many flows, every one an unlisted destination but
one: the unfavourable case for reports, hundreds of findings):

- replay with every report (JSON, JUnit, SARIF, HTML) against the same replay writing JSON only;
- ``sandbox report --db`` per format against the CLI's own start-up (``sandbox --help``);
- locating every frame of the capture (``frame_records``) against hashing the file (``sha256sum``);
- ``sandbox bundle`` against ``tar --zstd -cf`` of the capture alone (``zstd -10``).

    python benchmarks/reports.py [--size-mb 100] [--workdir /tmp/sandbox-bench]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from replay import prepare, timed  # noqa: E402

from sandbox.captures import open_capture  # noqa: E402
from sandbox.report.locate import frame_records  # noqa: E402

PY = sys.executable


def cli(*args: str) -> list[str]:
    return [PY, "-m", "sandbox.cli", *args]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mb", type=int, default=100)
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "sandbox-bench")
    args = p.parse_args(argv)
    run, capture = prepare(args.workdir, args.size_mb)
    out = args.workdir / "reports"
    out.mkdir(exist_ok=True)
    cache = args.workdir / "index-cache"
    mb = capture.stat().st_size / 1e6
    subprocess.run(cli("index", str(run), "--cache-dir", str(cache), "--quiet"), cwd=REPO, check=True,
                   capture_output=True)
    common = [str(capture), "--run", str(run), "--cache-dir", str(cache), "--allow", "lims.lab.example", "--quiet"]
    rows: list[tuple[str, float, str, float]] = []

    subprocess.run(cli("replay", *common, "--db", str(out / "w.sqlite")), cwd=REPO, capture_output=True)  # warm
    json_only = timed(cli("replay", *common, "--db", str(out / "a.sqlite"), "--json", str(out / "a.json")), (0, 1, 3))
    every = timed(cli("replay", *common, "--db", str(out / "s.sqlite"), "--json", str(out / "r.json"), "--junit",
                      str(out / "r.xml"), "--sarif", str(out / "r.sarif"), "--html", str(out / "r.html")), (0, 1, 3))
    rows.append(("replay, every report", every["seconds"], "replay, JSON only", json_only["seconds"]))

    start = timed(cli("--help"))
    for flag, ext in (("--json", "json"), ("--junit", "xml"), ("--sarif", "sarif"), ("--html", "html")):
        took = timed(cli("report", "--db", str(out / "s.sqlite"), flag, str(out / f"again.{ext}"), "--quiet"),
                     (0, 1, 3))
        rows.append((f"report --db {flag}", took["seconds"], "sandbox --help (start-up)", start["seconds"]))

    frames = sum(1 for _ in open_capture(capture).packets())
    started = time.perf_counter()
    found = frame_records(capture, range(1, frames + 1))
    locate = time.perf_counter() - started
    assert len(found) == frames
    digest = timed(["sha256sum", str(capture)])
    rows.append((f"locate all {frames} frames", locate, "sha256sum of the capture", digest["seconds"]))

    bundle = timed(cli("bundle", str(out / "s.sqlite"), str(out / "b.tar.zst"), "--quiet"))
    tar = timed(["tar", "-I", "zstd -10 -T1", "-cf", str(out / "t.tar.zst"), "-C", str(capture.parent), capture.name])
    rows.append(("sandbox bundle", bundle["seconds"], "tar | zstd -10 of the capture", tar["seconds"]))

    import json

    findings = len(json.loads((out / "r.json").read_text())["findings"])
    print(f"capture: {capture} ({mb:.0f} MB, {frames} frames), {findings} findings")
    print(f"{'what':34} {'s':>7}   {'anchor':34} {'s':>7}  ratio")
    for name, took, anchor, base in rows:
        print(f"{name:34} {took:7.2f}   {anchor:34} {base:7.2f}  {took / base:5.2f}x")
    sizes = {p.name: p.stat().st_size for p in sorted(out.glob("r.*"))}
    print("report sizes: " + ", ".join(f"{n} {s / 1e3:.0f} kB" for n, s in sizes.items())
          + f"; bundle {(out / 'b.tar.zst').stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Without the fleet extra (psycopg, dask) the default path works as ever, and the fleet options say
in one line what to install."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sandbox.simulate import ensure_demo

REPO = Path(__file__).resolve().parents[2]
# Runs the CLI with the fleet extra's modules unimportable (as in a plain install).
WITHOUT = ("import sys\n"
           "for m in ('psycopg', 'psycopg_binary', 'dask', 'distributed'): sys.modules[m] = None\n"
           "from sandbox.cli import main\n"
           "sys.exit(main(sys.argv[1:]))\n")


def sandbox(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600)


def test_sqlite_and_one_process_need_neither_and_the_fleet_options_say_what_to_install(tmp_path):
    run_dir, capture = ensure_demo(REPO / "captures" / "demo")
    common = ["--run", str(run_dir), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    plain = sandbox("replay", str(capture), "--db", str(tmp_path / "s.sqlite"), "--report", str(tmp_path / "r.json"),
                    *common)
    assert plain.returncode == 1, plain.stderr
    assert json.loads((tmp_path / "r.json").read_text())["verdict"] == "leak"
    for extra in (["--db", "postgresql://sandbox@127.0.0.1:1/sandbox"], ["--cluster", "local:1"]):
        done = sandbox("replay", str(capture), *extra, *common)
        assert done.returncode == 2, done.stderr
        assert "pip install 'instrument-traffic-sandbox[fleet]'" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1

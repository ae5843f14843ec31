import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_module_entry_point_refuses_a_missing_store(tmp_path):
    out = subprocess.run([sys.executable, "-m", "dashboards", "--db", str(tmp_path / "none.sqlite")],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "does not exist" in out.stderr


def test_module_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "dashboards", "--help"], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "--db" in out.stdout and "127.0.0.1" in out.stdout

"""File modes (issue 7): the JSON, JUnit and HTML reports name samples, run files and destinations,
so all three are private (0600), even under a permissive umask and over older world-readable files."""

from __future__ import annotations

import stat

import pytest

from tests.hostile.hostile_names_capture import build, replay

REPORTS = ("report.json", "report.xml", "report.html")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return build(tmp_path_factory.mktemp("sbx-safe-strings-modes"))


def test_reports_are_private_under_umask_0(hostile, tmp_path):
    result = replay(hostile, tmp_path, "--quiet", umask=0)
    assert result.returncode == 1, result.stderr.decode(errors="replace")[-2000:]
    assert {name: oct(stat.S_IMODE((tmp_path / name).stat().st_mode)) for name in REPORTS} == dict.fromkeys(
        REPORTS, "0o600")


def test_reports_replace_older_world_readable_files_with_private_ones(hostile, tmp_path):
    for name in REPORTS:
        (tmp_path / name).write_text("old")
        (tmp_path / name).chmod(0o644)
    assert replay(hostile, tmp_path, "--quiet").returncode == 1
    for name in REPORTS:
        path = tmp_path / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text(encoding="utf-8") != "old"
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

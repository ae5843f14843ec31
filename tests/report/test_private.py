"""write_private: reports are 0600 whatever the umask or an older file's mode, and appear whole."""

from __future__ import annotations

import os
import stat

import pytest

from sandbox.report.private import PRIVATE_MODE, write_private


def test_new_file_is_private_under_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        write_private(tmp_path / "r.xml", "<a/>")
        write_private(tmp_path / "r.bin", b"\x00\x01")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.xml").stat().st_mode) == PRIVATE_MODE
    assert (tmp_path / "r.xml").read_text() == "<a/>" and (tmp_path / "r.bin").read_bytes() == b"\x00\x01"


def test_an_existing_readable_file_is_replaced_by_a_private_one(tmp_path):
    path = tmp_path / "r.html"
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, "new")
    assert stat.S_IMODE(path.stat().st_mode) == PRIVATE_MODE and path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out"
    target.mkdir()  # a directory cannot be replaced by a file
    with pytest.raises(OSError):
        write_private(target, "x")
    assert target.is_dir() and sorted(p.name for p in tmp_path.iterdir()) == ["out"]

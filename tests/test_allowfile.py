"""The allow-list TOML file."""

from __future__ import annotations

import pytest

from sandbox.allowfile import AllowFileError, read_allow_file


def test_entries_are_read(tmp_path):
    p = tmp_path / "bench.toml"
    p.write_text('allow = ["lims.lab.example", " 10.0.0.0/24 ", ""]\n')
    assert read_allow_file(p) == ["lims.lab.example", "10.0.0.0/24"]


@pytest.mark.parametrize("text", ["allow = [1, 2]", "allow = 'x'", "nothing = []", "allow = [", "\xff"])
def test_bad_files_say_so(tmp_path, text):
    p = tmp_path / "bench.toml"
    p.write_bytes(text.encode("latin-1"))
    with pytest.raises(AllowFileError):
        read_allow_file(p)


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(AllowFileError, match="No such file"):
        read_allow_file(tmp_path / "none.toml")

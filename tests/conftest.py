"""Shared fixtures: where the real public data lives (``../shared/data`` beside the repo)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# a real PostgreSQL server for the store tests (started on first use, stopped at the end)
pytest_plugins = ["tests.pgserver"]

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SANDBOX_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session", autouse=True)
def rig_state(tmp_path_factory) -> Iterator[Path]:
    """The rig's index cache and MAC key go to a per-session folder, not the user's home (subprocesses
    of the CLI inherit it)."""
    home = tmp_path_factory.mktemp("rig-state")
    patch = pytest.MonkeyPatch()
    patch.setenv("SANDBOX_CACHE_DIR", str(home / "cache"))
    patch.setenv("XDG_STATE_HOME", str(home / "state"))
    yield home
    patch.undo()

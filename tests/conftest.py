"""Shared fixtures: where the real public data lives (``../shared/data`` beside the repo)."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# a real PostgreSQL server for the store tests (started on first use, stopped at the end)
pytest_plugins = ["tests.pgserver"]

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SANDBOX_SHARED_DATA", REPO.parent / "shared" / "data"))

# A run of the suite is reproducible: each test's random bytes (``os.urandom``) are drawn from a seed of
# its own id, and hypothesis draws the same examples every run (a test whose chance failure CI met once
# in a while failed a landing it had nothing to do with).  ``SANDBOX_TEST_SEED=<n>`` draws other bytes
# and lets hypothesis explore; ``SANDBOX_TEST_SEED=random`` a new seed each run (printed to repeat it).
TEST_SEED = os.environ.get("SANDBOX_TEST_SEED", "0")
if TEST_SEED == "random":
    TEST_SEED = str(random.SystemRandom().getrandbits(32))
settings.register_profile("reproducible", derandomize=True)
settings.register_profile("exploring", derandomize=False)
settings.load_profile("reproducible" if "SANDBOX_TEST_SEED" not in os.environ else "exploring")


_RANDOM_BYTES = random.Random(TEST_SEED)
os.urandom = _RANDOM_BYTES.randbytes      # module fixtures set up in a test's setup draw from its seed too


def pytest_report_header() -> str:
    return f"random bytes seeded by SANDBOX_TEST_SEED={TEST_SEED}"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """``os.urandom`` from here on: bytes of a generator seeded by the test's id and TEST_SEED."""
    _RANDOM_BYTES.seed(hashlib.sha256(f"{TEST_SEED}:{item.nodeid}".encode()).digest())


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

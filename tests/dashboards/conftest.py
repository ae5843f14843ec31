"""Headless Debian chromium for dash's ``dash_duo`` fixture, and small stores to show."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from selenium.webdriver.chrome.options import Options

from tests.dashboards.storegen import new_store, populate_small

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"


def pytest_configure(config: pytest.Config) -> None:
    # Same as passing `--webdriver Chrome`, so the plain `pytest tests/dashboards` works.
    if hasattr(config.option, "webdriver"):
        config.option.webdriver = "Chrome"


def pytest_setup_options() -> Options:
    options = Options()
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                "--window-size=1600,1400"):
        options.add_argument(arg)
    options.binary_location = os.environ.get("DASH_TEST_CHROMEPATH", CHROMIUM)
    return options


@pytest.fixture
def small_store(tmp_path: Path):
    store = new_store(tmp_path / "store.sqlite")
    populate_small(store)
    yield store
    store.close()


@pytest.fixture
def empty_store(tmp_path: Path):
    store = new_store(tmp_path / "empty.sqlite")
    yield store
    store.close()


@pytest.fixture
def screenshot():
    """Save the browser's view to tests/screenshots/<name>.png (for a human to look at)."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def save(dash_duo, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        dash_duo.driver.save_screenshot(str(path))
        return path

    return save

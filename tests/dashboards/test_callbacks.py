"""Filters, sorting and the finding detail, driven through the real page."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from dashboards import create_app

pytestmark = pytest.mark.browser
LOAD_S = 30  # first paint of a cold page on a busy machine
STEP_S = 10  # one filter or click round trip


def _cells(dash_duo, column: str) -> list[str]:
    return [e.text for e in dash_duo.find_elements(f"#findings-table tbody td[data-dash-column='{column}']")]


def _cell(dash_duo, row: int, column: str):
    return dash_duo.find_elements(f"#findings-table tbody td[data-dash-column='{column}']")[row]


def _pick(dash_duo, selector: str, *values: str) -> None:
    """Choose options of a multi-select dropdown, then close its menu."""
    dash_duo.find_element(selector).click()
    for value in values:
        options = dash_duo.wait_for_element(".dash-dropdown-options").find_elements(By.CSS_SELECTOR,
                                                                                   ".dash-dropdown-option")
        next(o for o in options if o.text == value).click()
    dash_duo.find_element("body").send_keys(Keys.ESCAPE)


def _wait_cells(dash_duo, column: str, expected: list[str], timeout: float = STEP_S) -> None:
    deadline = time.monotonic() + timeout
    while _cells(dash_duo, column) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _cells(dash_duo, column) == expected


def test_filters_and_sort(dash_duo, small_store):
    dash_duo.start_server(create_app(small_store.path))
    dash_duo.wait_for_text_to_equal("#findings-count", "4 finding(s)", timeout=LOAD_S)
    _pick(dash_duo, "#filter-severity", "critical", "high")
    dash_duo.wait_for_text_to_equal("#findings-count", "2 finding(s)", timeout=STEP_S)
    _wait_cells(dash_duo, "severity", ["critical", "high"])
    _pick(dash_duo, "#filter-channel", "usb")
    dash_duo.wait_for_text_to_equal("#findings-count", "1 finding(s)", timeout=STEP_S)
    _wait_cells(dash_duo, "destination", ["1.4"])
    for selector in ("#filter-channel", "#filter-severity"):
        dash_duo.find_element(f"{selector} .dash-dropdown-clear").click()
    dash_duo.wait_for_text_to_equal("#findings-count", "4 finding(s)", timeout=STEP_S)
    dash_duo.find_element("#filter-destination").send_keys("vendor\n")
    dash_duo.wait_for_text_to_equal("#findings-count", "2 finding(s)", timeout=STEP_S)
    _wait_cells(dash_duo, "destination", ["telemetry.vendor-cloud.example", "ntp.vendor.example"])
    dash_duo.find_element("#findings-table th[data-dash-column='severity'] .column-header--sort").click()
    _wait_cells(dash_duo, "severity", ["low", "critical"])
    assert dash_duo.get_logs() == []


def test_detail_view(dash_duo, small_store, screenshot):
    dash_duo.start_server(create_app(small_store.path))
    dash_duo.wait_for_text_to_equal("#findings-count", "4 finding(s)", timeout=LOAD_S)
    dash_duo.wait_for_element("#detail-empty")
    _cell(dash_duo, 0, "kind").click()
    dash_duo.wait_for_element("#detail-chain", timeout=STEP_S)
    chain = dash_duo.find_element("#detail-chain").text
    for step in ("tcp", "tls", "http/1.1 POST /api/v2/upload", "multipart:file=reads.bin", "gzip"):
        assert step in chain
    files = dash_duo.find_element("#detail-files").text
    assert "HG002-2_S2_L001_R1_001.fastq.gz" in files and "62.0%" in files and "100.0%" in files
    detail = dash_duo.find_element("#finding-detail").text
    assert "HG002-2" in detail and "M00123" in detail  # sample and identifiers
    assert "telemetry.vendor-cloud.example" in detail and "POST" in detail and "/api/v2/upload" in detail
    assert "wireshark -r 'captures/acceptance-run42.pcapng' -g 1201" in detail
    assert "@M00123:42" in detail  # the short preview's text column
    screenshot(dash_duo, "dashboard_detail")
    _cell(dash_duo, 1, "kind").click()
    dash_duo.wait_for_contains_text("#finding-detail", "SanDisk Ultra Fit", timeout=STEP_S)
    assert dash_duo.get_logs() == []

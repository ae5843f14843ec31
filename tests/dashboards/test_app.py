"""The page in a real headless chromium: loads clean from local assets, updates live.

Timeouts are generous (LOAD_S) because the bench machine may be busy; the live budget
is printed, and asserted only loosely (LIVE_S).
"""

from __future__ import annotations

import time

import pytest

from dashboards import create_app
from tests.dashboards.storegen import leak_finding, upload_flow

pytestmark = pytest.mark.browser
LOAD_S = 30  # first paint of a cold page, chromium and bundles included
LIVE_S = 8  # a new finding must show within a few polls of 1 s


def _rows(dash_duo) -> list[str]:
    return [e.text for e in dash_duo.find_elements("#findings-table tbody tr td[data-dash-column='kind']")]


def test_page_loads_without_console_errors_from_local_assets(dash_duo, small_store, screenshot):
    started = time.monotonic()
    dash_duo.start_server(create_app(small_store.path))
    dash_duo.wait_for_text_to_equal("#verdict-text", "SUSPECTED LEAK", timeout=LOAD_S)
    dash_duo.wait_for_text_to_equal("#findings-count", "4 finding(s)", timeout=LOAD_S)
    print(f"\nfirst findings page (4-finding store, baseline) after {time.monotonic() - started:.2f} s")
    dash_duo.wait_for_element("#usb-table", timeout=LOAD_S)
    dash_duo.wait_for_element("#coverage-files", timeout=LOAD_S)
    dash_duo.wait_for_element("#timeline .main-svg", timeout=LOAD_S)
    assert "SanDisk Ultra Fit" in dash_duo.find_element("#usb-table").text
    assert "0781:5583" in dash_duo.find_element("#usb-table").text
    assert "/dev/ttyUSB0" in dash_duo.find_element("#serial-table").text
    net = dash_duo.find_element("#net-table").text
    assert "NOT LISTED" in net and "allow-listed" in net
    assert dash_duo.find_element("#findings-table td[data-dash-column='severity']").text == "critical"
    time.sleep(1.5)  # a couple of live polls, so their errors would show too
    assert dash_duo.get_logs() == []
    screenshot(dash_duo, "dashboard_small")
    urls = dash_duo.driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).concat([location.href]);")
    assert urls and all(u.startswith(dash_duo.server_url) for u in urls), urls


def test_finding_appears_live_and_verdict_turns(dash_duo, empty_store, screenshot):
    dash_duo.start_server(create_app(empty_store.path))
    dash_duo.wait_for_text_to_equal("#verdict-text", "CLEAN", timeout=LOAD_S)
    dash_duo.wait_for_text_to_equal("#findings-count", "0 finding(s)", timeout=LOAD_S)
    empty_store.put_findings([leak_finding(9, severity="low", kind="destination", dest="ntp.vendor.example")])
    started = time.monotonic()
    dash_duo.wait_for_text_to_equal("#findings-count", "1 finding(s)", timeout=LIVE_S)
    print(f"live row after {time.monotonic() - started:.2f} s")
    assert _rows(dash_duo) == ["destination"]
    assert dash_duo.find_element("#verdict-text").text == "CLEAN"  # low alone is not a leak
    empty_store.put_flows([upload_flow(1)])
    empty_store.put_findings([leak_finding(1)])
    dash_duo.wait_for_text_to_equal("#verdict-text", "SUSPECTED LEAK", timeout=LIVE_S)
    dash_duo.wait_for_text_to_equal("#count-critical", "critical 1", timeout=LIVE_S)
    assert _rows(dash_duo) == ["run-bytes", "destination"]
    assert "live" in dash_duo.find_element("#last-update").text
    empty_store.set_session(finished=time.time(), verdict="leak")
    dash_duo.wait_for_contains_text("#last-update", "session finished", timeout=LIVE_S)
    assert dash_duo.get_logs() == []
    screenshot(dash_duo, "dashboard_live_leak")

"""100,000 flows and 10,000 findings: the first page comes back paged from SQL, not the whole table."""

from __future__ import annotations

import time

import pytest

from dashboards import create_app
from tests.dashboards.storegen import new_store, populate_big

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def _cells(dash_duo, column: str) -> list[str]:
    return [e.text for e in dash_duo.find_elements(f"#findings-table tbody td[data-dash-column='{column}']")]


def test_big_store_first_page(dash_duo, tmp_path, screenshot):
    store = new_store(tmp_path / "big.sqlite")
    started = time.monotonic()
    populate_big(store)
    print(f"\ngenerated 100k flows / 10k findings / 72k traffic rows in {time.monotonic() - started:.1f} s")
    app = create_app(store.path)
    started = time.monotonic()
    dash_duo.start_server(app)
    dash_duo.wait_for_text_to_equal("#findings-count", "10,000 finding(s)", timeout=60)
    first_page = time.monotonic() - started
    dash_duo.wait_for_element("#net-table", timeout=60)
    dash_duo.wait_for_element("#coverage-files", timeout=60)
    panels = time.monotonic() - started
    print(f"first findings page after {first_page:.2f} s, all panels after {panels:.2f} s")
    assert len(_cells(dash_duo, "kind")) == 20  # one page in the browser, not 10k rows
    assert set(_cells(dash_duo, "severity")) == {"critical"}  # most severe first
    assert "+0" not in dash_duo.find_element("#net-table").text
    first = _cells(dash_duo, "t_first")
    dash_duo.find_element("#findings-table button.next-page").click()
    deadline = time.monotonic() + 20
    while _cells(dash_duo, "t_first") == first and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _cells(dash_duo, "t_first") != first
    started = time.monotonic()
    dash_duo.find_element("#filter-destination").send_keys("host7.cdn2\n")
    dash_duo.wait_for_text_to_equal("#findings-count", "250 finding(s)", timeout=20)
    print(f"filter round trip on 10k findings {time.monotonic() - started:.2f} s")
    assert set(_cells(dash_duo, "destination")) == {"host7.cdn2.example"}
    assert dash_duo.get_logs() == []
    screenshot(dash_duo, "dashboard_big")
    store.close()

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


def test_usb_panel_lists_devices_classes_bytes_out_and_findings_per_device(dash_duo, tmp_path, screenshot):
    """A store filled by a real replay of the USB bench: a stick given a FASTQ.gz, a USB modem
    carrying an upload, a keyboard; the panel names each device, its class, what it took out and
    the findings on it."""
    from sandbox.replay import replay
    from sandbox.simulate import ensure_demo
    from sandbox.simulate.runfolder import sample_fastqs
    from sandbox.simulate.traffic import INSTRUMENT, Bench
    from sandbox.simulate.usb import (
        NetworkLink,
        UsbBench,
        keyboard,
        network_adapter,
        open_writer,
        stick_session,
    )
    from sandbox.simulate.wire import http_request, http_response
    from sandbox.store import Store
    from tests.hw.test_watch import REPO

    run = ensure_demo(REPO / "captures" / "demo")[0]
    fastq = next(iter(sample_fastqs(run).values())).read_bytes()
    capture = tmp_path / "sbx-usb-bench.pcapng"
    with open_writer(capture) as w:
        stick_session(w, {"RUN/reads.fastq.gz": fastq})
        usb = UsbBench(w, t0=w.t + 1)
        usb.next_address = 5
        usb.plug(keyboard())
        net = Bench(NetworkLink(usb, usb.plug(network_adapter("rndis")), INSTRUMENT), t0=usb.t)
        conv = net.connect(("203.0.113.50", 80))
        net.exchange(conv, http_request("POST", "/up", "upload.example.net", fastq), http_response(b"{}"))
        net.close(conv)
    store = Store(tmp_path / "store.sqlite")
    replay([capture], [run], store=store, cache_dir=tmp_path / "cache")
    store.close()
    dash_duo.start_server(create_app(str(tmp_path / "store.sqlite")))
    dash_duo.wait_for_element("#usb-table", timeout=LOAD_S)
    dash_duo.wait_for_contains_text("#usb-table", "HUAWEI_MOBILE", timeout=LOAD_S)
    rows = {r.text.split()[1]: r.text for r in dash_duo.find_elements("#usb-table tbody tr")}
    stick_row, modem_row, keyboard_row = rows["1.2"], rows["1.6"], rows["1.5"]
    assert "0781:5583" in stick_row and "msc" in stick_row and "Ultra Fit" in stick_row and " new" in stick_row
    assert "/RUN/reads.fastq.gz" in stick_row and "critical" in stick_row and "medium" in stick_row
    assert "12d1:14dc" in modem_row and "rndis" in modem_row and "network flows" in modem_row
    assert "critical" in modem_row
    assert "046d:c31c" in keyboard_row and "hid" in keyboard_row and keyboard_row.rstrip().endswith("-")
    assert dash_duo.get_logs() == []
    screenshot(dash_duo, "dashboard_usb")

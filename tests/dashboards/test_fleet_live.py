"""Two rigs (two `sandbox watch` processes) write one PostgreSQL store while the dashboard reads it in
headless chromium: both appear in the fleet card, their leaks show up live, a rig filter narrows the
panels, and a rig that ends or dies is shown finished or interrupted.

Timeouts are generous (a loaded 2-core machine); the latency from a finding's commit to the page is
printed, never asserted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from selenium.common.exceptions import StaleElementReferenceException

from dashboards import create_app
from sandbox.index import build_index
from sandbox.simulate import ensure_demo
from sandbox.simulate.playback import play
from tests.dashboards.test_callbacks import _pick

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
REPO = Path(__file__).resolve().parents[2]
ALLOW = ["lims.lab.example", "198.51.100.10"]
LOAD_S = 60  # first paint of a cold page, with two sessions starting beside it
LIVE_S = 60  # a rig's leak on the page: analysis of the demo capture plus a poll or two


def _rig(name: str, url: str, run_dir: Path, live: Path, tmp: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sandbox.cli", "watch", "--run", str(run_dir), "--follow", str(live),
         "--rig", name, "--instrument-name", f"MiSeq-{name}", "--record", str(tmp / f"rec-{name}"),
         "--cache-dir", str(tmp / "cache"), "--quiet", "--allow", *ALLOW],
        cwd=REPO, env={**os.environ, "SANDBOX_DB": url}, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _fleet_rows(dash_duo) -> dict[str, str]:
    """The fleet table's rows by rig.  Live rigs write every 0.25 s and the table is redrawn as they
    do: rows found just before a redraw are stale by the time they are read, so read again."""
    while True:
        try:
            rows = dash_duo.find_elements("#fleet-table tbody tr")
            return {r.text.split()[0]: r.text for r in rows if r.text}
        except StaleElementReferenceException:
            time.sleep(0.05)


def _wait(predicate, what: str, timeout: float) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)
    return time.monotonic() - started


def _high_findings(url: str, rig: str) -> int:
    with psycopg.connect(url, options="-c search_path=sandbox") as conn:
        return conn.execute("SELECT count(*) FROM findings f JOIN sessions s USING (session_id) "
                            "WHERE s.rig = %s AND severity_rank >= 3", (rig,)).fetchone()[0]


def _findings(url: str, rig: str) -> int:
    with psycopg.connect(url, options="-c search_path=sandbox") as conn:
        return conn.execute("SELECT count(*) FROM findings f JOIN sessions s USING (session_id) WHERE s.rig = %s",
                            (rig,)).fetchone()[0]


def test_two_rigs_write_one_postgres_store_while_the_dashboard_reads_it(dash_duo, postgres_url, tmp_path, screenshot):
    run_dir, capture = ensure_demo(REPO / "captures" / "demo")
    build_index(run_dir, cache_dir=tmp_path / "cache")      # built once; both rigs reuse the cache
    dash_duo.start_server(create_app(postgres_url))
    lives = {name: tmp_path / f"{name}.pcapng" for name in ("bench-A", "bench-B")}
    rigs = {name: _rig(name, postgres_url, run_dir, live, tmp_path) for name, live in lives.items()}
    try:
        dash_duo.wait_for_contains_text("#fleet-count", "2 session(s), 2 live", timeout=LOAD_S)
        rows = _fleet_rows(dash_duo)
        assert set(rows) == {"bench-A", "bench-B"} and "MiSeq-bench-A" in rows["bench-A"]
        assert all("live" in r and "CLEAN" in r for r in rows.values())

        players = {}
        for name in ("bench-A", "bench-B"):
            players[name] = threading.Thread(target=play, args=(capture, lives[name]), kwargs={"speed": 10.0})
            players[name].start()
            _wait(lambda n=name: _high_findings(postgres_url, n) > 0, f"{name}'s first high finding", LIVE_S)
            seen = _wait(lambda n=name: "SUSPECTED LEAK" in _fleet_rows(dash_duo).get(n, ""),
                         f"{name}'s leak on the page", LIVE_S)
            print(f"\n{name}: leak on the page {seen:.2f} s after its first high finding was committed")
        dash_duo.wait_for_text_to_equal("#verdict-text", "SUSPECTED LEAK", timeout=LIVE_S)
        rig_cells = {e.text for e in dash_duo.find_elements("#findings-table tbody td[data-dash-column='rig']")}
        assert {c.split(" · ")[0] for c in rig_cells} == {"bench-A", "bench-B"}   # live findings across rigs

        _pick(dash_duo, "#filter-rig", "bench-B")
        dash_duo.wait_for_contains_text("#fleet-count", "1 session(s)", timeout=LIVE_S)
        _wait(lambda: {e.text.split(" · ")[0] for e in
                       dash_duo.find_elements("#findings-table tbody td[data-dash-column='rig']")} == {"bench-B"},
              "the findings of bench-B alone", LIVE_S)
        dash_duo.wait_for_contains_text("#session-rig", "bench-B", timeout=LIVE_S)   # its own banner
        screenshot(dash_duo, "dashboard_fleet_rig_filter")
        dash_duo.find_element("#filter-rig .dash-dropdown-clear").click()
        dash_duo.wait_for_contains_text("#fleet-count", "2 session(s)", timeout=LIVE_S)

        for player in players.values():
            player.join()
        rigs["bench-A"].send_signal(signal.SIGTERM)
        assert rigs["bench-A"].wait(LIVE_S) == 1           # a leak: exit 1, reports written, session finished
        os.kill(rigs["bench-B"].pid, signal.SIGKILL)
        rigs["bench-B"].wait(LIVE_S)
        _wait(lambda: "finished" in _fleet_rows(dash_duo).get("bench-A", "")
              and "interrupted" in _fleet_rows(dash_duo).get("bench-B", ""), "bench-A finished, bench-B interrupted",
              LIVE_S)
        dash_duo.wait_for_text_to_equal("#findings-count",
                                        f"{_findings(postgres_url, 'bench-A') + _findings(postgres_url, 'bench-B')}"
                                        " finding(s)", timeout=LIVE_S)
        screenshot(dash_duo, "dashboard_fleet")
        assert dash_duo.get_logs() == []
    finally:
        for proc in rigs.values():
            proc.kill()
            proc.wait(30)

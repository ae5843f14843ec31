"""The HTML report: every section a lab files, names escaped, and one file that opens in headless
chromium with the network off (a network namespace of its own) without asking for anything."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sandbox.report import build_report, write_html
from sandbox.report.html import CSP
from sandbox.report.profile import Profile
from tests.report.conftest import BLIND, CAPS, RUNS, finding

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--hide-scrollbars")
VERDICT_RED = (220, 38, 38)        # .leak background, #dc2626


def test_every_section_and_the_judgement_of_each_finding(tmp_path):
    p = Profile.parse("name = 'X1000 acceptance'\n[[waiver]]\nkind = 'destination'\nreason = 'bench NTP'\nby = 'JR'")
    f = finding("critical")
    loc = {"capture": "/caps/a.pcapng", "frame": 12, "byte_offset": 4096, "byte_length": 1514}
    report = build_report([f, finding("low", "destination")], RUNS, CAPS, not_examined=BLIND, profile=p,
                          locations={f.flow: loc})
    manifest = [{"role": "capture", "path": "/caps/a.pcapng", "bytes": 5000, "sha256": "ab" * 32}]
    write_html(report, tmp_path / "r.html", manifest=manifest)
    text = (tmp_path / "r.html").read_text()
    HTMLParser().feed(text)
    for heading in ("Acceptance checks", "Instrument and run", "Acceptance profile", "Plots", "Findings",
                    "Capture health", "Evidence manifest (SHA-256)"):
        assert f"<h2>{heading}</h2>" in text
    assert "SUSPECTED LEAK" in text and "X1000 acceptance" in text and "ab" * 32 in text
    assert "frame 12, byte 4096 (1514 B record)" in text and "WAIVED: bench NTP (JR)" in text
    assert "no run data to unlisted destinations" in text and "unknown link type 127" in text
    assert "No store was kept" in text              # no figures given: said, not blank
    assert f'content="{CSP}"' in text


def test_running_session_is_shown_as_not_final(tmp_path):
    report = build_report([], RUNS, CAPS, not_examined=BLIND, session={"state": "running", "mode": "watch"})
    write_html(report, tmp_path / "r.html")
    text = (tmp_path / "r.html").read_text()
    assert "INCONCLUSIVE" in text and "session running: not final" in text


def test_hostile_names_are_escaped_everywhere_including_the_plots(tmp_path):
    evil = "<script>alert(1)</script>\x1b[2J"
    f = finding("high", destination=evil)
    figures = {"timeline": {"series": {f"net {evil}": [(1.0, 10), (2.0, 20)]}, "bucket_s": 1.0,
                            "markers": [{"id": "1", "severity": "high", "kind": "x", "channel": "net",
                                         "destination": evil, "t_first": 1.5, "bytes_matched": 3}]},
               "destinations": {"rows": [{"destination": evil, "flows": 1, "bytes_out": 9, "bytes_in": 0,
                                          "allowed": 0, "addrs": evil, "sni": evil, "apps": evil}], "total": 1},
               "coverage": {"files": [{"run_id": evil, "file_path": evil, "findings": 1, "bytes_matched": 1,
                                       "sum_fraction": 0.5, "channels": "net", "destinations": 1}],
                            "samples": [{"sample": evil, "findings": 1, "bytes_matched": 3, "severity": "high",
                                         "channels": "net", "destinations": 1}]},
               "captures": [{"path": "/caps/a.pcapng", "channel": "net", "errors": [evil]}]}
    write_html(build_report([f], RUNS, CAPS), tmp_path / "r.html", figures=figures)
    text = (tmp_path / "r.html").read_text()
    assert "<script>" not in text and "&lt;script&gt;" in text and "\x1b" not in text
    assert "http://" not in text and "https://" not in text and "src=" not in text   # nothing to fetch


def _chromium(html: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """Chromium in a network namespace of its own (nothing but a down loopback), logging its requests."""
    if shutil.which("unshare") is None or not Path(CHROMIUM).exists():
        pytest.skip("chromium or unshare not available")
    return subprocess.run(["unshare", "--user", "--map-root-user", "--net", CHROMIUM, *CHROMIUM_FLAGS,
                           f"--log-net-log={out / 'netlog.json'}", *extra, html.as_uri()],
                          capture_output=True, timeout=120)


def _page_requests(netlog: Path) -> list[str]:
    """URLs the page asked for (its requests carry the file:// origin; chromium's own do not)."""
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [e["params"]["url"] for e in log["events"]
            if e["type"] == start and "file://" in e["params"].get("network_isolation_key", "")]


@pytest.mark.browser
def test_the_network_check_sees_a_page_that_fetches(tmp_path):
    page = tmp_path / "fetches.html"
    page.write_text("<html><body><img src='http://198.51.100.1/x.png'></body></html>")
    _chromium(page, tmp_path, f"--screenshot={tmp_path / 'x.png'}")
    assert _page_requests(tmp_path / "netlog.json") == ["http://198.51.100.1/x.png"]


@pytest.mark.browser
def test_demo_report_opens_with_no_network_and_renders_verdict_and_plots(demo_session, tmp_path):
    shot = tmp_path / "report.png"
    proc = _chromium(demo_session / "r.html", tmp_path, f"--screenshot={shot}", "--window-size=1200,2400")
    assert shot.is_file(), proc.stderr.decode(errors="replace")[-2000:]
    assert _page_requests(tmp_path / "netlog.json") == []
    SCREENSHOTS.mkdir(exist_ok=True)
    shutil.copy(shot, SCREENSHOTS / "report_demo.png")   # for a human to look at
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 2400)
    pixels = np.asarray(image)
    assert (pixels[:200, :600] == VERDICT_RED).all(axis=2).sum() > 2000    # the verdict badge
    colours = {tuple(c) for c in np.unique(pixels.reshape(-1, 3), axis=0).tolist()}
    assert len(colours) > 200                                              # text, tables and plots drawn
    plots = {(37, 99, 235), (22, 163, 74), (234, 88, 12)}                  # series, allowed and unlisted bars
    assert plots <= colours

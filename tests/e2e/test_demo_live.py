"""``sandbox demo`` live, as `make demo` runs it: every shipped scenario played through a running rig
by the simulated instrument's real clients; the live findings match the scenario's truth, and the
replay of the session's recordings gives the same findings (and matches the truth too).

Also: the dashboard, in headless chromium, shows the scripted leaks while the scenario still plays;
with a terminal the demo keeps the dashboard up until Ctrl-C; as root, ``--netns`` plays every
scenario through namespaces and a transparent rig, and leaves no namespace behind.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sandbox.simulate.truth import TRUTH_FILE, check, essence, read_truth

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((REPO / "captures" / "scenarios").glob("*.toml"))
WAIT_S = 600          # a whole scenario on a loaded 2-core machine; never a performance assertion
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
LEAK_KINDS = ("run-bytes", "sequence", "identifier")


def demo_args(tmp: Path, scenario: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sandbox.cli", "demo", "--scenario", str(scenario), "--record", str(tmp / "rec"),
            "--ca-dir", str(tmp / "ca"), "--cache-dir", str(tmp / "cache"), *extra]


def replay_session(rec: Path, tmp: Path) -> tuple[int, dict]:
    """``sandbox replay RECORD_DIR/*.pcapng`` as the demo prints it."""
    run_dir = read_truth(rec / TRUTH_FILE)[0]["run"]
    out = tmp / "replay.json"
    proc = subprocess.run([sys.executable, "-m", "sandbox.cli", "replay", *map(str, sorted(rec.glob("*.pcapng"))),
                           "--run", run_dir, "--allow-file", str(rec / "bench.toml"), "--report", str(out),
                           "--cache-dir", str(tmp / "cache"), "--quiet"],
                          cwd=REPO, capture_output=True, text=True, timeout=WAIT_S)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return proc.returncode, json.loads(out.read_text())


def held_to_truth(rec: Path, tmp: Path) -> None:
    _, truth = read_truth(rec / TRUTH_FILE)
    live = json.loads((rec / "report.json").read_text())
    assert check(truth, live) == []
    code, again = replay_session(rec, tmp)
    assert check(truth, again) == []
    assert essence(live) == essence(again)
    assert code == (1 if any(leg.expect for leg in truth) else 0)


def run_demo(args: list[str]) -> subprocess.CompletedProcess:
    """The demo to its end; one that outlives WAIT_S is ended as Ctrl-C ends it and fails with what it printed."""
    with subprocess.Popen(args, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        try:
            out, err = proc.communicate(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                out, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            pytest.fail(f"the demo ran over {WAIT_S} s; it printed:\n{out[-4000:]}\n{err[-2000:]}")
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_scenario_live_matches_its_truth_and_its_replay(scenario, tmp_path):
    proc = run_demo(demo_args(tmp_path, scenario, "--no-dash"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "the rig found what the scenario says" in proc.stdout
    assert f"replay:  sandbox replay {tmp_path / 'rec'}/*.pcapng" in proc.stdout
    held_to_truth(tmp_path / "rec", tmp_path)


def test_a_scenario_the_rig_cannot_play_is_refused_with_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[leg]]\nname = "a"\nvia = "carrier-pigeon"\ncontent = "telemetry"\n')
    proc = subprocess.run(demo_args(tmp_path, bad), cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=WAIT_S)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "carrier-pigeon" in proc.stderr
    assert not (tmp_path / "rec").exists()


# -- the dashboard while the scenario plays, and a terminal's Ctrl-C --------------------------------


class Terminal:
    """The demo on a pseudo-terminal (so it is interactive); its output gathered as it comes."""

    def __init__(self, args: list[str]) -> None:
        master, slave = pty.openpty()
        self.master = master
        self.proc = subprocess.Popen(args, cwd=REPO, stdin=slave, stdout=slave, stderr=subprocess.PIPE)
        os.close(slave)
        self.text = ""
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.text += chunk.decode(errors="replace").replace("\r\n", "\n")

    def output(self) -> str:
        with self.lock:
            return self.text

    def wait_for(self, pattern: str) -> re.Match:
        deadline = time.monotonic() + WAIT_S
        while (found := re.search(pattern, self.output())) is None:
            if self.proc.poll() is not None:
                pytest.fail(f"the demo exited ({self.proc.returncode}) before {pattern!r}: {self.output()[-3000:]}"
                            f"{self.proc.stderr.read().decode(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {pattern!r} in: {self.output()[-3000:]}")
            time.sleep(0.1)
        return found

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.master)


def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("headless chromium and chromedriver are not installed (make system)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                "--window-size=1600,1400"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def shown(driver) -> list[tuple[str, str, str]]:
    """The findings table's rows: (kind, severity, destination)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    try:
        cells = {col: [e.text for e in driver.find_elements(
            By.CSS_SELECTOR, f"#findings-table tbody td[data-dash-column='{col}']")]
            for col in ("kind", "severity", "destination")}
    except WebDriverException:       # the table re-rendered under us: read it again next time
        return []
    return list(zip(cells["kind"], cells["severity"], cells["destination"], strict=False))


def test_the_dashboard_shows_the_scripted_leaks_while_the_scenario_plays_and_stays_up_until_ctrl_c(tmp_path):
    scenario = REPO / "captures" / "scenarios" / "demo.toml"
    term = Terminal(demo_args(tmp_path, scenario, "--pace", "2", "--port", "0"))
    driver = None
    try:
        url = term.wait_for(r"dashboard: (http://127\.0\.0\.1:\d+/)").group(1)
        driver = browser()
        driver.get(url)
        deadline = time.monotonic() + WAIT_S
        wanted = {"support.vendor.example", "analytics.vendor.example"}     # the bundle, the single read
        while not wanted <= {where for kind, sev, where in shown(driver)
                             if kind in LEAK_KINDS and sev in ("medium", "high", "critical")}:
            assert time.monotonic() < deadline, f"the dashboard never showed {wanted}: {shown(driver)}"
            time.sleep(0.25)
        # the rig showed them while the instrument was still playing: its last leg had not started
        assert "> usb-stick" not in term.output(), term.output()[-3000:]
        assert term.proc.poll() is None
        term.wait_for(r"the dashboard stays up until Ctrl-C")
        driver.refresh()
        deadline = time.monotonic() + WAIT_S
        while not any(kind in LEAK_KINDS and where.startswith("usb ") for kind, _, where in shown(driver)):
            assert time.monotonic() < deadline, f"the USB leak never showed: {shown(driver)}"
            time.sleep(0.25)
        assert term.proc.poll() is None          # up until Ctrl-C ...
        term.proc.send_signal(signal.SIGINT)
        assert term.proc.wait(WAIT_S) == 0       # ... then it ends, the findings having matched the truth
    finally:
        if driver is not None:
            driver.quit()
        term.close()
    assert "the rig found what the scenario says" in term.output()
    held_to_truth(tmp_path / "rec", tmp_path)


# -- namespaces and a transparent rig (root) --------------------------------------------------------


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_netns_plays_every_scenario_through_a_transparent_rig_and_removes_its_namespaces(scenario, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("--netns needs root")
    probe = f"sbx-demo-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"no network namespaces here: {made.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    proc = subprocess.Popen(demo_args(tmp_path, scenario, "--netns", "--no-dash"), cwd=REPO,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=WAIT_S)
    finally:
        proc.kill()
    assert proc.returncode == 0, out[-3000:] + err[-2000:]
    prefix = f"sbx-demo-{proc.pid % 100000}-"
    assert not {ns for ns in namespaces() if ns.startswith(prefix)}
    assert not list(Path("/etc/netns").glob(f"{prefix}*"))
    assert "rig: network tap: transparent redirect" in out
    held_to_truth(tmp_path / "rec", tmp_path)

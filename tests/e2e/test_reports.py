"""Acceptance reports end to end through the real CLI on the demo capture: replay with a profile and
every output format (JSON, JUnit, SARIF, HTML), ``sandbox report`` of the store giving the same
report, the evidence bundle replayed to the same findings; and a live session whose report is taken
while it runs (marked running) and after it ends (the one it wrote)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import jsonschema
import pytest
from junitparser import Failure, JUnitXml, TestSuite

from sandbox.simulate import ensure_demo
from sandbox.simulate.playback import play

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "tests" / "report" / "sarif-schema-2.1.0.json").read_text())
WAIT_S = 120   # generous: a loaded 2-core machine; never a performance assertion
PROFILE = """
name = "demo bench acceptance"
[destinations]
allowed = ["lims.lab.example", "198.51.100.10"]
expected_telemetry = ["lims.lab.example"]
[scope]
channels = ["net"]
[[waiver]]
destination = "10.20.0.1"
kind = "destination"
reason = "bench DNS resolver"
by = "QA"
"""

pytestmark = pytest.mark.e2e


def sandbox(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sandbox.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=WAIT_S, **kw)


def outputs(out: Path, stem: str) -> list[str]:
    return ["--json", str(out / f"{stem}.json"), "--junit", str(out / f"{stem}.xml"), "--sarif",
            str(out / f"{stem}.sarif"), "--html", str(out / f"{stem}.html")]


@pytest.fixture(scope="module")
def demo() -> tuple[Path, Path]:
    return ensure_demo(REPO / "captures" / "demo")


def test_replay_with_a_profile_writes_every_format_and_the_store_rebuilds_it(demo, tmp_path):
    run_dir, capture = demo
    (tmp_path / "profile.toml").write_text(PROFILE)
    done = sandbox("replay", str(capture), "--run", str(run_dir), "--profile", str(tmp_path / "profile.toml"),
                   "--db", str(tmp_path / "store.sqlite"), "--cache-dir", str(tmp_path / "cache"),
                   *outputs(tmp_path, "replay"))
    assert done.returncode == 1, done.stderr[-2000:]
    report = json.loads((tmp_path / "replay.json").read_text())
    assert report["verdict"] == "leak" and report["profile"]["name"] == "demo bench acceptance"
    waived = [f for f in report["findings"] if f["waived"]]
    assert [(f["kind"], f["destination"]) for f in waived] == [("destination", "10.20.0.1")]
    assert all(f["location"]["capture"] == str(capture) for f in report["findings"] if f["kind"] != "destination")

    sarif = json.loads((tmp_path / "replay.sarif").read_text())
    jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(sarif)
    results = sarif["runs"][0]["results"]
    assert len(results) == len(report["findings"]) and sum(1 for r in results if r.get("suppressions")) == 1

    xml = JUnitXml.fromfile(str(tmp_path / "replay.xml"))
    cases = {case.name: case for suite in ([xml] if isinstance(xml, TestSuite) else xml) for case in suite}
    failed = {name for name, case in cases.items() if any(isinstance(r, Failure) for r in case.result)}
    assert failed == {"no run data to unlisted destinations", "no DNS tunnels"}
    html = (tmp_path / "replay.html").read_text()
    assert "demo bench acceptance" in html and html.count("<svg") == 4 and "bench DNS resolver" in html

    again = sandbox("report", "--db", str(tmp_path / "store.sqlite"), *outputs(tmp_path, "again"))
    assert again.returncode == 1, again.stderr[-2000:]
    assert json.loads((tmp_path / "again.json").read_text()) == report
    for ext in ("xml", "sarif"):
        assert (tmp_path / f"again.{ext}").read_text() == (tmp_path / f"replay.{ext}").read_text()

    packed = sandbox("bundle", str(tmp_path / "store.sqlite"), str(tmp_path / "evidence.tar.zst"))
    assert packed.returncode == 0, packed.stderr[-2000:]
    replayed = sandbox("replay", "--bundle", str(tmp_path / "evidence.tar.zst"), "--cache-dir",
                       str(tmp_path / "cache"), *outputs(tmp_path, "bundle"))
    assert replayed.returncode == 1, replayed.stderr[-2000:]
    n = len(report["findings"])
    assert f"bundle: {n} of {n} findings reproduced" in replayed.stdout
    from_bundle = json.loads((tmp_path / "bundle.json").read_text())
    assert [(f["id"], f["waived"]) for f in from_bundle["findings"]] == [(f["id"], f["waived"]) for f in report["findings"]]


def test_report_of_a_live_session_while_it_runs_and_after_it_ends(demo, tmp_path):
    run_dir, capture = demo
    (tmp_path / "profile.toml").write_text(PROFILE)
    live, record = tmp_path / "live.pcapng", tmp_path / "rec"
    proc = subprocess.Popen([sys.executable, "-m", "sandbox.cli", "watch", "--run", str(run_dir), "--follow",
                             str(live), "--record", str(record), "--profile", str(tmp_path / "profile.toml"),
                             "--cache-dir", str(tmp_path / "cache"), "--quiet", *outputs(tmp_path, "live")],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = record / "store.sqlite"           # a live session keeps its store with its recordings
    try:
        deadline = time.monotonic() + WAIT_S
        while not db.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        player = threading.Thread(target=play, args=(capture, live), kwargs={"speed": 10.0})
        player.start()
        player.join()
        running = sandbox("report", "--db", str(db), "--json", str(tmp_path / "running.json"), "--quiet")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=WAIT_S)
    finally:
        proc.kill()
    assert proc.returncode == 1, err[-2000:]
    mid = json.loads((tmp_path / "running.json").read_text())
    assert mid["session"]["state"] == "running" and mid["verdict"] in ("leak", "inconclusive")
    assert running.returncode in (1, 3)
    assert any(n["where"] == "session" for n in mid["not_examined"])
    after = sandbox("report", "--db", str(db), "--json", str(tmp_path / "after.json"), "--quiet")
    assert after.returncode == 1
    wrote = json.loads((tmp_path / "live.json").read_text())
    assert json.loads((tmp_path / "after.json").read_text()) == wrote and wrote["session"]["live"]
    bundled = sandbox("bundle", str(record), str(tmp_path / "live.tar.zst"), "--quiet")
    assert bundled.returncode == 0, bundled.stderr[-2000:]

"""How the live demo follows its instrument: each leg event as it comes, the session's end when the
instrument is done, and a bounded wait for one that hangs or fails."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

from hw.demo import live


def instrument(code: str) -> subprocess.Popen:
    """A stand-in instrument process: says a leg started, then does ``code``."""
    start = json.dumps({"leg": "upload", "event": "start", "detail": "https cloud.example"})
    return subprocess.Popen([sys.executable, "-c", f"import sys, time\nprint({start!r}, flush=True)\n{code}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_an_instrument_that_hangs_is_stopped_after_the_play_timeout_and_said_failed(monkeypatch):
    monkeypatch.setattr(live, "PLAY_TIMEOUT_S", 1.0)
    player, events, heard, stop = instrument("time.sleep(300)"), [], [], threading.Event()
    began = time.monotonic()
    live._follow(player, events, heard.append, stop)
    assert time.monotonic() - began < 120            # not the instrument's 300 s
    assert stop.is_set() and player.returncode is not None
    assert heard == events[:1] and events[0]["event"] == "start"
    assert events[1:] == [{"leg": "instrument", "event": "failed",
                           "detail": "it had not finished its scenario after 1 s: stopped"}]


def test_an_instrument_that_fails_is_said_failed_with_its_last_words():
    player, events, stop = instrument("sys.stderr.write('no route to the proxy\\n'); sys.exit(3)"), [], threading.Event()
    live._follow(player, events, None, stop)
    assert stop.is_set() and player.returncode == 3
    assert events[1:] == [{"leg": "instrument", "event": "failed", "detail": "exited 3: no route to the proxy"}]


def test_a_session_ended_early_stops_the_instrument():
    player, events, stop = instrument("time.sleep(300)"), [], threading.Event()
    stop.set()                                      # Ctrl-C before the first event is read
    began = time.monotonic()
    live._follow(player, events, None, stop)
    assert time.monotonic() - began < 120 and player.returncode is not None
    assert [e["event"] for e in events] == ["start"]


def test_a_demo_whose_tap_cannot_start_says_why_and_exits_2(monkeypatch, tmp_path, capsys):
    """mitmproxy missing: one line and exit 2, not an internal error (the findings feed that never
    started was joined on the way out)."""
    from hw.tap import TapError
    from sandbox import cli

    def no_tap(*args, **kwargs):
        raise TapError("mitmproxy is not installed: run `make setup` (it makes .venv-mitmproxy/)")

    monkeypatch.setattr(live, "run_live", no_tap)
    assert cli.main(["demo", "--record", str(tmp_path / "session"), "--no-dash", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "mitmproxy is not installed" in err and "internal error" not in err

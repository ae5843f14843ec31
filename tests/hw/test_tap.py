"""Every registered tap is a ``Tap``; ``ProcessWatch`` tells a process that ended on its own from
one the tap stopped."""

from __future__ import annotations

import inspect
import subprocess
import sys

from hw.tap import ProcessWatch, Tap
from hw.taps import TAP_MODULES

MEMBERS = [name for name, _ in inspect.getmembers(Tap) if not name.startswith("_")] + ["name"]


def tap_classes() -> list[type]:
    return [cls for module in TAP_MODULES for _, cls in inspect.getmembers(module, inspect.isclass)
            if cls.__module__ == module.__name__ and hasattr(cls, "start") and hasattr(cls, "stop")]


def test_every_tap_module_has_a_tap_with_every_member():
    classes = tap_classes()
    assert {cls.__module__ for cls in classes} == {m.__name__ for m in TAP_MODULES}
    for cls in classes:
        missing = [m for m in ("start", "stop", "failures") if not callable(getattr(cls, m, None))]
        assert not missing, f"{cls.__name__} lacks {missing}"
    assert {"start", "stop", "failures"} <= set(MEMBERS)


def test_a_process_ending_on_its_own_is_a_failure_kept_after_stop():
    watch = ProcessWatch("serial /dev/ttyUSB0:/dev/ttyS0")
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    watch.add("the serial bridge", proc, "nothing was recorded")
    proc.wait()
    failed = watch.check()
    assert failed == [{"where": "serial /dev/ttyUSB0:/dev/ttyS0", "packets": 0, "bytes": 0,
                       "what": "the serial bridge exited with status 3 while the session ran: after that nothing "
                               "was recorded"}]
    watch.stop()
    assert watch.check() == failed


def test_a_process_the_tap_stops_is_no_failure():
    watch = ProcessWatch("net regular")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    watch.add("mitmproxy", proc, "nothing was carried")
    assert watch.check() == []
    watch.stop()
    proc.terminate()
    proc.wait()
    assert watch.check() == []


def test_a_watcher_whose_end_is_the_news_says_what_it_means():
    watch = ProcessWatch("net transparent")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    watch.add("the link watch", proc, "nothing was recorded", ended="the recorded interface eth1 went away")
    proc.wait()
    assert [n["what"] for n in watch.check()] == [
        "the recorded interface eth1 went away while the session ran: after that nothing was recorded"]

"""``sandbox watch --usb``: on this machine (no USB in the kernel) the refusal, and the live session
reading a usbmon recording as it grows (written byte-exactly by our usbmon writer, as dumpcap would
write it), with findings while it runs and the same findings as a replay of the recording."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hw.tap import TapError
from hw.usb import UsbTap
from sandbox.captures.usbwriter import UsbmonWriter
from sandbox.simulate.runfolder import sample_fastqs
from sandbox.simulate.usb import stick_session
from tests.hw.test_watch import REPO, WAIT_S, essence, rows, sandbox, wait_for
from tests.hw.usb.test_usbmon import _root

NO_USB = not Path("/sys/bus/usb").exists()


class PacedUsbmon(UsbmonWriter):
    """A usbmon recording written as dumpcap writes it live: record by record, flushed, over time."""

    def _write(self, record: bytes, t: float) -> None:
        super()._write(record, t)
        self.pcap.flush()
        time.sleep(0.0002)


@pytest.mark.skipif(not NO_USB, reason="this machine's kernel has USB")
def test_watch_usb_on_a_kernel_without_usb_says_why_in_one_line(tmp_path):
    from sandbox.simulate import ensure_demo

    run = ensure_demo(REPO / "captures" / "demo")[0]
    result = subprocess.run([sys.executable, "-m", "sandbox.cli", "watch", "--run", str(run), "--usb", "all",
                             "--record", str(tmp_path / "rec"), "--cache-dir", str(tmp_path / "cache"), "--quiet"],
                            cwd=REPO, capture_output=True, text=True, timeout=WAIT_S)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "this kernel has no USB" in result.stderr


def test_when_dumpcap_cannot_open_usbmon_the_tap_says_why_and_leaves_nothing_running(tmp_path):
    tap = UsbTap("1", root=_root(tmp_path / "root"))
    session = tmp_path / "session"
    session.mkdir()
    with pytest.raises(TapError, match="dumpcap cannot record on usbmon1: ") as err:
        tap.start(session)
    assert "\n" not in str(err.value)
    assert tap.dumpcap is not None and tap.dumpcap.proc.poll() is not None
    assert (session / "usb-inventory.pcapng").exists()


def test_live_usb_findings_while_running_then_the_same_as_replay(tmp_path):
    from sandbox.simulate import ensure_demo

    run = ensure_demo(REPO / "captures" / "demo")[0]
    fastq = next(iter(sample_fastqs(run).values())).read_bytes()
    live, db, report = tmp_path / "usb.pcapng", tmp_path / "store.sqlite", tmp_path / "live.json"
    proc = sandbox("watch", "--run", str(run), "--follow", str(live), "--db", str(db), "--report", str(report),
                   "--record", str(tmp_path / "rec"), "--cache-dir", str(tmp_path / "cache"), "--quiet")
    try:
        wait_for(lambda: rows(db, "SELECT value FROM session WHERE key = 'live'"), "the session to start")

        def write() -> None:
            with PacedUsbmon(live) as w:
                stick_session(w, {"RUN/reads.fastq.gz": fastq}, fat_bits=32, t0=time.time())

        writer = threading.Thread(target=write)
        writer.start()
        wait_for(lambda: rows(db, "SELECT 1 FROM findings WHERE severity_rank >= 3"), "a live high finding")
        writer.join()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=WAIT_S)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    live_report = json.loads(report.read_text())
    replayed = tmp_path / "replay.json"
    again = sandbox("replay", str(live), "--run", str(run), "--report", str(replayed), "--quiet",
                    "--cache-dir", str(tmp_path / "cache"))
    again.communicate(timeout=WAIT_S)
    assert again.returncode == 1
    assert essence(live_report) == essence(json.loads(replayed.read_text()))
    kinds = {(f["kind"], f["channel"], tuple(f["chain"])) for f in live_report["findings"]}
    assert ("run-bytes", "usb", ("usb 1.2", "msc", "scsi WRITE", "fat:/RUN/reads.fastq.gz")) in kinds
    assert ("usb-device", "usb", ("usb 1.2", "new device")) in kinds


def test_a_usb_tap_that_never_started_has_no_failures():
    tap = UsbTap("all")
    assert tap.failures() == []
    tap.stop()
    assert tap.failures() == []

"""The link watch ends, saying why, once the recorded interface is gone or is another one."""

from __future__ import annotations

import socket
import subprocess
import sys

from hw.net.linkwatch import main, watch


def test_a_gone_interface_and_another_of_its_name_end_the_watch():
    assert watch("sbxnosuch0", 7, poll_s=0.01) == "sbxnosuch0 is gone"
    lo = socket.if_nametoindex("lo")
    assert watch("lo", lo + 100, poll_s=0.01) == f"lo is another interface now (index {lo}, was {lo + 100})"


def test_the_watch_runs_while_its_interface_stays():
    proc = subprocess.Popen([sys.executable, "-m", "hw.net.linkwatch", "lo", str(socket.if_nametoindex("lo"))])
    try:
        try:
            proc.wait(1.0)
        except subprocess.TimeoutExpired:
            pass
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_a_bad_call_is_a_usage_error(capsys):
    assert main(["lo"]) == 2 and main(["lo", "one"]) == 2
    assert "usage" in capsys.readouterr().err

"""The CLI as a user meets it: help, bad input (exit 2, one line), real data end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sandbox.cli", *args], capture_output=True, text=True,
                          timeout=300)


def test_help_explains_commands_and_exit_status():
    result = run_cli("--help")
    assert result.returncode == 0
    for word in ("index", "replay", "report", "bundle", "dash", "demo", "exit status"):
        assert word in result.stdout
    replay_help = run_cli("replay", "--help").stdout
    for option in ("--run", "--report", "--json", "--junit", "--sarif", "--profile", "--bundle", "--tls-keylog",
                   "--allow", "--db", "--html"):
        assert option in replay_help
    report_help = run_cli("report", "--help").stdout
    for option in ("--db", "--json", "--junit", "--sarif", "--html", "--profile", "exit status"):
        assert option in report_help
    assert "sha256sum -c" in run_cli("bundle", "--help").stdout


def test_usage_error_exits_2():
    assert run_cli("replay").returncode == 2
    assert run_cli("frobnicate").returncode == 2


def test_missing_capture_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert main(["replay", str(tmp_path / "nope.pcap"), "--run", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope.pcap" in err


@pytest.mark.parametrize("entry", ["lab-pc", "10.0.0.300/24", "!10.0.0.1:http", "link:eth0", "link:"])
def test_an_instrument_entry_of_no_known_form_is_a_usage_error(entry, tmp_path):
    """Once an internal error that ended the replay; a watch must not find out after its capture."""
    (tmp_path / "run").mkdir()
    for command in (["replay", str(tmp_path / "a.pcapng")], ["watch", "--follow", str(tmp_path / "a.pcapng")]):
        result = run_cli(*command, "--run", str(tmp_path / "run"), "--instrument", entry)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines()[-1].endswith(f"{entry!r}: not a CIDR, !CIDR, !ADDR:PORT or link:IFINDEX")
        assert "Traceback" not in result.stderr


def test_missing_run_folder_exit_2(tmp_path, capsys):
    cap = tmp_path / "a.pcap"
    cap.write_bytes(b"")
    assert main(["replay", str(cap), "--run", str(tmp_path / "norun")]) == 2
    assert "norun" in capsys.readouterr().err


def test_not_a_capture_exit_2_and_nothing_written(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    cap = tmp_path / "notes.txt"
    cap.write_text("this is not a capture\n" * 10)
    report = tmp_path / "out.json"
    assert main(["replay", str(cap), "--run", str(tmp_path / "run"), "--report", str(report), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "notes.txt" in err
    assert not report.exists()


def test_every_shared_capture_replays_against_a_real_run(shared_data: Path, tmp_path):
    """Every real capture reads without a crash against a real run folder; the report is well formed."""
    captures = sorted(p for p in (shared_data / "captures").rglob("*")
                      if p.suffix in (".pcap", ".pcapng", ".gz") and "public-traces" not in p.parts)
    assert captures
    run = shared_data / "illumina" / "230825_M04034_0043_000000000-L6NVV"
    for cap in captures:
        report = tmp_path / f"{cap.name}.json"
        result = run_cli("replay", str(cap), "--run", str(run), "--report", str(report), "--quiet",
                         "--cache-dir", str(tmp_path / "cache"))
        assert result.returncode in (0, 1), (cap, result.stderr)
        doc = json.loads(report.read_text())
        assert doc["schema"] == "sandbox.report/1"
        assert doc["captures"][0]["packets"] > 0


@pytest.mark.parametrize("keylog_name", ["illustrated-tls12", "illustrated-tls13"])
def test_tls_keylog_replay_decrypts(shared_data: Path, tmp_path, keylog_name):
    cap = shared_data / "captures" / "tls" / f"{keylog_name}_capture.pcap"
    keylog = shared_data / "captures" / "tls" / f"{keylog_name}_keylog.txt"
    run = shared_data / "illumina" / "230825_M04034_0043_000000000-L6NVV"
    db = tmp_path / "store.sqlite"
    result = run_cli("replay", str(cap), "--run", str(run), "--tls-keylog", str(keylog), "--db", str(db),
                     "--quiet", "--cache-dir", str(tmp_path / "cache"), "--report", str(tmp_path / "r.json"))
    assert result.returncode in (0, 1), result.stderr
    import sqlite3

    rows = sqlite3.connect(db).execute("SELECT decrypted FROM flows WHERE encrypted = 1").fetchall()
    assert rows and all(r[0] == 1 for r in rows)


def test_demo_replay_into_a_store_twice_keeps_one_session(tmp_path):
    from sandbox.simulate import ensure_demo

    run_dir, capture = ensure_demo(Path(__file__).resolve().parents[1] / "captures" / "demo")
    db = tmp_path / "store.sqlite"
    args = ["replay", str(capture), "--run", str(run_dir), "--db", str(db), "--quiet", "--cache-dir",
            str(tmp_path / "cache"), "--report", str(tmp_path / "r.json"), "--junit", str(tmp_path / "r.xml"),
            "--html", str(tmp_path / "r.html")]
    assert main(args) == 1
    import sqlite3

    first = sqlite3.connect(db).execute("SELECT count(*) FROM findings").fetchone()[0]
    assert main(args) == 1
    assert sqlite3.connect(db).execute("SELECT count(*) FROM findings").fetchone()[0] == first > 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["verdict"] == "leak" and len(report["findings"]) == first
    assert (tmp_path / "r.xml").read_text().count("<failure") >= 1
    assert "SUSPECTED LEAK" in (tmp_path / "r.html").read_text()


def test_unknown_link_type_is_inconclusive_not_clean(shared_data: Path, tmp_path):
    """A capture of a link type the core cannot dissect (160, user-defined) must not pass the gate as clean."""
    cap = shared_data / "captures" / "public-traces" / "tcpdump__unsupported-link-type-160.pcap"
    run = shared_data / "illumina" / "230825_M04034_0043_000000000-L6NVV"
    report = tmp_path / "r.json"
    result = run_cli("replay", str(cap), "--run", str(run), "--report", str(report), "--quiet",
                     "--cache-dir", str(tmp_path / "cache"))
    assert result.returncode == 3, result.stderr
    doc = json.loads(report.read_text())
    assert doc["verdict"] == "inconclusive"
    assert doc["not_examined"][0]["what"] == "unknown link type 160" and doc["not_examined"][0]["packets"] > 0

"""``sandbox report --db``: the report a finished session wrote, rebuilt from its store; a running or
interrupted session's report says so and is never clean."""

import json
import os
import subprocess
import sys

from sandbox.cli import main
from sandbox.correlate.opaque import UNREADABLE
from sandbox.model import Finding
from sandbox.report.profile import Profile
from sandbox.report.stored import SESSION_WHERE, figures_from_store, report_from_store
from sandbox.store import Store


def test_report_from_the_store_of_a_finished_session_equals_the_one_it_wrote(demo_session, tmp_path):
    assert main(["report", "--db", str(demo_session / "store.sqlite"), "--json", str(tmp_path / "again.json"),
                 "--quiet"]) == 1
    wrote = json.loads((demo_session / "r.json").read_text())
    again = json.loads((tmp_path / "again.json").read_text())
    assert again == wrote
    assert wrote["session"]["state"] == "finished" and wrote["profile"]["name"] == "demo acceptance"
    located = [f for f in wrote["findings"] if f["location"]]
    assert located and all(f["location"]["byte_offset"] > 0 for f in located)


def test_every_format_from_the_store(demo_session, tmp_path):
    out = [tmp_path / n for n in ("r.json", "r.xml", "r.sarif", "r.html")]
    assert main(["report", "--db", str(demo_session / "store.sqlite"), "--json", str(out[0]), "--junit",
                 str(out[1]), "--sarif", str(out[2]), "--html", str(out[3]), "--quiet"]) == 1
    for path in out:
        assert path.stat().st_mode & 0o077 == 0 and path.stat().st_size > 0
    assert (tmp_path / "r.sarif").read_text() == (demo_session / "r.sarif").read_text()
    assert (tmp_path / "r.xml").read_text() == (demo_session / "r.xml").read_text()


def test_another_profile_re_judges_the_findings(demo_session, tmp_path):
    lenient = tmp_path / "lenient.toml"
    content = ("[[waiver]]\nkind = 'run-bytes'\nreason = 'r'\n[[waiver]]\nkind = 'sequence'\nreason = 'r'\n"
               "[[waiver]]\nkind = 'dns-tunnel'\nreason = 'r'\n")
    lenient.write_text(content)
    # what the opaque upload sent was never read: judged only for what it is, the verdict cannot be clean
    report = report_from_store(demo_session / "store.sqlite", Profile.load(lenient))
    assert report["verdict"] == "inconclusive" and [n["what"] for n in report["not_examined"]] == [UNREADABLE]
    lenient.write_text(content + "[[waiver]]\nkind = 'opaque-volume'\nreason = 'the vendor backup, sealed'\n")
    report = report_from_store(demo_session / "store.sqlite", Profile.load(lenient))
    assert report["verdict"] == "clean" and report["profile"]["source"] == str(lenient)
    assert report["not_examined"] == []
    waived = [f for f in report["findings"] if f["waived"]]
    assert {f["kind"] for f in waived} == {"run-bytes", "sequence", "dns-tunnel", "opaque-volume"}
    # the session's allow-list came from its profile: this one allows less, and the report says so
    assert any("which this profile does not" in n for n in report["notes"])


def _finding(i: int, severity: str) -> Finding:
    return Finding(id=f"f{i}", severity=severity, kind="identifier", channel="net", flow=f"tcp a:{i} > b:80",
                   destination="x.example", t_first=1.0, t_last=2.0)


def test_running_session_is_marked_running_and_never_clean(tmp_path):
    db = tmp_path / "s.sqlite"
    store = Store(db)
    store.set_session(mode="watch", started=10.0, live=True, captures=["live.pcapng"], finished=None,
                      lag_bytes=4096, not_examined=[])
    store.put_capture("live.pcapng", "net", 10, 1000, 0, ["truncated at byte 900"])
    store.put_findings([_finding(1, "medium")])
    try:
        report = report_from_store(db)
    finally:
        store.close()
    assert report["session"]["state"] == "running" and report["verdict"] == "inconclusive"
    blind = [n for n in report["not_examined"] if n["where"] == SESSION_WHERE]
    assert blind[0]["what"].startswith("session still running") and blind[0]["bytes"] == 4096
    assert report["errors"] == [{"where": "live.pcapng", "error": "truncated at byte 900", "count": 1,
                                 "examples": [{"where": "live.pcapng", "error": "truncated at byte 900"}]}]
    # its writer gone (killed), the same store reads as interrupted
    again = report_from_store(db)
    assert again["session"]["state"] == "interrupted" and again["verdict"] == "inconclusive"
    assert "interrupted" in [n for n in again["not_examined"] if n["where"] == SESSION_WHERE][0]["what"]


def test_a_leak_seen_by_a_running_session_is_a_leak(tmp_path):
    db = tmp_path / "s.sqlite"
    store = Store(db)
    store.set_session(mode="watch", started=10.0, captures=[], finished=None)
    store.put_findings([_finding(1, "high")])
    try:
        assert report_from_store(db)["verdict"] == "leak"
    finally:
        store.close()


def test_report_of_a_store_written_by_another_process_while_it_runs(tmp_path):
    """The writer in another process holds the store's lock: the report says running."""
    db = tmp_path / "s.sqlite"
    script = ("import sys, time; from sandbox.store import Store; s = Store(sys.argv[1]); "
              "s.set_session(mode='watch', started=1.0, captures=[], finished=None); print('ready', flush=True); "
              "sys.stdin.readline()")
    proc = subprocess.Popen([sys.executable, "-c", script, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=os.getcwd())
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert main(["report", "--db", str(db), "--json", str(tmp_path / "r.json"), "--quiet"]) == 3
        assert json.loads((tmp_path / "r.json").read_text())["session"]["state"] == "running"
    finally:
        proc.stdin.close()
        proc.wait(30)


def test_bad_stores_are_one_line_exit_2(tmp_path, capsys):
    assert main(["report", "--db", str(tmp_path / "none.sqlite")]) == 2
    (tmp_path / "junk.sqlite").write_bytes(b"not sqlite at all" * 100)
    assert main(["report", "--db", str(tmp_path / "junk.sqlite")]) == 2
    empty = Store(tmp_path / "empty.sqlite")
    empty.close()
    assert main(["report", "--db", str(tmp_path / "empty.sqlite")]) == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[fail]\nseverities = ['nope']")
    assert main(["report", "--db", str(tmp_path / "empty.sqlite"), "--profile", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("sandbox: error: ") for line in err)


def _session_id(target: str) -> str:
    store = Store(target, readonly=True)     # the newest session
    try:
        return store.session_id
    finally:
        store.close()


def test_a_session_of_a_postgresql_store_gives_the_report_and_plots_it_wrote(demo, demo_session, postgres_url,
                                                                              tmp_path):
    run_dir, capture = demo
    common = [str(capture), "--run", str(run_dir), "--db", postgres_url, "--quiet"]
    assert main(["replay", *common, "--profile", str(demo_session / "profile.toml"), "--rig", "bench-1",
                 "--json", str(tmp_path / "wrote.json"), "--html", str(tmp_path / "wrote.html")]) == 1
    ours = _session_id(postgres_url)
    assert main(["replay", *common, "--rig", "bench-2", "--allow", "lims.lab.example"]) == 1   # newer, another rig
    assert main(["report", "--db", postgres_url, "--session", ours, "--json", str(tmp_path / "again.json"),
                 "--html", str(tmp_path / "r.html"), "--quiet"]) == 1
    wrote = json.loads((tmp_path / "wrote.json").read_text())
    assert json.loads((tmp_path / "again.json").read_text()) == wrote
    assert wrote["profile"]["name"] == "demo acceptance" and wrote["runs"][0]["instrument"] == "M07011"
    assert all(f["location"]["byte_offset"] > 0 for f in wrote["findings"] if f["location"])
    # the plots are this session's alone: those of the SQLite store of the same replay
    assert _unnamed(figures_from_store(postgres_url, ours)) == _unnamed(figures_from_store(demo_session / "store.sqlite"))
    for name in ("wrote.html", "r.html"):         # written by the replay, and from the store afterwards
        html = (tmp_path / name).read_text()
        assert "<svg" in html and "No store was kept" not in html
    # without --session: the newest session (bench-2's, judged by the default profile)
    assert main(["report", "--db", postgres_url, "--json", str(tmp_path / "newest.json"), "--quiet"]) == 1
    assert json.loads((tmp_path / "newest.json").read_text())["profile"]["name"] == "default"


def _unnamed(tree):
    """Figures without the session ids their markers carry (each store gave its session its own)."""
    if isinstance(tree, dict):
        return {k: _unnamed(v.rpartition("/")[2] if k == "key" else v) for k, v in tree.items() if k != "session_id"}
    if isinstance(tree, list | tuple):
        return [_unnamed(v) for v in tree]
    return tree


def test_a_postgresql_store_without_that_session_or_a_server_is_one_line_exit_2(postgres_url, capsys):
    assert main(["report", "--db", postgres_url, "--quiet"]) == 2       # an empty database
    assert "cannot read store" in capsys.readouterr().err
    Store(postgres_url, fresh=True, rig="bench-1").close()
    assert main(["report", "--db", postgres_url, "--session", "0" * 32, "--quiet"]) == 2
    assert "holds no session" in capsys.readouterr().err
    assert main(["report", "--db", "postgresql://nobody@127.0.0.1:9/none", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot" in err and len(err.strip().splitlines()) == 1

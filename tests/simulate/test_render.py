"""Scenarios played offline (``sandbox simulate traffic``): the recordings a rig would make, and their
truth; the replay of those recordings says exactly what the truth says, for every shipped scenario."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.cli import main
from sandbox.correlate.opaque import UNREADABLE
from sandbox.simulate.truth import TRUTH_FILE, check, read_truth

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((REPO / "captures" / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_shipped_scenario_replays_to_its_truth(scenario, tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["simulate", "traffic", "--scenario", str(scenario), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"truth: {out / TRUTH_FILE}" in said
    doc, truth = read_truth(out / TRUTH_FILE)
    captures = sorted(out.glob("*.pcapng"))
    assert {p.name for p in captures} == {f"{leg.channel}.pcapng" for leg in truth}
    report = tmp_path / "replay.json"
    code = main(["replay", *map(str, captures), "--run", doc["run"], "--allow-file", str(out / "bench.toml"),
                 "--report", str(report), "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    found = json.loads(report.read_text())
    assert check(truth, found) == []
    assert code == (1 if any(leg.expect for leg in truth) else 0)
    # nothing unexamined but what the sealed legs sent (their opaque uploads)
    assert [n["what"] for n in found.get("not_examined", [])] == [UNREADABLE] * sum(
        "opaque-volume" in leg.expect for leg in truth)


def test_the_same_scenario_gives_the_same_bytes(tmp_path):
    scenario = str(REPO / "captures" / "scenarios" / "demo.toml")
    for name in ("a", "b"):
        assert main(["simulate", "traffic", "--scenario", scenario, "--out", str(tmp_path / name)]) == 0
    for name in ("net.pcapng", "serial.pcapng", "usb.pcapng"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_simulate_run_writes_a_run_folder_and_refuses_bad_numbers(tmp_path, capsys):
    assert main(["simulate", "run", str(tmp_path), "--platform", "novaseq", "--samples", "2", "--reads", "20"]) == 0
    run_dir = Path(capsys.readouterr().out.strip())
    assert (run_dir / "RunInfo.xml").is_file() and run_dir.parent == tmp_path
    assert main(["simulate", "run", str(tmp_path / "x"), "--samples", "0"]) == 2
    assert main(["simulate", "run", str(tmp_path / "x"), "--reads", "99999999"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "--samples 1..24" in err
    assert not (tmp_path / "x").exists()


def test_simulate_traffic_refuses_a_bad_scenario_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[leg]]\nname = "a"\nvia = "https"\nhost = "a.example"\ncontent = "gossip"\n')
    assert main(["simulate", "traffic", "--scenario", str(bad), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "content 'gossip'" in err

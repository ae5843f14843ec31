"""Scenario files: the shipped ones load and cover every way a leg can leave the instrument; a file
that cannot be played is refused in one line naming the file and the leg (a typo never becomes
"expect nothing")."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.simulate.scenario import VIAS, ScenarioError, load_scenario

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "captures" / "scenarios").glob("*.toml"))
GOOD_LEG = 'name = "up"\nvia = "https"\nhost = "x.vendor.example"\ndata = { sample = 1 }\nexpect = ["run-bytes"]\n'


def test_the_shipped_scenarios_load_and_play_every_way_out_among_benign_traffic():
    scenarios = [load_scenario(path) for path in SHIPPED]
    assert {s.name for s in scenarios} >= {"demo", "quiet"}
    vias = set().union(*(s.vias for s in scenarios))
    assert vias == set(VIAS)
    assert {leg.protocol for s in scenarios for leg in s.legs if leg.via == "serial"} >= {"xmodem", "ppp"}
    assert {s.run.platform for s in scenarios} >= {"miseq", "nanopore"}
    quiet = next(s for s in scenarios if s.name == "quiet")
    assert not any(leg.expect for leg in quiet.legs)
    for s in scenarios:
        assert any(leg.content for leg in s.legs), f"{s.name}: no benign traffic around the leaks"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, says", [
    ("[[leg]]\n" + GOOD_LEG + "colour = 1\n", "unknown key 'colour'"),
    ("[[leg]]\n" + GOOD_LEG.replace('"https"', '"pigeon"'), "via 'pigeon'"),
    ("[[leg]]\n" + GOOD_LEG.replace("sample = 1", "sample = 9"), "sample 9 is not in 1..3"),
    ("[[leg]]\n" + GOOD_LEG.replace("sample = 1", 'file = "../../etc/passwd"'), "inside the run folder"),
    ("[[leg]]\n" + GOOD_LEG + 'least = "critical"\nworst = "high"\n', "least critical is above worst high"),
    ("[[leg]]\n" + GOOD_LEG + 'least = "dire"\n', "severity 'dire'"),
    ("[[leg]]\n" + GOOD_LEG.replace('"x.vendor.example"', '"x.example/../y"'), "needs host"),
    ("[[leg]]\n" + GOOD_LEG + "repeat = true\n", "repeat must be a whole number"),
    ('[[leg]]\nname = "m"\nvia = "serial"\nprotocol = "ppp"\ndata = { sample = 1 }\n', "protocol ppp needs host"),
    ("[[leg]]\n" + GOOD_LEG + "[[leg]]\n" + GOOD_LEG, "two legs are named 'up'"),
    ('[[leg]]\nname = "t"\nvia = "https"\nhost = "a.example"\ncontent = "telemetry"\nexpect = ["sequence"]\n',
     "without data cannot expect"),
    ("[run]\nplatform = \"hiseq\"\n[[leg]]\n" + GOOD_LEG, "platform 'hiseq'"),
    ("[run]\nreads = 10000000\n[[leg]]\n" + GOOD_LEG, "reads 1..20000"),
    ('name = "empty"\n', "no [[leg]]"),
    ("[[leg]\n", "not a TOML file"),
])
def test_a_scenario_that_cannot_be_played_is_refused_in_one_line(tmp_path, text, says):
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    message = str(err.value)
    assert says in message and str(path) in message and "\n" not in message


def test_a_missing_scenario_file_is_one_line(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load_scenario(tmp_path / "nope.toml")

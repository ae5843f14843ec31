"""The check of a report against a scenario's truth: each way a report can be wrong is one line."""

from __future__ import annotations

from sandbox.simulate.truth import LegTruth, check, essence, read_truth, write_truth

LEGS = [LegTruth("bundle", "net", "support.vendor.example", ("run-bytes",), "high", "critical", "S1", "S1.fastq.gz"),
        LegTruth("status", "net", "lims.lab.example", worst="info")]


def finding(kind: str, severity: str, destination: str = "support.vendor.example", channel: str = "net",
            samples=("S1",), files=("S1.fastq.gz",)) -> dict:
    return {"kind": kind, "severity": severity, "channel": channel, "destination": destination,
            "samples": list(samples), "files": [{"path": f} for f in files]}


def test_a_report_that_says_what_the_scenario_says_has_no_problem():
    report = {"findings": [finding("run-bytes", "critical"), finding("identifier", "medium")]}
    assert check(LEGS, report) == []


def test_each_difference_is_one_line():
    assert check(LEGS, {"findings": []}) == [
        "bundle: no run-bytes evidence at support.vendor.example (found there: nothing)",
        "bundle: sample S1 not named at support.vendor.example",
        "bundle: file S1.fastq.gz not named at support.vendor.example"]
    assert check(LEGS, {"findings": [finding("run-bytes", "medium")]}) == [
        "bundle: run-bytes at support.vendor.example is medium, expected at least high"]
    assert check(LEGS, {"findings": [finding("run-bytes", "high"), finding("destination", "low", "lims.lab.example")]}) \
        == ["lims.lab.example: destination low is worse than the scenario's info"]
    assert check(LEGS, {"findings": [finding("run-bytes", "high"), finding("destination", "low", "elsewhere.example")]}) \
        == ["no leg went to net elsewhere.example, yet: destination (low)"]
    assert check(LEGS, {"findings": [finding("run-bytes", "high", samples=("S2",))]}) == [
        "bundle: sample S1 not named at support.vendor.example"]


def test_a_finding_on_another_channel_is_not_the_leg_s():
    problems = check(LEGS, {"findings": [finding("run-bytes", "high", channel="usb")]})
    assert problems[0].startswith("bundle: no run-bytes evidence") and "no leg went to usb" in problems[-1]


def test_an_expected_kind_may_be_evidence_of_a_stronger_finding():
    merged = {**finding("sequence", "high"), "evidence_kinds": ["sequence", "run-bytes", "identifier"]}
    assert check(LEGS, {"findings": [merged]}) == []
    assert essence({"findings": [merged]}) != essence({"findings": [finding("sequence", "high")]})


def test_truth_files_round_trip(tmp_path):
    write_truth(tmp_path / "truth.json", "demo", tmp_path, ["lims.lab.example"], LEGS)
    doc, legs = read_truth(tmp_path / "truth.json")
    assert doc["schema"] == "sandbox.truth/1" and doc["allow"] == ["lims.lab.example"] and legs == LEGS


def test_essence_ignores_order_and_what_live_and_replay_may_word_differently():
    a, b = finding("run-bytes", "high"), finding("sequence", "medium")
    assert essence({"findings": [a, b]}) == essence({"findings": [{**b, "chain": ["x"]}, {**a, "t_first": 9.0}]})
    assert essence({"findings": [a]}) != essence({"findings": [{**a, "severity": "critical"}]})

"""JUnit: one test case per acceptance check, read as CI systems read it (junitparser)."""

import xml.etree.ElementTree as ET

from junitparser import Error, Failure, JUnitXml, TestSuite

from sandbox.report import build_report, write_junit
from sandbox.report.checks import CHECKS
from sandbox.report.profile import Profile
from tests.report.conftest import BLIND, CAPS, RUNS, finding


def _cases(path):
    xml = JUnitXml.fromfile(str(path))
    suite = xml if isinstance(xml, TestSuite) else next(iter(xml))
    return suite, {case.name: case for case in suite}


def test_one_case_per_check_and_failures_carry_their_findings(tmp_path):
    report = build_report([finding("critical"), finding("medium", "identifier"), finding("low", "destination")],
                          RUNS, CAPS, errors=[{"where": "tcp x", "error": "bad chunk"}])
    write_junit(report, tmp_path / "r.xml")
    suite, cases = _cases(tmp_path / "r.xml")
    assert len(cases) == len(CHECKS) + 3 and suite.tests == len(cases)
    assert {"no run data to unlisted destinations", "no identifiers out", "no USB mass-storage writes",
            "no DNS tunnels", "no unlisted destinations", "nothing left unexamined"} <= set(cases)
    failure = cases["no run data to unlisted destinations"].result
    assert len(failure) == 1 and isinstance(failure[0], Failure)
    assert "S1_R1.fastq.gz" in failure[0].text and "critical run-bytes" in failure[0].message
    assert cases["no identifiers out"].result == []                  # medium: listed, does not fail
    assert "identifier on net" in cases["no identifiers out"].system_out
    errors = cases["captures and run folders read without errors"].result
    assert isinstance(errors[0], Error) and "bad chunk" in errors[0].text
    assert suite.failures == 1 and suite.errors == 1


def test_inconclusive_is_an_error_of_the_examined_check(tmp_path):
    write_junit(build_report([], RUNS, CAPS, not_examined=BLIND), tmp_path / "r.xml")
    root = ET.parse(tmp_path / "r.xml").getroot()
    errors = root.findall("testcase/error")
    assert root.get("errors") == "1" and errors[0].get("type") == "inconclusive"
    assert "unknown link type 127" in errors[0].text
    props = {p.get("name"): p.get("value") for p in root.findall("properties/property")}
    assert props["verdict"] == "inconclusive" and props["profile"] == "default"


def test_clean_run_passes_every_case(tmp_path):
    write_junit(build_report([], RUNS, CAPS), tmp_path / "r.xml")
    suite, cases = _cases(tmp_path / "r.xml")
    assert suite.failures == 0 and suite.errors == 0 and all(not c.result for c in cases.values())


def test_waived_finding_is_shown_in_its_case_and_does_not_fail_it(tmp_path):
    p = Profile.parse("[[waiver]]\nid = 'critical-run-bytes-net'\nreason = 'QC upload, reviewed'\nby = 'JR'")
    write_junit(build_report([finding("critical")], RUNS, CAPS, profile=p), tmp_path / "r.xml")
    suite, cases = _cases(tmp_path / "r.xml")
    case = cases["no run data to unlisted destinations"]
    assert case.result == [] and "WAIVED (QC upload, reviewed; JR)" in case.system_out
    assert suite.failures == 0

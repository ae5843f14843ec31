"""Reports an acceptance pipeline gates on: JSON (the stable contract), JUnit XML, SARIF, HTML; the
acceptance profile that judges them; evidence bundles (``sandbox.report.bundle``)."""

from sandbox.report.contract import (
    EXIT_CODES,
    SCHEMA,
    VERDICT_WORDS,
    NotExamined,
    build_report,
    exit_code,
    verdict,
    write_json,
)
from sandbox.report.errors import aggregate_errors, flow_errors
from sandbox.report.html import write_html
from sandbox.report.junit import write_junit
from sandbox.report.profile import Profile, ProfileError
from sandbox.report.sarif import write_sarif

__all__ = ["EXIT_CODES", "SCHEMA", "VERDICT_WORDS", "NotExamined", "Profile", "ProfileError", "aggregate_errors",
           "build_report", "exit_code", "flow_errors", "verdict", "write_html", "write_json", "write_junit", "write_sarif"]

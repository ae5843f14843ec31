"""The rig must not leak through the traffic's own strings (issue 7): reads the instrument puts in a
URL path, a Host, a multipart file name, DNS labels, an SNI or a HELO are redacted where findings and
flows leave the core, so the store, every report and the terminal show a marker, never the read."""

from __future__ import annotations

import gzip
import json
import sqlite3
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from sandbox.safetext import marker
from tests.hostile.hostile_names_capture import DNA_RUN, build, junit_failures, replay


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    root = tmp_path_factory.mktemp("sbx-safe-strings-leak")
    hostile = build(root)
    result = replay(hostile, root)
    return hostile, root, result


def _store_texts(path) -> list[str]:
    """Every text value of every column of every table of the store."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return [v for t in tables for row in db.execute(f"SELECT * FROM {t}") for v in row if isinstance(v, str)]
    finally:
        db.close()


def _run_reads(run) -> set[str]:
    reads = set()
    for fq in run.rglob("*.fastq.gz"):
        reads.update(r.decode() for r in gzip.decompress(fq.read_bytes()).split(b"\n")[1::4] if r)
    return reads


def test_replay_of_reads_in_names_exits_1_with_well_formed_reports(replayed):
    _, root, result = replayed
    assert result.returncode == 1, result.stderr.decode(errors="replace")[-2000:]
    report = json.loads((root / "report.json").read_bytes().decode("utf-8"))
    assert report["verdict"] == "leak"
    HTMLParser().feed((root / "report.html").read_bytes().decode("utf-8"))
    assert int(ET.parse(root / "report.xml").getroot().get("failures")) == len(junit_failures(root / "report.xml")) > 0


def test_no_read_reaches_the_store_the_reports_or_the_terminal(replayed):
    hostile, root, result = replayed
    shown = {
        "store": "\n".join(_store_texts(root / "store.sqlite")),
        "json": (root / "report.json").read_text(encoding="utf-8"),
        "html": (root / "report.html").read_text(encoding="utf-8"),
        "junit": (root / "report.xml").read_text(encoding="utf-8"),
        "stdout": result.stdout.decode("utf-8"),
    }
    assert "«redacted" in shown["store"] or "\\u00abredacted" in shown["store"]
    for where, text in shown.items():
        assert not DNA_RUN.search(text), (where, DNA_RUN.search(text).group())
    # nor any read of the run, in any case, whole or in part (its first 24 bases)
    every = "\n".join(shown.values()).upper()
    assert not [r for r in _run_reads(hostile.run) if r[:24] in every]


def test_markers_keep_length_and_hash_so_reviewers_can_correlate(replayed):
    hostile, root, _ = replayed
    report = json.loads((root / "report.json").read_text(encoding="utf-8"))
    chains = {label for f in report["findings"] for label in f["chain"]}
    path_marker = marker(hostile.reads[0], bases=True)
    assert f"http/1.1 POST /u/{path_marker}" in chains
    assert f"{len(hostile.reads[0])} B #" in path_marker
    destinations = {f["destination"] for f in report["findings"]}
    host_hash = marker(hostile.reads[1][:120], bases=True).split("#")[1]
    assert any(d.startswith("«redacted ") and d.endswith(".evil.example") and host_hash in d for d in destinations)
    file_marker = marker(hostile.reads[2], bases=True)
    assert any(label.startswith(f"multipart:file={file_marker}") for label in chains)

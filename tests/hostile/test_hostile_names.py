"""A hostile name crashes the report (issue 7): strings from the traffic are made safe where they
enter the core, so a tar member named with invalid UTF-8 and escapes still gives exit 1 and whole
reports, and no parser or decoder hands on a string that is not."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from sandbox.captures import open_capture
from sandbox.decode import expand
from sandbox.model import Payload
from sandbox.protocols import Dissector
from sandbox.safetext import safe_text
from tests.hostile.hostile_names_capture import DNA_RUN, build, replay, strings_in


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return build(tmp_path_factory.mktemp("sbx-safe-strings-names"))


def _safe(text: str) -> bool:
    return isinstance(text, str) and safe_text(text) == text and text.isprintable()



def test_a_hostile_tar_member_name_does_not_crash_the_report(hostile, tmp_path):
    result = replay(hostile, tmp_path)
    assert result.returncode == 1, result.stderr.decode(errors="replace")[-2000:]
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "leak"
    tar_chains = [" > ".join(f["chain"]) for f in report["findings"] if any("tar:" in c for c in f["chain"])]
    assert tar_chains and all("\\xff\\xfe\\x1b[2J" in c and "\\nverdict: CLEAN" in c for c in tar_chains)
    html = (tmp_path / "report.html").read_bytes().decode("utf-8")  # strict: valid UTF-8
    HTMLParser().feed(html)
    assert "SUSPECTED LEAK" in html and "tar:run/reads\\xff\\xfe" in html
    suite = ET.parse(tmp_path / "report.xml").getroot()
    assert int(suite.get("failures")) >= 1


def test_every_string_from_the_traffic_is_safe_where_it_enters_the_core(hostile):
    dissector = Dissector()
    items = []
    with open_capture(hostile.capture) as capture:
        for segment in capture:
            items.extend(dissector.feed(segment))
    items.extend(dissector.close())
    labels = set()
    for item in items:
        labels.update(item.chain)
        assert _safe(item.destination)
        if isinstance(item, Payload) and item.direction == "out":
            for view in expand(item.data, item.chain).views:
                labels.update(view.chain)
    named = {label.split(":", 1)[0] for label in labels}
    assert {"tar", "multipart"} <= named  # the archive member and the part names were reached
    assert all(_safe(label) for label in labels), [lab for lab in labels if not _safe(lab)]
    flows = list(dissector.flows.values())
    assert {f.app for f in flows} >= {"http/1.1", "dns", "tls", "smtp"}
    for info in flows:
        assert _safe(info.destination)
        assert all(_safe(s) for s in strings_in(info.meta)), info.meta
    shown = [s for info in flows for s in (info.destination, *strings_in(info.meta))] + sorted(labels)
    assert not [s for s in shown if DNA_RUN.search(s)]  # the reads in names are markers already

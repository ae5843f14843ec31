"""The inline SVG plots: well-formed, scaled, escaped, and saying so when there is nothing to draw."""

import xml.etree.ElementTree as ET

from sandbox.report import svg
from sandbox.units import human_bytes

TIMELINE = {"series": {"net a.example": [(100.0, 500), (101.0, 1000)], "other": [(103.0, 10)]}, "bucket_s": 1.0,
            "markers": [{"id": "1", "severity": "high", "kind": "run-bytes", "channel": "net",
                         "destination": "a.example", "t_first": 100.5, "bytes_matched": 300}]}


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)      # well-formed XML: the browser draws it as SVG


def test_timeline_draws_a_step_per_bucket_and_a_marker_per_finding():
    root = parse(svg.timeline(TIMELINE))
    paths = root.findall("path")
    lines = [p for p in paths if p.get("fill") == "none"]
    assert len(lines) == 2 and lines[0].find("title").text == "net a.example"
    assert lines[0].get("d").count("V") == 4        # two buckets: up and down each
    markers = [p for p in paths if p.get("fill") == svg.SEVERITY_COLOURS["high"]]
    assert len(markers) == 1 and "run-bytes → a.example" in markers[0].find("title").text
    assert f">{human_bytes(1000)}/s<" in svg.timeline(TIMELINE)          # the y axis tops at the peak


def test_bars_scale_to_the_largest_and_colour_by_the_allow_list():
    data = {"rows": [{"destination": "big.example", "flows": 2, "bytes_out": 1000, "bytes_in": 0, "allowed": 0},
                     {"destination": "lims.example", "flows": 1, "bytes_out": 250, "bytes_in": 9, "allowed": 1}],
            "total": 5}
    root = parse(svg.destinations(data))
    rects = [r for r in root.iter("rect") if r.get("rx")]
    widths = [float(r.get("width")) for r in rects]
    assert widths[0] == 4 * widths[1] and rects[0].get("fill") == svg.UNLISTED and rects[1].get("fill") == svg.ALLOWED
    assert "3 more destination(s)" in svg.destinations(data)


def test_coverage_is_a_share_of_each_file_up_to_the_whole():
    data = {"files": [{"run_id": "R", "file_path": "a.fastq.gz", "findings": 1, "bytes_matched": 10,
                       "sum_fraction": 1.0, "channels": "net", "destinations": 1},
                      {"run_id": "R", "file_path": "b.fastq.gz", "findings": 1, "bytes_matched": 1,
                       "sum_fraction": 0.25, "channels": "net", "destinations": 1}], "samples": []}
    rects = [r for r in parse(svg.coverage(data)).iter("rect") if r.get("rx")]
    assert float(rects[0].get("width")) == 4 * float(rects[1].get("width"))
    assert "100.0%" in svg.coverage(data)


def test_nothing_to_draw_is_said():
    assert "no outbound traffic recorded" in svg.timeline({"series": {}, "markers": []})
    assert "nothing to show" in svg.destinations({"rows": []}) and "nothing to show" in svg.samples({})


def test_many_rows_are_cut_to_a_page_and_counted():
    rows = [{"sample": f"S{i}", "findings": 1, "bytes_matched": i + 1, "severity": "high", "channels": "net",
             "destinations": 1} for i in range(svg.BAR_ROWS + 7)]
    text = svg.samples({"samples": rows})
    assert text.count("<g>") == svg.BAR_ROWS and "… and 7 more" in text


def test_labels_are_escaped_and_cut():
    evil = "<b onload='x'>" + "y" * 100
    text = svg.destinations({"rows": [{"destination": evil, "flows": 1, "bytes_out": 1, "bytes_in": 0,
                                       "allowed": 0}], "total": 1})
    parse(text)
    assert "<b onload" not in text and "&lt;b onload=&#x27;x&#x27;&gt;" in text and "…" in text

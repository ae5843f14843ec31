"""The timeline figure: outbound bytes per destination over time, findings marked on it.

Built as a plain figure dict: plotly's graph_objects validation costs more than the
query on a large store, and dcc.Graph takes the dict as is.
"""

from __future__ import annotations

from typing import Any

from dashboards.fmt import SEVERITY_COLOURS, human_bytes, iso

SERIES_COLOURS = ("#2563eb", "#059669", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#9333ea", "#475569")
OTHER_COLOUR = "#9ca3af"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


def figure(data: dict[str, Any]) -> dict[str, Any]:
    traces: list[dict[str, Any]] = []
    width = data["bucket_s"]
    for i, (name, points) in enumerate(data["series"].items()):
        colour = OTHER_COLOUR if name == "other" else SERIES_COLOURS[i % len(SERIES_COLOURS)]
        traces.append({
            "type": "scatter", "mode": "lines", "name": name,
            "x": [iso(t) for t, _ in points], "y": [b / width for _, b in points],
            "line": {"width": 1.6, "color": colour, "shape": "hv"},
            "hovertemplate": "%{x}<br>%{y:.0f} B/s<extra>" + name + "</extra>"})
    by_severity: dict[str, list[dict[str, Any]]] = {}
    for m in data["markers"]:
        by_severity.setdefault(m["severity"], []).append(m)
    for severity, marks in by_severity.items():
        colour = SEVERITY_COLOURS.get(severity, SEVERITY_COLOURS["info"])[1]
        traces.append({
            "type": "scatter", "mode": "markers", "yaxis": "y2", "name": f"finding: {severity}",
            "x": [iso(m["t_first"]) for m in marks], "y": [0] * len(marks),
            "customdata": [m.get("key", m["id"]) for m in marks],
            "marker": {"symbol": "triangle-up", "size": 11, "color": colour, "line": {"width": 1, "color": "#111827"}},
            "text": [f"{m['kind']} → {m['destination'] or '-'} ({human_bytes(m['bytes_matched'])})" for m in marks],
            "hovertemplate": "%{x}<br>%{text}<extra>" + severity + "</extra>"})
    layout: dict[str, Any] = {
        "uirevision": "timeline",  # keep the operator's zoom across live refreshes
        "margin": {"l": 60, "r": 10, "t": 10, "b": 40}, "height": 300,
        "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
        "font": {"family": FONT, "size": 12, "color": "#1f2937"},
        "legend": {"orientation": "h", "y": -0.18, "x": 0},
        "xaxis": {"type": "date", "gridcolor": "#eef0f3"},
        "yaxis": {"title": {"text": f"bytes out / s ({width:g} s buckets)"}, "gridcolor": "#eef0f3",
                  "rangemode": "tozero", "domain": [0.12, 1.0]},
        "yaxis2": {"domain": [0.0, 0.08], "visible": False, "range": [-1, 1], "fixedrange": True},
        "hovermode": "closest",
    }
    if not traces:
        layout["annotations"] = [{"text": "no outbound traffic recorded yet", "showarrow": False, "xref": "paper",
                                  "yref": "paper", "x": 0.5, "y": 0.5, "font": {"color": "#6b7280", "size": 14}}]
    return {"data": traces, "layout": layout}

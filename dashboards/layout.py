"""The page skeleton and its stylesheet (inline: no CDN, no web fonts, nothing fetched from outside)."""

from __future__ import annotations

from dash import dash_table, dcc, html

from dashboards.fmt import SEVERITY_COLOURS, SEVERITY_ORDER
from dashboards.queries import PAGE_SIZE

POLL_MS = 1000  # the issue's live budget: new rows within a second or two

CSS = """
:root { --fg:#1f2937; --muted:#6b7280; --line:#e5e7eb; --bg:#f3f4f6; --card:#ffffff; --accent:#1d4ed8; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
       font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header.top { display:flex; align-items:center; gap:16px; padding:10px 20px; background:#111827; color:#f9fafb; }
header.top h1 { font-size:17px; margin:0; font-weight:600; letter-spacing:.2px; }
header.top .store { color:#9ca3af; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:12px; }
header.top .live { margin-left:auto; font-size:12px; color:#9ca3af; }
header.top .live::before { content:""; display:inline-block; width:8px; height:8px; border-radius:50%;
       background:#22c55e; margin-right:6px; vertical-align:middle; }
header.top .live.done::before { background:#9ca3af; }
main { padding:14px 20px 40px; display:flex; flex-direction:column; gap:14px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
.card > h2 { font-size:15px; margin:0 0 10px; font-weight:600; }
h4 { font-size:12px; text-transform:uppercase; letter-spacing:.06em; color:var(--muted); margin:14px 0 6px; }
.banner { display:grid; grid-template-columns: 210px 1.1fr 250px 1.4fr; gap:16px; align-items:stretch; }
.verdict { border-radius:8px; padding:14px; color:#fff; display:flex; flex-direction:column; justify-content:center; }
.verdict.clean { background:#15803d; } .verdict.leak { background:#b91c1c; } .verdict.inconclusive { background:#a16207; }
.verdict-word { font-size:24px; font-weight:700; letter-spacing:.04em; }
.verdict-sub { font-size:12px; opacity:.9; margin-top:4px; }
.label { font-size:11px; text-transform:uppercase; letter-spacing:.06em; color:var(--muted); margin:2px 0 6px; }
.chips { display:flex; flex-wrap:wrap; gap:6px; margin-bottom:10px; }
.chip { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; white-space:nowrap; }
.run { font-size:13px; margin:2px 0; }
.muted { color:var(--muted); font-size:12px; }
.empty { color:var(--muted); padding:18px; text-align:center; border:1px dashed var(--line); border-radius:6px; }
.kv { display:flex; gap:8px; font-size:13px; margin:2px 0; }
.kv .k { color:var(--muted); min-width:90px; flex-shrink:0; }
.kv .v { font-variant-numeric: tabular-nums; word-break: break-all; }
.kvs { display:grid; grid-template-columns: 1fr; }
table.grid { border-collapse:collapse; width:100%; font-size:13px; }
table.grid th { text-align:left; font-weight:600; color:var(--muted); font-size:11px; text-transform:uppercase;
       letter-spacing:.04em; border-bottom:1px solid var(--line); padding:4px 8px; }
table.grid td { border-bottom:1px solid #f1f2f4; padding:4px 8px; font-variant-numeric: tabular-nums; }
table.grid.compact td, table.grid.compact th { padding:2px 6px; }
.good { color:#15803d; } .bad { color:#b91c1c; font-weight:600; }
.ok-tag { color:#15803d; font-size:12px; } .bad-tag { color:#b91c1c; font-weight:700; font-size:12px; }
.filters { display:grid; grid-template-columns: repeat(3, minmax(150px, 1fr)) minmax(180px, 1.2fr) auto;
       gap:8px; margin-bottom:8px; align-items:center; }
.filters input[type=text] { width:100%; padding:7px 9px; border:1px solid #d1d5db; border-radius:4px; font-size:14px; }
.count { color:var(--muted); font-size:12px; white-space:nowrap; }
.findings-row { display:grid; grid-template-columns: minmax(0, 2fr) minmax(380px, 1fr); gap:14px; align-items:start; }
#finding-detail { max-height: 760px; overflow:auto; }
.detail-head { display:flex; gap:10px; align-items:center; flex-wrap:wrap; }
.detail-head .kind { font-weight:600; } .detail-head .dest { color:var(--muted); }
.chain { display:flex; flex-wrap:wrap; gap:4px; align-items:center; }
.chain .step { background:#eef2ff; color:#3730a3; border-radius:4px; padding:1px 7px; font-size:12px;
       font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.chain .sep { color:var(--muted); }
.share { display:flex; align-items:center; gap:6px; min-width:120px; }
.share .bar { height:8px; background:#ef4444; border-radius:2px; min-width:1px; max-width:80px; }
.share { position:relative; }
.idents { display:flex; flex-wrap:wrap; gap:4px; }
.ident { background:#fef3c7; color:#92400e; padding:0 6px; border-radius:3px; font-size:12px; }
.evidence { margin:6px 0; }
.ev-where { font-size:12px; color:var(--muted); }
pre.hex { background:#0f172a; color:#e2e8f0; padding:8px; border-radius:4px; font-size:11px; overflow:auto; margin:4px 0; }
.capture-pos { display:flex; flex-direction:column; gap:3px; margin:4px 0; }
.mono, code.cmd { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:12px; }
code.cmd { background:#f3f4f6; padding:3px 6px; border-radius:4px; user-select: all; }
.channels { display:grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap:14px; align-items:start; }
.channels .net { grid-column: 1 / -1; }
.channels table.grid td { white-space:nowrap; }
.card { min-width:0; overflow-x:auto; }
.fleet-filters { grid-template-columns: repeat(3, minmax(180px, 1fr)) auto; }
.verdict-tag { font-weight:700; font-size:12px; padding:1px 6px; border-radius:4px; color:#fff; }
.verdict-tag.clean { background:#15803d; } .verdict-tag.leak { background:#b91c1c; }
.verdict-tag.inconclusive { background:#a16207; }
.cov { display:grid; grid-template-columns: 1fr 1.6fr; gap:14px; }
@media (max-width: 1200px) { .banner, .findings-row, .channels, .cov { grid-template-columns: 1fr; } }
"""

INDEX = """<!DOCTYPE html>
<html lang="en">
<head>{%metas%}<title>{%title%}</title>{%favicon%}{%css%}<style>""" + CSS + """</style></head>
<body>{%app_entry%}<footer>{%config%}{%scripts%}{%renderer%}</footer></body>
</html>"""

COLUMNS = [
    {"name": "severity", "id": "severity"}, {"name": "rig", "id": "rig"}, {"name": "kind", "id": "kind"},
    {"name": "channel", "id": "channel"},
    {"name": "destination", "id": "destination"}, {"name": "samples", "id": "samples"},
    {"name": "files", "id": "files"}, {"name": "matched", "id": "bytes_matched"},
    {"name": "first (UTC)", "id": "t_first"}, {"name": "last (UTC)", "id": "t_last"},
]
_WIDTHS = {"severity": 72, "rig": 110, "kind": 92, "channel": 62, "destination": 170, "samples": 100, "files": 130,
           "bytes_matched": 72, "t_first": 104, "t_last": 62}
_SEVERITY_STYLES = [
    {"if": {"filter_query": f'{{severity}} = "{s}"', "column_id": "severity"},
     "backgroundColor": SEVERITY_COLOURS[s][1], "color": SEVERITY_COLOURS[s][0], "fontWeight": "600"}
    for s in SEVERITY_ORDER
]


def findings_table() -> dash_table.DataTable:
    return dash_table.DataTable(
        id="findings-table", columns=COLUMNS, data=[],
        page_action="custom", page_current=0, page_size=PAGE_SIZE, page_count=1,
        sort_action="custom", sort_mode="single", sort_by=[],
        cell_selectable=True, style_as_list_view=True,
        style_table={"overflowX": "auto"},
        style_header={"fontWeight": "600", "backgroundColor": "#f9fafb", "color": "#374151",
                      "borderBottom": "1px solid #e5e7eb", "fontSize": "12px"},
        style_cell={"fontFamily": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "fontSize": "13px",
                    "padding": "5px 6px", "textAlign": "left", "overflow": "hidden",
                    "textOverflow": "ellipsis", "cursor": "pointer"},
        style_cell_conditional=[{"if": {"column_id": c}, "maxWidth": f"{w}px", "width": f"{w}px"}
                                for c, w in _WIDTHS.items()],
        style_data_conditional=[
            *_SEVERITY_STYLES,
            {"if": {"state": "active"}, "backgroundColor": "#dbeafe", "border": "1px solid #93c5fd"},
        ],
        tooltip_delay=400, tooltip_duration=None,
    )


def _dropdown(did: str, placeholder: str, options: list[str]) -> dcc.Dropdown:
    return dcc.Dropdown(id=did, options=[{"label": o, "value": o} for o in options], value=[], multi=True,
                        placeholder=placeholder, clearable=True)


def page(store_label: str) -> html.Div:
    return html.Div([
        dcc.Interval(id="tick", interval=POLL_MS, n_intervals=0),
        dcc.Store(id="sig"), dcc.Store(id="sig-slow"), dcc.Store(id="selected"), dcc.Store(id="scope", data={}),
        html.Header([html.H1("Instrument traffic sandbox"), html.Span(store_label, className="store"),
                     html.Span("waiting for data", id="last-update", className="live")], className="top"),
        html.Main([
            # hidden while the store holds one session and nothing is filtered: today's single-session view
            html.Section([
                html.H2("Fleet: every rig's sessions"),
                html.Div([
                    _dropdown("filter-rig", "rig", []),
                    _dropdown("filter-instrument", "instrument", []),
                    _dropdown("filter-session", "session", []),
                    html.Span(id="fleet-count", className="count"),
                ], className="filters fleet-filters"),
                html.Div(id="panel-fleet"),
            ], id="fleet-card", className="card", style={"display": "none"}),
            html.Section(id="banner", className="card banner"),
            html.Div([
                html.Section([
                    html.H2("Findings"),
                    html.Div([
                        _dropdown("filter-severity", "severity", list(SEVERITY_ORDER)),
                        _dropdown("filter-channel", "channel", ["net", "usb", "serial"]),
                        _dropdown("filter-kind", "kind", []),
                        dcc.Input(id="filter-destination", type="text", placeholder="destination contains…",
                                  debounce=True, value=""),
                        html.Span(id="findings-count", className="count"),
                    ], className="filters"),
                    findings_table(),
                ], className="card"),
                html.Section([html.H2("Finding detail"), html.Div(id="finding-detail")], className="card"),
            ], className="findings-row"),
            html.Section([html.H2("Outbound traffic over time"),
                          dcc.Graph(id="timeline", config={"displaylogo": False, "responsive": True},
                                    style={"height": "300px"})], className="card"),
            html.Div([
                html.Section([html.H2("Network destinations"), html.Div(id="panel-net")], className="card net"),
                html.Section([html.H2("USB devices"), html.Div(id="panel-usb")], className="card"),
                html.Section([html.H2("Serial ports"), html.Div(id="panel-serial")], className="card"),
            ], className="channels"),
            html.Section([html.H2("Run coverage: what left the instrument"), html.Div(id="panel-coverage")],
                         className="card"),
        ]),
    ])

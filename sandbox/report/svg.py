"""Inline SVG plots for the HTML report: timeline, destinations, run coverage.

Plain SVG text, no script and no external asset: the report opens on an air-gapped rig and in any
browser.  Every label is escaped here (names come from the traffic and the run folder).  The data is
what the dashboard's queries return (``dashboards.queries.Reader``), so both show the same figures.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

from sandbox.units import human_bytes

SEVERITY_COLOURS = {"critical": "#7f1d1d", "high": "#dc2626", "medium": "#d97706", "low": "#2563eb",
                    "info": "#6b7280"}
SERIES_COLOURS = ("#2563eb", "#059669", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#9333ea", "#475569")
ALLOWED, UNLISTED = "#16a34a", "#ea580c"
WIDTH = 960
BAR_ROWS = 20  # bars per chart: a page, the rest counted below it
LABEL_CHARS = 48  # characters of a label drawn beside a bar (the full one is in its tooltip)
FONT = "font-family='system-ui,sans-serif' font-size='12'"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _cut(text: str, n: int = LABEL_CHARS) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _svg(height: int, body: str, title: str) -> str:
    return (f"<svg role='img' aria-label='{_e(title)}' width='{WIDTH}' "
            f"height='{height}' viewBox='0 0 {WIDTH} {height}' {FONT}><rect width='100%' height='100%' "
            f"fill='#fff'/>{body}</svg>")


def _empty(title: str, text: str) -> str:
    return _svg(60, f"<text x='{WIDTH // 2}' y='35' text-anchor='middle' fill='#6b7280'>{_e(text)}</text>", title)


def _clock(t: float) -> str:
    return dt.datetime.fromtimestamp(float(t), tz=dt.UTC).strftime("%H:%M:%S")


def timeline(data: dict[str, Any]) -> str:
    """Outbound bytes per second per destination (step lines), findings marked under the axis."""
    series = data.get("series") or {}
    markers = data.get("markers") or []
    times = [t for pts in series.values() for t, _ in pts] + [m["t_first"] for m in markers if m.get("t_first")]
    if not times:
        return _empty("timeline", "no outbound traffic recorded")
    width = float(data.get("bucket_s") or 1.0)
    left, right, top, plot_h, height = 70, WIDTH - 10, 10, 220, 310 + 18 * ((len(series) + 2) // 3)
    t0, t1 = min(times), max(max(times), min(times) + width)
    peak = max((b / width for pts in series.values() for _, b in pts), default=1.0) or 1.0

    def x(t: float) -> float:
        return left + (t - t0) / (t1 - t0) * (right - left)

    def y(v: float) -> float:
        return top + plot_h - v / peak * plot_h

    parts = []
    for i in range(5):
        v = peak * i / 4
        parts.append(f"<line x1='{left}' x2='{right}' y1='{y(v):.1f}' y2='{y(v):.1f}' stroke='#eef0f3'/>"
                     f"<text x='{left - 6}' y='{y(v) + 4:.1f}' text-anchor='end' fill='#374151'>"
                     f"{_e(human_bytes(int(v)))}/s</text>")
    for i in range(6):
        t = t0 + (t1 - t0) * i / 5
        parts.append(f"<text x='{x(t):.1f}' y='{top + plot_h + 16}' text-anchor='middle' fill='#374151'>"
                     f"{_clock(t)}</text>")
    for i, (name, pts) in enumerate(series.items()):
        colour = "#9ca3af" if name == "other" else SERIES_COLOURS[i % len(SERIES_COLOURS)]
        zero = y(0)
        path = []
        for t, b in sorted(pts):      # a step per bucket, back to zero between them (no traffic there)
            v = y(b / width)
            path.append(f"{'L' if path else 'M'}{x(t):.1f} {zero:.1f} V{v:.1f} H{x(t + width):.1f} V{zero:.1f}")
        parts.append(f"<path d='{' '.join(path)}' fill='none' stroke='{colour}' stroke-width='1.6'>"
                     f"<title>{_e(name)}</title></path>")
        lx, ly = left + (i % 3) * 300, top + plot_h + 78 + 18 * (i // 3)
        parts.append(f"<rect x='{lx}' y='{ly - 9}' width='12' height='3' fill='{colour}'/>"
                     f"<text x='{lx + 16}' y='{ly - 4}' fill='#111827'>{_e(_cut(name, 40))}</text>")
    base = top + plot_h + 36
    for m in markers:
        if not m.get("t_first"):
            continue
        mx = x(m["t_first"])
        colour = SEVERITY_COLOURS.get(m["severity"], "#000")
        tip = f"{m['severity']} {m['kind']} → {m['destination'] or '-'} ({human_bytes(m['bytes_matched'] or 0)})"
        parts.append(f"<path d='M{mx:.1f} {base - 10} l6 10 h-12 z' fill='{colour}' stroke='#111827' "
                     f"stroke-width='0.5'><title>{_e(tip)}</title></path>")
    parts.append(f"<text x='{left}' y='{base + 14}' fill='#6b7280'>▲ findings (first seen), "
                 f"{width:g} s buckets, UTC</text>")
    return _svg(height, "".join(parts), "timeline of outbound traffic")


def _bars(rows: list[tuple[str, float, str, str, str]], title: str, scale_max: float | None = None) -> str:
    """Horizontal bars: (label, value, colour, value text, tooltip)."""
    if not rows:
        return _empty(title, "nothing to show")
    shown = rows[:BAR_ROWS]
    top_value = scale_max or max(v for _, v, _, _, _ in shown) or 1.0
    label_w, bar_x, bar_w, row_h = 330, 340, WIDTH - 340 - 110, 22
    parts = []
    for i, (label, value, colour, text, tip) in enumerate(shown):
        yy = 8 + i * row_h
        w = max(1.0, value / top_value * bar_w) if value > 0 else 0
        parts.append(f"<g><title>{_e(tip)}</title><text x='{label_w}' y='{yy + 14}' text-anchor='end' "
                     f"fill='#111827'>{_e(_cut(label))}</text><rect x='{bar_x}' y='{yy + 3}' width='{w:.1f}' "
                     f"height='{row_h - 7}' fill='{colour}' rx='2'/><text x='{bar_x + w + 6:.1f}' y='{yy + 14}' "
                     f"fill='#374151'>{_e(text)}</text></g>")
    height = 16 + len(shown) * row_h
    if len(rows) > len(shown):
        parts.append(f"<text x='{bar_x}' y='{height}' fill='#6b7280'>… and {len(rows) - len(shown)} more</text>")
        height += 10
    return _svg(height, "".join(parts), title)


def destinations(data: dict[str, Any]) -> str:
    """Bytes out per network destination; allowed ones green, unlisted ones orange."""
    rows = []
    for r in data.get("rows") or []:
        allowed = bool(r.get("allowed"))
        tip = (f"{r['destination'] or '-'}: {human_bytes(r['bytes_out'] or 0)} out, {human_bytes(r['bytes_in'] or 0)} "
               f"in, {r['flows']} flow(s), {'allowed' if allowed else 'NOT on the allow-list'}; "
               f"addresses {r.get('addrs', '')}; SNI {r.get('sni', '') or '-'}; {r.get('apps', '')}")
        rows.append((r["destination"] or "-", float(r["bytes_out"] or 0), ALLOWED if allowed else UNLISTED,
                     f"{human_bytes(r['bytes_out'] or 0)} · {'allowed' if allowed else 'unlisted'}", tip))
    more = int(data.get("total") or 0) - len(rows)
    if more > 0:
        rows += [("…", 0.0, "#9ca3af", f"{more} more destination(s)", "not listed")]
    return _bars(rows, "bytes out per destination")


def coverage(data: dict[str, Any]) -> str:
    """Share of each run file that left (bars to 100 %), most bytes first."""
    rows = []
    for r in data.get("files") or []:
        share = float(r.get("sum_fraction") or 0.0)
        rows.append((r["file_path"] or "-", share, SEVERITY_COLOURS["high"] if share < 0.5 else
                     SEVERITY_COLOURS["critical"], f"{share:.1%} · {human_bytes(r['bytes_matched'] or 0)}",
                     f"{r['file_path']} ({r['run_id']}): {share:.1%} left, {human_bytes(r['bytes_matched'] or 0)} "
                     f"in {r['findings']} finding(s) over {r['channels']} to {r['destinations']} destination(s)"))
    return _bars(rows, "share of each run file that left", scale_max=1.0)


def samples(data: dict[str, Any]) -> str:
    """Run data matched per sample (reads and file bytes), coloured by the worst finding's severity."""
    rows = [(r["sample"], float(r["bytes_matched"] or 0), SEVERITY_COLOURS.get(r["severity"], "#000"),
             f"{human_bytes(r['bytes_matched'] or 0)} · {r['severity']}",
             f"{r['sample']}: {human_bytes(r['bytes_matched'] or 0)} matched in {r['findings']} finding(s) over "
             f"{r['channels']} to {r['destinations']} destination(s)") for r in data.get("samples") or []]
    return _bars(rows, "run data matched per sample")

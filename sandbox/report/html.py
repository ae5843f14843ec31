"""A self-contained HTML report (no external assets: the rig may be air-gapped).

Every string is made safe first (``safe_tree``: valid UTF-8, no control characters), then escaped.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from sandbox.report.contract import VERDICT_WORDS
from sandbox.report.private import write_private
from sandbox.safetext import safe_tree

COLOURS = {"critical": "#7f1d1d", "high": "#dc2626", "medium": "#d97706", "low": "#2563eb", "info": "#6b7280"}

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#111827;background:#f9fafb}
h1{margin:0 0 .5rem}.verdict{display:inline-block;padding:.4rem 1rem;border-radius:.4rem;color:#fff;
font-weight:700}.leak{background:#dc2626}.clean{background:#16a34a}.inconclusive{background:#a16207}table{border-collapse:collapse;width:100%;
margin:1rem 0;background:#fff}th,td{border:1px solid #e5e7eb;padding:.35rem .5rem;text-align:left;
vertical-align:top;font-size:.9rem}th{background:#f3f4f6}.sev{color:#fff;border-radius:.3rem;padding:0 .4rem}
code{font-size:.85rem}details{margin:.2rem 0}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _times(error: dict[str, Any]) -> str:
    """" (xN)" for an error that happened N > 1 times (see sandbox.report.errors)."""
    count = error.get("count", 1)
    return f" (x{count})" if count > 1 else ""


def _finding_row(f: dict[str, Any]) -> str:
    files = "<br>".join(f"{_e(m['path'])} ({m['bytes_matched']} B, {m['fraction']:.1%})" for m in f["files"])
    evidence = "".join(f"<li><code>{_e(ev)}</code></li>" for ev in f["evidence"][:20])
    return (
        f"<tr><td><span class='sev' style='background:{COLOURS.get(f['severity'], '#000')}'>"
        f"{_e(f['severity'])}</span></td><td>{_e(f['kind'])}</td><td>{_e(f['channel'])}</td>"
        f"<td>{_e(f['destination'])}<br><small>{_e(f['flow'])}</small></td>"
        f"<td>{_e(', '.join(f['samples']))}</td><td>{files}</td><td>{f['bytes_matched']}</td>"
        f"<td>{f['t_first']:.3f} – {f['t_last']:.3f}</td>"
        f"<td><code>{_e(' › '.join(f['chain']))}</code>"
        f"{'<br>ids: ' + _e(', '.join(f['identifiers'])) if f['identifiers'] else ''}"
        f"<details><summary>evidence</summary><ul>{evidence}</ul></details></td></tr>"
    )


def write_html(report: dict[str, Any], path: str | Path) -> None:
    report = safe_tree(report)
    findings = report["findings"]
    rows = "".join(_finding_row(f) for f in findings) or "<tr><td colspan=9>No findings.</td></tr>"
    runs = "".join(
        f"<tr><td>{_e(r['run_id'])}</td><td>{_e(r['path'])}</td><td>{_e(', '.join(r['samples']))}</td></tr>"
        for r in report["runs"]
    )
    caps = "".join(
        f"<tr><td>{_e(c['path'])}</td><td>{c['packets']}</td><td>{c['bytes']}</td></tr>" for c in report["captures"]
    )
    blind = "".join(f"<tr><td>{_e(n['where'])}</td><td>{_e(n['what'])}</td><td>{n['packets']}</td>"
                    f"<td>{n['bytes']}</td></tr>" for n in report.get("not_examined", []))
    errors = "".join(f"<li>{_e(e.get('where', ''))}: {_e(e.get('error', ''))}{_times(e)}</li>"
                     for e in report.get("errors", []))
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>Sandbox report: {_e(report['verdict'])}</title>
<style>{STYLE}</style></head><body>
<h1>Instrument traffic sandbox</h1>
<p><span class="verdict {_e(report['verdict'])}">{VERDICT_WORDS[report['verdict']]}</span>
&nbsp;{len(findings)} finding(s)</p>
<h2>Runs</h2><table><tr><th>run</th><th>path</th><th>samples</th></tr>{runs}</table>
<h2>Captures</h2><table><tr><th>path</th><th>packets</th><th>bytes</th></tr>{caps}</table>
<h2>Findings</h2><table><tr><th>severity</th><th>kind</th><th>channel</th><th>destination</th><th>samples</th>
<th>files</th><th>bytes matched</th><th>time</th><th>chain</th></tr>{rows}</table>
{'<h2>Not examined</h2><table><tr><th>where</th><th>what</th><th>packets</th><th>bytes</th></tr>'
 + blind + '</table>' if blind else ''}
{'<h2>Input errors</h2><ul>' + errors + '</ul>' if errors else ''}
</body></html>"""
    write_private(path, doc)

"""A self-contained HTML report a lab can file: one file, no script, no external asset, opens with no
network (the rig may be air-gapped; a Content-Security-Policy forbids any fetch).

Verdict, the acceptance checks, instrument and run details, the acceptance profile used, plots
(timeline, destinations, run coverage: inline SVG from the store), findings with evidence and decode
chains, capture health and a SHA-256 manifest of the evidence.  Every string is made safe first
(``safe_tree``: valid UTF-8, no control characters), then escaped.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path
from typing import Any

from sandbox.report import svg
from sandbox.report.checks import evaluate
from sandbox.report.contract import VERDICT_WORDS
from sandbox.report.private import write_private
from sandbox.safetext import safe_tree
from sandbox.units import human_bytes

COLOURS = svg.SEVERITY_COLOURS
EVIDENCE_ROWS = 20  # evidence rows shown per finding (the correlator keeps at most as many)
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"  # nothing is ever fetched

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#111827;
background:#f9fafb;padding:0 1rem}h1{margin:0 0 .5rem}h2{margin-top:2rem;border-bottom:2px solid #e5e7eb;
padding-bottom:.2rem}.verdict{display:inline-block;padding:.4rem 1rem;border-radius:.4rem;color:#fff;font-weight:700;
font-size:1.3rem}.leak{background:#dc2626}.clean{background:#16a34a}.inconclusive{background:#a16207}
.state{display:inline-block;padding:.2rem .6rem;border-radius:.3rem;background:#fde68a;margin-left:.5rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0;background:#fff}th,td{border:1px solid #e5e7eb;
padding:.3rem .5rem;text-align:left;vertical-align:top;font-size:.88rem}th{background:#f3f4f6}
.sev{color:#fff;border-radius:.3rem;padding:0 .4rem;font-weight:600}.pass{color:#15803d;font-weight:700}
.fail{color:#b91c1c;font-weight:700}.error{color:#a16207;font-weight:700}code{font-size:.82rem;word-break:break-all}
.chain span{display:inline-block;background:#eef2ff;border:1px solid #c7d2fe;border-radius:.3rem;padding:0 .3rem;
margin:.1rem 0}.chain span+span:before{content:"› ";color:#6b7280}.card{background:#fff;border:1px solid #e5e7eb;
border-left:6px solid #9ca3af;border-radius:.3rem;padding:.6rem .9rem;margin:.8rem 0}.waived{opacity:.75;
border-left-color:#9ca3af!important}.tag{display:inline-block;background:#e5e7eb;border-radius:.3rem;padding:0 .4rem;
margin-left:.3rem;font-size:.8rem}figure{margin:.6rem 0;background:#fff;border:1px solid #e5e7eb;padding:.4rem}
figcaption{color:#374151;font-weight:600;margin-bottom:.3rem}dl{display:grid;grid-template-columns:max-content 1fr;
gap:.1rem 1rem;margin:.3rem 0}dt{color:#6b7280}dd{margin:0}details{margin:.3rem 0}.muted{color:#6b7280}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _times(error: dict[str, Any]) -> str:
    """" (xN)" for an error that happened N > 1 times (see sandbox.report.errors)."""
    count = error.get("count", 1)
    return f" (x{count})" if count > 1 else ""


def _time(t: float | None) -> str:
    if not t:
        return "-"
    stamp = dt.datetime.fromtimestamp(float(t), tz=dt.UTC)
    return stamp.strftime("%Y-%m-%d %H:%M:%S.") + f"{stamp.microsecond // 1000:03d} UTC"


def _table(head: list[str], rows: list[list[str]], empty: str = "none") -> str:
    if not rows:
        return f"<p class='muted'>{_e(empty)}</p>"
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _chip(severity: str) -> str:
    return f"<span class='sev' style='background:{COLOURS.get(severity, '#000')}'>{_e(severity)}</span>"


def _chain(chain: list[str]) -> str:
    return "<span class='chain'>" + "".join(f"<span><code>{_e(c)}</code></span>" for c in chain) + "</span>"


def _checks(report: dict[str, Any]) -> str:
    rows = []
    for r in evaluate(report):
        extra = []
        if r.failing:
            extra.append(f"{len(r.failing)} failing")
        if r.waived:
            extra.append(f"{len(r.waived)} waived")
        if r.findings:
            extra.append(f"{len(r.findings)} finding(s)")
        if r.not_examined:
            extra.append("; ".join(n["what"] for n in r.not_examined))
        if r.errors:
            extra.append(f"{len(r.errors)} input error(s)")
        rows.append([f"<span class='{r.status}'>{r.status.upper()}</span>", _e(r.name), _e(r.description),
                     _e(", ".join(extra) or "-")])
    return _table(["result", "check", "what it asks", "what was found"], rows)


def _runs(report: dict[str, Any]) -> str:
    rows = []
    for r in report["runs"]:
        samples = r.get("samples", [])
        rows.append([_e(r["run_id"]), _e(r.get("platform", "")), _e(r.get("instrument", "") or "-"),
                     _e(r.get("flowcell", "") or "-"), f"<code>{_e(r['path'])}</code>",
                     f"{len(samples)}: {_e(', '.join(samples[:30]))}{' …' if len(samples) > 30 else ''}"])
    return _table(["run", "platform", "instrument", "flowcell", "path", "samples"], rows, "no run folder")


def _profile(report: dict[str, Any]) -> str:
    p = report.get("profile") or {}
    waivers = [[_e(w.get("id") or "-"), _e(w.get("destination") or "-"), _e(w.get("kind") or "-"), _e(w["reason"]),
                _e(w.get("by") or "-"),
                str(sum(1 for f in report["findings"] if (f.get("waived") or {}).get("by") == w.get("by")
                        and (f.get("waived") or {}).get("reason") == w["reason"]))]
               for w in p.get("waivers", [])]
    fail = p.get("fail", {})
    return (f"<dl><dt>profile</dt><dd>{_e(p.get('name', 'default'))}"
            f"{' — ' + _e(p['description']) if p.get('description') else ''}</dd>"
            f"<dt>file</dt><dd><code>{_e(p.get('source') or 'none (DESIGN.md rule)')}</code></dd>"
            f"<dt>SHA-256</dt><dd><code>{_e(p.get('sha256') or '-')}</code></dd>"
            f"<dt>allowed destinations</dt><dd>{_e(', '.join(p.get('allowed', []) + p.get('cli_allowed', [])) or '-')}</dd>"
            f"<dt>expected telemetry</dt><dd>{_e(', '.join(p.get('expected_telemetry', [])) or '-')}</dd>"
            f"<dt>fails the test</dt><dd>severity {_e(' or '.join(fail.get('severities', [])) or '-')}"
            f"{'; kinds ' + _e(', '.join(fail['kinds'])) if fail.get('kinds') else ''}</dd>"
            f"<dt>channels in scope</dt><dd>{_e(', '.join(p.get('channels', [])))}</dd></dl>"
            + (("<h3>Waivers</h3>" + _table(["id", "destination", "kind", "reason", "by", "findings"], waivers))
               if waivers else ""))


def _evidence_row(ev: dict[str, Any]) -> list[str]:
    where = []
    for key in ("view_range", "file_range", "stream_range"):
        if ev.get(key):
            where.append(f"{key.replace('_', ' ')} {ev[key][0]}–{ev[key][1]}")
    what = ", ".join(f"{k} {ev[k]}" for k in ("file", "stream", "identifier", "kmers", "bases", "variants") if ev.get(k))
    return [_chain(ev.get("chain", [])), _e("; ".join(where)), _e(what), f"<code>{_e(ev.get('preview', ''))}</code>"]


def _finding(f: dict[str, Any]) -> str:
    loc = f.get("location") or {}
    at = "-"
    if loc:
        at = f"<code>{_e(loc['capture'])}</code> frame {_e(loc['frame'])}"
        if loc.get("byte_offset") is not None:
            at += f", byte {_e(loc['byte_offset'])} ({_e(loc.get('byte_length'))} B record)"
    waived = f.get("waived")
    tags = "<span class='tag'>fails the test</span>" if f.get("fails") else ""
    if waived:
        tags += f"<span class='tag'>WAIVED: {_e(waived['reason'])} ({_e(waived.get('by') or 'reviewer')})</span>"
    files = "<br>".join(f"<code>{_e(m['path'])}</code> — {_e(human_bytes(m['bytes_matched']))} ({m['fraction']:.1%})"
                        for m in f["files"]) or "-"
    evidence = _table(["decode chain", "where", "what", "redacted preview"],
                      [_evidence_row(ev) for ev in f.get("evidence", [])[:EVIDENCE_ROWS]], "no evidence rows")
    detail = f.get("detail") or {}
    return (f"<div class='card{' waived' if waived else ''}' id='f-{_e(f['id'])}' "
            f"style='border-left-color:{COLOURS.get(f['severity'], '#000')}'>"
            f"<div>{_chip(f['severity'])} <b>{_e(f['kind'])}</b> on {_e(f['channel'])} to "
            f"<b>{_e(f['destination'] or '-')}</b>{tags}</div>"
            f"<dl><dt>flow</dt><dd><code>{_e(f['flow'])}</code></dd><dt>in the capture</dt><dd>{at}</dd>"
            f"<dt>time</dt><dd>{_e(_time(f['t_first']))} – {_e(_time(f['t_last']))}</dd>"
            f"<dt>bytes</dt><dd>{_e(human_bytes(f['bytes_matched']))} of run data matched, "
            f"{_e(human_bytes(f['bytes_out']))} out</dd>"
            f"<dt>samples</dt><dd>{_e(', '.join(f['samples']) or '-')}</dd><dt>run files</dt><dd>{files}</dd>"
            f"<dt>identifiers</dt><dd>{_e(', '.join(f['identifiers']) or '-')}</dd>"
            f"<dt>decode chain</dt><dd>{_chain(f['chain'])}</dd><dt>finding id</dt><dd><code>{_e(f['id'])}</code></dd></dl>"
            f"<details><summary>evidence ({len(f.get('evidence', []))})</summary>{evidence}"
            f"<pre><code>{_e(json.dumps(detail, indent=1, default=str))}</code></pre></details></div>")


def _health(report: dict[str, Any], figures: dict[str, Any]) -> str:
    health = {c["path"]: c for c in figures.get("captures", [])}
    rows = []
    for c in report["captures"]:
        h = health.get(c["path"], {})
        rows.append([f"<code>{_e(c['path'])}</code>", _e(h.get("channel", "-")), _e(c["packets"]),
                     _e(human_bytes(c["bytes"])), _e(c.get("drops", 0)),
                     _e("; ".join(h.get("errors", [])) or "-")])
    out = _table(["capture", "channel", "packets", "bytes", "dropped by the capture", "errors"], rows, "no capture")
    lag = figures.get("lag_bytes")
    if lag:
        out += f"<p>Analysis lag at the last store update: {_e(human_bytes(lag))} recorded, not yet read.</p>"
    blind = [[_e(n["where"]), _e(n["what"]), _e(n["packets"]), _e(human_bytes(n["bytes"]))]
             for n in report.get("not_examined", [])]
    out += "<h3>Not examined</h3>" + _table(["where", "what", "packets", "bytes"], blind,
                                            "everything captured was examined")
    errors = [[_e(e.get("where", "")), _e(e.get("error", "")) + _times(e)] for e in report.get("errors", [])]
    out += "<h3>Input errors</h3>" + _table(["where", "error"], errors, "none")
    if report.get("notes"):
        out += "<h3>Notes</h3><ul>" + "".join(f"<li>{_e(n)}</li>" for n in report["notes"]) + "</ul>"
    return out


def _plots(figures: dict[str, Any]) -> str:
    if not figures:
        return "<p class='muted'>No store was kept for this report: plots are not available.</p>"
    return "".join(f"<figure><figcaption>{_e(caption)}</figcaption>{draw(figures.get(key) or {})}</figure>"
                   for caption, key, draw in (
                       ("Timeline: outbound bytes per destination, findings marked", "timeline", svg.timeline),
                       ("Destinations: bytes out (green allowed, orange unlisted)", "destinations", svg.destinations),
                       ("Run coverage: share of each run file that left", "coverage", svg.coverage),
                       ("Run coverage: run data matched per sample", "coverage", svg.samples)))


def _manifest(manifest: list[dict[str, Any]]) -> str:
    rows = [[_e(m["role"]), f"<code>{_e(m['path'])}</code>", _e(m["bytes"]),
             f"<code>{_e(m['sha256'])}</code>" if m.get("sha256") else f"<b>not readable: {_e(m.get('missing', ''))}</b>"]
            for m in manifest]
    return _table(["evidence", "path", "bytes", "SHA-256"], rows, "no evidence file listed")


def render(report: dict[str, Any], figures: dict[str, Any] | None = None,
           manifest: list[dict[str, Any]] | None = None) -> str:
    report = safe_tree(report)
    figures = safe_tree(figures or {})
    manifest = safe_tree(manifest or [])
    findings = report["findings"]
    session = report.get("session", {})
    state = session.get("state", "finished")
    counts = {s: sum(f["severity"] == s for f in findings) for s in COLOURS}
    waived = sum(1 for f in findings if f.get("waived"))
    rows = "".join(_finding(f) for f in findings) or "<p>No findings.</p>"
    badge = "" if state == "finished" else f"<span class='state'>session {_e(state)}: not final</span>"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>Sandbox report: {_e(report['verdict'])}</title><style>{STYLE}</style></head><body>
<h1>Instrument traffic sandbox — acceptance report</h1>
<p><span class="verdict {_e(report['verdict'])}" id="verdict">{VERDICT_WORDS[report['verdict']]}</span>{badge}</p>
<p>{len(findings)} finding(s): {', '.join(f'{n} {s}' for s, n in counts.items() if n) or 'none'}{f'; {waived} waived' if waived else ''}.
Session: {_e(session.get('mode', 'replay'))}{' (live)' if session.get('live') else ''}, started {_e(_time(session.get('started')))},
{'ended ' + _e(_time(session.get('finished'))) if session.get('finished') else _e(state)}.</p>
<h2>Acceptance checks</h2>{_checks(report)}
<h2>Instrument and run</h2>{_runs(report)}
<h2>Acceptance profile</h2>{_profile(report)}
<h2>Plots</h2>{_plots(figures)}
<h2>Findings</h2>{rows}
<h2>Capture health</h2>{_health(report, figures)}
<h2>Evidence manifest (SHA-256)</h2>{_manifest(manifest)}
<p class="muted">Schema {_e(report['schema'])}. Evidence shows offsets and redacted previews, never run data.</p>
</body></html>"""


def write_html(report: dict[str, Any], path: str | Path, figures: dict[str, Any] | None = None,
               manifest: list[dict[str, Any]] | None = None) -> None:
    """``figures``: the store's plot data (``sandbox.report.stored.figures_from_store``); ``manifest``:
    SHA-256 of the evidence files (``sandbox.report.manifest.evidence_manifest``)."""
    write_private(path, render(report, figures, manifest))

"""Pure render functions: query results in, Dash components out (no callbacks, no SQL)."""

from __future__ import annotations

import json
import time
from typing import Any

from dash import html

from dashboards.fmt import (
    SEVERITY_COLOURS,
    SEVERITY_ORDER,
    clock,
    duration,
    hexdump,
    human_bytes,
    preview_bytes,
    short_clock,
    short_list,
)
from sandbox.report.contract import VERDICT_WORDS

EVIDENCE_SHOWN = 20  # evidence items in the detail view; the report has them all
FILES_SHOWN = 50  # matched files listed per finding


def chip(severity: str, text: str | None = None, **kw: Any) -> html.Span:
    fg, bg = SEVERITY_COLOURS.get(severity, SEVERITY_COLOURS["info"])
    return html.Span(text or severity, className="chip", style={"color": fg, "background": bg}, **kw)


def _kv(label: str, value: Any, vid: str | None = None) -> html.Div:
    props = {"id": vid} if vid else {}
    return html.Div([html.Span(label, className="k"), html.Span(value, className="v", **props)], className="kv")


def _table(header: list[str], rows: list[list[Any]], cls: str = "grid", tid: str | None = None) -> html.Table:
    props = {"id": tid} if tid else {}
    return html.Table(
        [html.Thead(html.Tr([html.Th(h) for h in header])),
         html.Tbody([html.Tr([html.Td(c) for c in row]) for row in rows])],
        className=cls, **props)


def _empty(text: str, eid: str | None = None) -> html.Div:
    return html.Div(text, className="empty", **({"id": eid} if eid else {}))


def _traffic_span(channels: list[dict[str, Any]]) -> list[Any]:
    firsts = [c["t_first"] for c in channels if c.get("t_first") is not None]
    lasts = [c["t_last"] for c in channels if c.get("t_last") is not None]
    if not firsts or not lasts:
        return []
    return [_kv("traffic", f"{duration(max(lasts) - min(firsts))} from {clock(min(firsts))[:19]}")]


# -- verdict banner -------------------------------------------------------------
def banner(summary: dict[str, Any], now: float | None = None) -> list[Any]:
    now = time.time() if now is None else now
    leak = summary["leak"]
    counts = summary["counts"]
    session = summary["session"]
    started, finished = session.get("started"), session.get("finished")
    state = session.get("state", "finished" if finished else "live")
    span = (finished or (now if state == "live" else session.get("heartbeat") or now)) - started if started else None
    word = summary["verdict"]
    blind = session.get("not_examined") or []
    sub = (" · high or critical present" if leak else
           f" · {len(blind)} part(s) not examined" if word == "inconclusive" else "")
    verdict = html.Div(
        [html.Div(VERDICT_WORDS[word], id="verdict-text", className="verdict-word"),
         html.Div(f"{summary['total']:,} finding(s)" + sub, className="verdict-sub",
                  title="; ".join(f"{n['what']} in {n['where']}" for n in blind[:10]))],
        id="verdict", className=f"verdict {word}", **{"data-verdict": word})
    sev = html.Div(
        [chip(s, f"{s} {counts.get(s, 0)}", id=f"count-{s}") for s in SEVERITY_ORDER], className="chips")
    runs = summary["runs"]
    run_items = [
        html.Div([html.B(r["run_id"] or "?"), f" · {r['platform'] or 'run'} · {len(r['samples'])} samples · "
                  f"{r['files'] or 0} files · {human_bytes(r['bytes'])}"], className="run", title=r["path"])
        for r in runs
    ] or [html.Div("no run folder loaded", className="muted")]
    mode = session.get("mode", "session")
    if mode == "fleet":     # several sessions in scope: how many, in which states
        states = session.get("states") or {}
        session_box = html.Div([
            _kv("sessions", f"{session.get('sessions', 0):,}", "session-state"),
            *[_kv(name, f"{states[name]:,}") for name in ("live", "interrupted", "finished", "empty") if states.get(name)],
            *([_kv("first start", clock(started)[:19])] if started else []),
            *_traffic_span(summary.get("channels") or []),
        ], className="session")
    else:
        tags = [_kv(name, session[name], f"session-{name}") for name in ("rig", "instrument") if session.get(name)]
        session_box = html.Div([
            _kv("mode", f"{mode}{'' if state == 'finished' else f' ({state})'}", "session-state"),
            *tags,
            *([_kv("analysis lag", human_bytes(session["lag_bytes"]), "analysis-lag")]
              if state == "live" and session.get("lag_bytes") else []),
            _kv("duration", duration(span), "session-duration"),
            _kv("started", clock(started)[:19]),
            *_traffic_span(summary.get("channels") or []),
        ], className="session")
    health_rows = []
    captures_by_channel: dict[str, dict[str, int]] = {}
    for c in summary["captures"]:
        agg = captures_by_channel.setdefault(c["channel"], {"packets": 0, "bytes": 0, "drops": 0, "errors": 0,
                                                            "files": 0})
        agg["packets"] += c["packets"] or 0
        agg["bytes"] += c["bytes"] or 0
        agg["drops"] += c["drops"] or 0
        agg["errors"] += len(c["errors"])
        agg["files"] += 1
    flows_by_channel = {c["channel"]: c for c in summary["channels"]}
    for channel in sorted(set(captures_by_channel) | set(flows_by_channel)):
        cap = captures_by_channel.get(channel, {})
        fl = flows_by_channel.get(channel, {})
        drops = cap.get("drops", 0)
        health_rows.append([
            channel, f"{cap.get('packets', 0):,}", human_bytes(cap.get("bytes", 0)),
            html.Span(f"{drops:,}", className="bad" if drops else "good"),
            html.Span(str(cap.get("errors", 0)), className="bad" if cap.get("errors") else "good"),
            f"{fl.get('flows', 0):,}", human_bytes(fl.get("bytes_out")),
        ])
    health = (_table(["channel", "packets", "bytes", "drops", "errors", "flows", "out"], health_rows,
                     cls="grid compact", tid="capture-health")
              if health_rows else _empty("no capture recorded yet"))
    return [verdict,
            html.Div([html.Div("Findings by severity", className="label"), sev,
                      html.Div("Runs under test", className="label"), *run_items], className="banner-col"),
            html.Div([html.Div("Session", className="label"), session_box], className="banner-col"),
            html.Div([html.Div("Capture health", className="label"), health], className="banner-col wide")]


# -- findings table rows --------------------------------------------------------
def table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        samples = json.loads(r["samples"] or "[]")
        files = json.loads(r["files"] or "[]")
        names = [f["path"].rsplit("/", 1)[-1] for f in files]
        out.append({
            "id": r.get("key", r["id"]), "severity": r["severity"], "kind": r["kind"], "channel": r["channel"],
            "rig": " · ".join(t for t in (r.get("rig"), r.get("instrument")) if t) or "-",
            "destination": r["destination"] or "-", "samples": short_list(samples, 2),
            "files": f"{len(files)}: {short_list(names, 1)}" if files else "",
            "bytes_matched": human_bytes(r["bytes_matched"]),
            "t_first": short_clock(r["t_first"]), "t_last": short_clock(r["t_last"])[-8:],
        })
    return out


def table_tooltips(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Full destination, samples and file list on hover: the cells are cut to fit the table."""
    out = []
    for r in rows:
        files = json.loads(r["files"] or "[]")
        out.append({
            "destination": {"value": r["destination"] or "-", "type": "text"},
            "samples": {"value": ", ".join(json.loads(r["samples"] or "[]")[:20]) or "-", "type": "text"},
            "files": {"value": "\n".join(f"{f['path']} ({(f.get('fraction') or 0) * 100:.1f}%)" for f in files[:20])
                      or "-", "type": "text"},
        })
    return out


# -- finding detail -------------------------------------------------------------
def _capture_position(finding: dict[str, Any], flow: dict[str, Any] | None) -> list[Any]:
    """Capture path + frame from the evidence (or the flow meta) and the command that opens it."""
    meta = (flow or {}).get("meta", {})
    spots = []
    for ev in finding["evidence"]:
        if isinstance(ev, dict) and ev.get("capture") and ev.get("frame"):
            spots.append((str(ev["capture"]), int(ev["frame"])))
    if not spots and meta.get("capture"):
        frame = meta.get("frame") or meta.get("frame_first") or 1
        spots.append((str(meta["capture"]), int(frame)))
    if not spots:
        return [html.Div("no capture position recorded for this finding", className="muted")]
    out = []
    for path, frame in list(dict.fromkeys(spots))[:5]:
        cmd = f"wireshark -r '{path}' -g {frame}"
        out.append(html.Div([
            html.Span(f"{path} · frame {frame}", className="mono"),
            html.Code(cmd, className="cmd"),
        ], className="capture-pos"))
    return out


def _flow_meta(flow: dict[str, Any] | None, finding: dict[str, Any]) -> html.Div:
    if flow is None:
        return html.Div([_kv("flow", finding["flow"] or "-"), html.Div("flow not in the store yet", className="muted")])
    meta = flow["meta"]
    items = [_kv("flow", flow["flow"]), _kv("app", flow["app"] or "-"),
             _kv("destination", flow["destination"] or flow["dst"]),
             _kv("bytes out / in", f"{human_bytes(flow['bytes_out'])} / {human_bytes(flow['bytes_in'])}"),
             _kv("packets", f"{flow['packets'] or 0:,}"),
             _kv("TLS", "decrypted" if flow["decrypted"] else ("encrypted" if flow["encrypted"] else "no")),
             _kv("allow-listed", "yes" if flow["allowed"] else "no")]
    labels = {"sni": "SNI", "host": "HTTP host", "method": "HTTP method", "path": "HTTP path",
              "user_agent": "user agent", "vid": "USB VID", "pid": "USB PID", "usb_class": "USB class",
              "device": "USB device", "product": "product", "port": "serial port", "baud": "baud"}
    for key, label in labels.items():
        if meta.get(key) not in (None, ""):
            items.append(_kv(label, str(meta[key])))
    rest = {k: v for k, v in meta.items() if k not in labels and k not in ("capture", "frame", "frame_first")}
    for key, value in list(rest.items())[:10]:
        items.append(_kv(key, str(value)[:120]))
    if flow["errors"]:
        items.append(_kv("errors", "; ".join(flow["errors"][:3])))
    return html.Div(items, className="kvs")


def _evidence(finding: dict[str, Any]) -> list[Any]:
    out = []
    for ev in finding["evidence"][:EVIDENCE_SHOWN]:
        if not isinstance(ev, dict):
            out.append(html.Div(str(ev)[:200], className="mono"))
            continue
        where = [f"{k} {ev[k]}" for k in ("kind", "direction", "stream_offset", "offset", "length", "file",
                                          "file_offset", "frame") if ev.get(k) not in (None, "")]
        data = preview_bytes(ev)
        base = int(ev.get("stream_offset") or ev.get("offset") or 0)
        out.append(html.Div([
            html.Div(" · ".join(where) or "evidence", className="ev-where"),
            html.Pre(hexdump(data, base), className="hex") if data else None,
        ], className="evidence"))
    if len(finding["evidence"]) > EVIDENCE_SHOWN:
        out.append(html.Div(f"+{len(finding['evidence']) - EVIDENCE_SHOWN} more in the report", className="muted"))
    return out or [html.Div("no byte evidence (metadata or volume finding)", className="muted")]


def detail(finding: dict[str, Any] | None, flow: dict[str, Any] | None) -> list[Any]:
    if finding is None:
        return [_empty("Select a finding in the table to see its decode chain, matched files and evidence.",
                       "detail-empty")]
    chain = html.Div(
        [x for i, step in enumerate(finding["chain"]) for x in ((html.Span("›", className="sep"),) if i else ())
         + (html.Span(step, className="step"),)],
        className="chain", id="detail-chain")
    files = [
        [f["path"], human_bytes(f.get("bytes_matched")),
         html.Div([html.Div(style={"width": f"{min(1.0, f.get('fraction') or 0) * 100:.1f}%"}, className="bar"),
                   html.Span(f"{(f.get('fraction') or 0) * 100:.1f}%")], className="share")]
        for f in finding["files"][:FILES_SHOWN]
    ]
    return [
        html.Div([chip(finding["severity"]), html.Span(finding["kind"], className="kind"),
                  html.Span(f"{finding['channel']} → {finding['destination'] or '-'}", className="dest")],
                 className="detail-head"),
        html.Div([_kv("id", finding["id"]), _kv("run", finding["run_id"] or "-"),
                  _kv("first / last", f"{clock(finding['t_first'])} / {clock(finding['t_last'])}"),
                  _kv("bytes out / matched",
                      f"{human_bytes(finding['bytes_out'])} / {human_bytes(finding['bytes_matched'])}")],
                 className="kvs"),
        html.H4("Decode chain"), chain,
        html.H4("Matched files"),
        _table(["file", "matched", "share of file"], files, tid="detail-files") if files
        else html.Div("no run file matched", className="muted"),
        html.H4("Samples and identifiers"),
        html.Div([chip("info", s) for s in finding["samples"]] or [html.Span("-", className="muted")],
                 className="chips", id="detail-samples"),
        html.Div([html.Code(i, className="ident") for i in finding["identifiers"][:30]], className="idents"),
        html.H4("Evidence"), *_evidence(finding),
        html.H4("Flow"), _flow_meta(flow, finding),
        html.H4("Capture position"), *_capture_position(finding, flow),
    ]


# -- fleet ----------------------------------------------------------------------
STATE_CLASS = {"live": "good", "interrupted": "bad"}


def fleet_panel(sessions: list[dict[str, Any]]) -> list[Any]:
    """Every session in scope: its rig and instrument, state, verdict and findings by severity."""
    if not sessions:
        return [_empty("no session in the store matches", "fleet-empty")]
    rows = [
        [s["rig"] or "-", s["instrument"] or "-",
         html.Span(f"{clock(s['started'] or s['created'])[:16]} · {s['session_id'][:8]}", className="mono",
                   title=s["session_id"]),
         s["mode"] or "-", html.Span(s["state"], className=STATE_CLASS.get(s["state"], "")),
         html.Span(VERDICT_WORDS[s["verdict"]], className=f"verdict-tag {s['verdict']}",
                   title=f"judged under the acceptance profile {s.get('profile') or 'default'}",
                   **{"data-verdict": s["verdict"]}),
         *[str(s["counts"][sev]) for sev in ("critical", "high", "medium", "low")], f"{s['total']:,}"]
        for s in sessions
    ]
    return [_table(["rig", "instrument", "session", "mode", "state", "verdict", "crit.", "high", "med.", "low",
                    "findings"], rows, cls="grid compact", tid="fleet-table")]


# -- channel panels -------------------------------------------------------------
def network_panel(data: dict[str, Any]) -> list[Any]:
    rows = [
        [r["destination"] or "-", r["sni"] or "-", r["addrs"][:60], f"{r['flows']:,}",
         human_bytes(r["bytes_out"]), human_bytes(r["bytes_in"]),
         html.Span("allow-listed", className="ok-tag") if r["allowed"] else html.Span("NOT LISTED", className="bad-tag")]
        for r in data["rows"]
    ]
    if not rows:
        return [_empty("no network traffic captured")]
    more = data["total"] - len(rows)
    return [_table(["host", "SNI", "addresses", "flows", "out", "in", "allow-list"], rows, tid="net-table"),
            html.Div(f"+{more:,} more destinations (unlisted and largest shown first)", className="muted")
            if more > 0 else None]


def _hex16(v: Any) -> str:
    return f"{v:04x}" if isinstance(v, int) else str(v)


def _usb_id(meta: dict[str, Any]) -> str:
    vid, pid = meta.get("vid", meta.get("idVendor")), meta.get("pid", meta.get("idProduct"))
    if vid is None or pid is None:
        return meta.get("vid_pid", "-")
    return f"{_hex16(vid)}:{_hex16(pid)}"


def _severities(counts: dict[str, int]) -> Any:
    """Findings on a device, worst first: ``2 critical, 1 medium``."""
    if not counts:
        return "-"
    order = [sev for sev in SEVERITY_ORDER if sev in counts]
    return html.Span([chip(sev, f"{counts[sev]} {sev}") for sev in order], className="sev-counts")


def usb_panel(rows: list[dict[str, Any]]) -> list[Any]:
    if not rows:
        return [_empty("no USB traffic captured", "usb-empty")]
    body = []
    for r in rows:
        meta = r["meta"]
        name = r["destination"]
        device = html.Span([name, html.Span(" new", className="bad-tag")]) if r["new"] else name
        files = short_list([f.get("name", "") for f in meta.get("files") or []])
        carried = f"{r['inner']:,} network flows" if r["inner"] else (files if files else "-")
        body.append([device, _usb_id(meta), str(meta.get("usb_class", meta.get("class", "-"))),
                     str(meta.get("product", "-")), f"{r['transfers'] or 0:,}", human_bytes(r["bytes_out"]),
                     human_bytes(r["bytes_in"]), carried, _severities(r["findings"])])
    return [_table(["device", "VID:PID", "class", "product", "transfers", "bytes out", "bytes in", "carried",
                    "findings"], body, tid="usb-table")]


def _gaps(meta: dict[str, Any]) -> Any:
    """A line's unplug gaps: how many, how long, and which side is out right now."""
    down = meta.get("down") or {}
    count = meta.get("gap_count", 0)
    if not count:
        return "-"
    text = f"{count} gap{'s' if count > 1 else ''}, {duration(meta.get('gap_seconds', 0.0))}"
    if down:
        return html.Span(f"{text}; {', '.join(sorted(down))} unplugged now", className="bad-tag")
    return text


def serial_panel(rows: list[dict[str, Any]]) -> list[Any]:
    if not rows:
        return [_empty("no serial traffic captured", "serial-empty")]
    body = [[r["destination"], str(r["meta"].get("instrument", "-")),
             str(r["meta"].get("settings") or r["meta"].get("baud", "-")), f"{r['transfers'] or 0:,}",
             human_bytes(r["bytes_out"]), human_bytes(r["bytes_in"]),
             duration((r["t_last"] or 0) - (r["t_first"] or 0)), _gaps(r["meta"]),
             short_list([f.get("name") or f.get("protocol", "") for f in r["meta"].get("files") or []])]
            for r in rows]
    return [_table(["port", "instrument", "settings", "transfers", "out", "in", "active", "gaps", "files"], body,
                   tid="serial-table")]


# -- run coverage ---------------------------------------------------------------
def coverage_panel(data: dict[str, Any]) -> list[Any]:
    runs = [
        html.Div([html.B(r["run_id"]), f": {len(r['leaked'])} of {r['samples']} samples seen leaving",
                  html.Span(f" ({short_list(r['leaked'], 6)})" if r["leaked"] else "", className="muted")],
                 className="run")
        for r in data["runs"]
    ]
    samples = [[s["sample"], chip(s["severity"]), f"{s['findings']:,}", human_bytes(s["bytes_matched"]),
                s["channels"] or "-", f"{s['destinations']:,}"] for s in data["samples"]]
    files = [
        [f["file_path"], f"{f['findings']:,}", human_bytes(f["bytes_matched"]),
         html.Div([html.Div(style={"width": f"{min(1.0, f['max_fraction'] or 0) * 100:.1f}%"}, className="bar"),
                   html.Span(f"{(f['max_fraction'] or 0) * 100:.1f}%")], className="share"),
         f["channels"] or "-", f"{f['destinations']:,}"]
        for f in data["files"]
    ]
    if not samples and not files:
        return [*runs, _empty("no run data seen leaving the instrument", "coverage-empty")]
    return [
        *runs,
        html.Div([
            html.Div([html.H4("Samples"), _table(["sample", "worst", "findings", "matched", "channels", "dest."],
                                                 samples, tid="coverage-samples")], className="cov-col"),
            html.Div([html.H4("Files"), _table(["file", "findings", "matched", "largest share", "channels",
                                                "dest."], files, tid="coverage-files")], className="cov-col wide"),
        ], className="cov"),
    ]

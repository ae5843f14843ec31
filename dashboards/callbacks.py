"""Callbacks: a 1 s poll of a cheap store token drives every refresh; the rest is paged SQL.

The fleet filters (rig, instrument, session) make a ``Scope`` every panel is drawn over; with none
picked the panels show the whole store (a SQLite file's one session: today's view).
"""

from __future__ import annotations

import time
from typing import Any

from dash import Dash, Input, Output, State, ctx, no_update

from dashboards import panels, timeline
from dashboards.fmt import clock
from dashboards.queries import PAGE_SIZE, FindingFilter, Reader, Scope

FILTER_INPUTS = [Input("filter-severity", "value"), Input("filter-channel", "value"),
                 Input("filter-kind", "value"), Input("filter-destination", "value")]
SCOPE_INPUTS = [Input("filter-rig", "value"), Input("filter-instrument", "value"), Input("filter-session", "value")]
HIDDEN = {"display": "none"}


def _filter(severities: list[str] | None, channels: list[str] | None, kinds: list[str] | None,
            destination: str | None) -> FindingFilter:
    return FindingFilter(tuple(severities or ()), tuple(channels or ()), tuple(kinds or ()), destination or "")


def _scope(data: dict | None) -> Scope:
    data = data or {}
    return Scope(tuple(data.get("rigs") or ()), tuple(data.get("instruments") or ()), tuple(data.get("sessions") or ()))


def _sig_of(slow: dict | None) -> str | None:
    return slow.get("sig") if slow else None


def _options(values: list[str]) -> list[dict[str, str]]:
    return [{"label": v, "value": v} for v in values]


def register(app: Dash, reader: Reader) -> None:
    @app.callback(Output("sig", "data"), Output("sig-slow", "data"), Input("tick", "n_intervals"),
                  State("sig", "data"), State("sig-slow", "data"))
    def poll(_n: int, current: str | None, slow: dict | None) -> tuple:
        """Fast panels follow every store commit; heavy ones follow at a pace the store size allows."""
        sig = reader.pulse()
        now = time.time()
        if slow is None:  # first the verdict and the findings page, the heavy panels one poll later
            due = current is not None
        else:
            due = slow.get("sig") != sig and now - slow.get("t", 0) >= reader.slow_interval()
        return (no_update if sig == current else sig), ({"sig": sig, "t": now} if due else no_update)

    @app.callback(Output("scope", "data"), *SCOPE_INPUTS, prevent_initial_call=True)
    def pick_scope(rigs: list | None, instruments: list | None, sessions: list | None) -> dict:
        return {"rigs": rigs or [], "instruments": instruments or [], "sessions": sessions or []}

    @app.callback(Output("fleet-card", "style"), Output("panel-fleet", "children"), Output("fleet-count", "children"),
                  Output("filter-rig", "options"), Output("filter-instrument", "options"),
                  Output("filter-session", "options"), Input("sig", "data"), Input("scope", "data"),
                  prevent_initial_call=True)
    def refresh_fleet(_sig: str | None, scope: dict | None) -> tuple:
        """The fleet card: every session in scope with its verdict; hidden for a one-session store."""
        options = reader.fleet_options()
        scoped = _scope(scope)
        if len(options["sessions"]) <= 1 and scoped == Scope():
            return HIDDEN, [], "", no_update, no_update, no_update
        sessions = reader.sessions(scoped)
        live = sum(s["state"] == "live" for s in sessions)
        session_options = [
            {"label": f"{s['rig'] or '?'} · {s['instrument'] or '?'} · {clock(s['created'])[:16]} · {s['session_id'][:8]}",
             "value": s["session_id"]} for s in options["sessions"]]
        return ({}, panels.fleet_panel(sessions), f"{len(sessions):,} session(s), {live} live",
                _options(options["rigs"]), _options(options["instruments"]), session_options)

    @app.callback(Output("banner", "children"), Output("last-update", "children"),
                  Output("last-update", "className"), Output("filter-kind", "options"), Input("sig", "data"),
                  Input("sig-slow", "data"), Input("scope", "data"), prevent_initial_call=True)
    def refresh_banner(_sig: str | None, slow: dict | None, scope: dict | None) -> tuple:
        scoped = _scope(scope)
        summary = reader.summary(scoped)
        # Flow totals scan the flows table: they wait for the slow pace like the other heavy panels.
        summary["channels"] = (reader.cached(f"flow_totals:{scoped.key}", _sig_of(slow),
                                             lambda: reader.flow_totals(scoped)) if slow else [])
        kinds = reader.cached(f"filter_options:{scoped.key}", _sig_of(slow),
                              lambda: reader.filter_options(scoped))["kinds"]
        stamp = time.strftime("%H:%M:%S", time.gmtime())
        states = summary["session"].get("states") or {}
        if summary["session"].get("finished") or (states and not states.get("live")):
            status, cls = f"session finished · read {stamp} UTC", "live done"
        else:
            status, cls = f"live · updated {stamp} UTC", "live"
        return panels.banner(summary), status, cls, [{"label": k, "value": k} for k in kinds]

    @app.callback(Output("findings-table", "page_current"), *FILTER_INPUTS, Input("scope", "data"),
                  prevent_initial_call=True)
    def first_page(*_filters: Any) -> int:
        return 0

    @app.callback(Output("findings-table", "data"), Output("findings-table", "page_count"),
                  Output("findings-count", "children"), Output("findings-table", "tooltip_data"),
                  Input("sig", "data"), Input("findings-table", "page_current"),
                  Input("findings-table", "sort_by"), *FILTER_INPUTS, Input("scope", "data"),
                  prevent_initial_call=True)
    def refresh_table(_sig: str | None, page: int | None, sort_by: list | None, severities: list | None,
                      channels: list | None, kinds: list | None, destination: str | None,
                      scope: dict | None) -> tuple:
        flt = _filter(severities, channels, kinds, destination)
        rows, total = reader.findings_page(flt, sort_by, page or 0, PAGE_SIZE, scope=_scope(scope))
        pages = max(1, -(-total // PAGE_SIZE))
        return panels.table_rows(rows), pages, f"{total:,} finding(s)", panels.table_tooltips(rows)

    @app.callback(Output("selected", "data"), Input("findings-table", "active_cell"),
                  Input("timeline", "clickData"), prevent_initial_call=True)
    def select(cell: dict | None, click: dict | None) -> Any:
        if ctx.triggered_id == "timeline":
            points = (click or {}).get("points") or []
            return points[0].get("customdata") if points and points[0].get("customdata") else no_update
        return cell.get("row_id") if cell and cell.get("row_id") else no_update

    @app.callback(Output("finding-detail", "children"), Input("selected", "data"), Input("sig", "data"),
                  prevent_initial_call=True)
    def show_detail(key: str | None, _sig: str | None) -> list:
        finding = reader.finding(key) if key else None
        flow = reader.flow(finding["flow"], finding["session_id"]) if finding and finding["flow"] else None
        return panels.detail(finding, flow)

    @app.callback(Output("timeline", "figure"), Input("sig-slow", "data"), Input("scope", "data"),
                  prevent_initial_call=True)
    def refresh_timeline(slow: dict | None, scope: dict | None) -> Any:
        scoped = _scope(scope)
        return timeline.figure(reader.cached(f"timeline:{scoped.key}", _sig_of(slow), lambda: reader.timeline(scoped)))

    @app.callback(Output("panel-net", "children"), Output("panel-usb", "children"),
                  Output("panel-serial", "children"), Input("sig-slow", "data"), Input("scope", "data"),
                  prevent_initial_call=True)
    def refresh_channels(slow: dict | None, scope: dict | None) -> tuple:
        sig, scoped = _sig_of(slow), _scope(scope)
        return (panels.network_panel(reader.cached(f"net:{scoped.key}", sig, lambda: reader.destinations(scoped))),
                panels.usb_panel(reader.cached(f"usb:{scoped.key}", sig, lambda: reader.usb_devices(scoped))),
                panels.serial_panel(reader.cached(f"serial:{scoped.key}", sig,
                                                  lambda: reader.devices("serial", scoped))))

    @app.callback(Output("panel-coverage", "children"), Input("sig-slow", "data"), Input("scope", "data"),
                  prevent_initial_call=True)
    def refresh_coverage(slow: dict | None, scope: dict | None) -> list:
        scoped = _scope(scope)
        return panels.coverage_panel(reader.cached(f"coverage:{scoped.key}", _sig_of(slow),
                                                   lambda: reader.coverage(scoped)))

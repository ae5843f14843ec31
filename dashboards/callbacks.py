"""Callbacks: a 1 s poll of a cheap store token drives every refresh; the rest is paged SQL."""

from __future__ import annotations

import time
from typing import Any

from dash import Dash, Input, Output, State, ctx, no_update

from dashboards import panels, timeline
from dashboards.queries import PAGE_SIZE, FindingFilter, Reader

FILTER_INPUTS = [Input("filter-severity", "value"), Input("filter-channel", "value"),
                 Input("filter-kind", "value"), Input("filter-destination", "value")]


def _filter(severities: list[str] | None, channels: list[str] | None, kinds: list[str] | None,
            destination: str | None) -> FindingFilter:
    return FindingFilter(tuple(severities or ()), tuple(channels or ()), tuple(kinds or ()), destination or "")


def _sig_of(slow: dict | None) -> str | None:
    return slow.get("sig") if slow else None


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

    @app.callback(Output("banner", "children"), Output("last-update", "children"),
                  Output("last-update", "className"), Output("filter-kind", "options"), Input("sig", "data"), Input("sig-slow", "data"),
                  prevent_initial_call=True)
    def refresh_banner(_sig: str | None, slow: dict | None) -> tuple:
        summary = reader.summary()
        # Flow totals scan the flows table: they wait for the slow pace like the other heavy panels.
        summary["channels"] = reader.cached("flow_totals", _sig_of(slow), reader.flow_totals) if slow else []
        kinds = reader.cached("filter_options", _sig_of(slow), reader.filter_options)["kinds"]
        stamp = time.strftime("%H:%M:%S", time.gmtime())
        if summary["session"].get("finished"):
            status, cls = f"session finished · read {stamp} UTC", "live done"
        else:
            status, cls = f"live · updated {stamp} UTC", "live"
        return panels.banner(summary), status, cls, [{"label": k, "value": k} for k in kinds]

    @app.callback(Output("findings-table", "page_current"), *FILTER_INPUTS, prevent_initial_call=True)
    def first_page(*_filters: Any) -> int:
        return 0

    @app.callback(Output("findings-table", "data"), Output("findings-table", "page_count"),
                  Output("findings-count", "children"), Output("findings-table", "tooltip_data"),
                  Input("sig", "data"), Input("findings-table", "page_current"),
                  Input("findings-table", "sort_by"), *FILTER_INPUTS, prevent_initial_call=True)
    def refresh_table(_sig: str | None, page: int | None, sort_by: list | None, severities: list | None,
                      channels: list | None, kinds: list | None, destination: str | None) -> tuple:
        flt = _filter(severities, channels, kinds, destination)
        rows, total = reader.findings_page(flt, sort_by, page or 0, PAGE_SIZE)
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
    def show_detail(finding_id: str | None, _sig: str | None) -> list:
        finding = reader.finding(finding_id) if finding_id else None
        flow = reader.flow(finding["flow"]) if finding and finding["flow"] else None
        return panels.detail(finding, flow)

    @app.callback(Output("timeline", "figure"), Input("sig-slow", "data"), prevent_initial_call=True)
    def refresh_timeline(slow: dict | None) -> Any:
        return timeline.figure(reader.cached("timeline", _sig_of(slow), reader.timeline))

    @app.callback(Output("panel-net", "children"), Output("panel-usb", "children"),
                  Output("panel-serial", "children"), Input("sig-slow", "data"),
                  prevent_initial_call=True)
    def refresh_channels(slow: dict | None) -> tuple:
        sig = _sig_of(slow)
        return (panels.network_panel(reader.cached("net", sig, reader.destinations)),
                panels.usb_panel(reader.cached("usb", sig, reader.usb_devices)),
                panels.serial_panel(reader.cached("serial", sig, lambda: reader.devices("serial"))))

    @app.callback(Output("panel-coverage", "children"), Input("sig-slow", "data"),
                  prevent_initial_call=True)
    def refresh_coverage(slow: dict | None) -> list:
        return panels.coverage_panel(reader.cached("coverage", _sig_of(slow), reader.coverage))

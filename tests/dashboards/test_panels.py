"""Render functions on their own: what each panel says for real rows and for empty ones."""

from __future__ import annotations

import json

from dash import html

from dashboards import panels
from dashboards.queries import Reader


def text(component) -> str:
    """All text in a component tree, the way a reader sees it."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(text(c) for c in component)
    return text(getattr(component, "children", None))


def test_banner_clean_and_leak(small_store, empty_store):
    leak = Reader(small_store.path).summary()
    leak["channels"] = []
    out = panels.banner(leak)
    assert out[0].id == "verdict" and "SUSPECTED LEAK" in text(out)
    assert "critical 1" in text(out) and "240115_M00123_0042_000000000-ABCDE" in text(out)
    clean = Reader(empty_store.path).summary()
    clean["channels"] = []
    out = panels.banner(clean, now=clean["session"]["started"] + 125)
    assert "CLEAN" in text(out) and "2m 05s" in text(out)


def test_detail_without_flow_or_capture_position(small_store):
    finding = Reader(small_store.path).finding("F00003")
    finding["evidence"] = []
    finding["flow"] = "tcp gone"
    out = text(panels.detail(finding, None))
    assert "flow not in the store yet" in out and "no capture position recorded" in out
    assert "no byte evidence" in out
    assert "Select a finding" in text(panels.detail(None, None))


def test_detail_takes_capture_position_from_flow_meta(small_store):
    reader = Reader(small_store.path)
    finding = reader.finding("F00001")
    finding["evidence"] = [{"offset": 10, "length": 5}]
    flow = reader.flow(finding["flow"])
    assert "wireshark -r 'captures/acceptance-run42.pcapng' -g 1201" in text(panels.detail(finding, flow))


def test_empty_channel_panels_say_so():
    assert "no USB traffic captured" in text(panels.usb_panel([]))
    assert "no serial traffic captured" in text(panels.serial_panel([]))
    assert "no network traffic captured" in text(panels.network_panel({"rows": [], "total": 0}))
    assert "no run data seen leaving" in text(panels.coverage_panel({"samples": [], "files": [], "runs": []}))


def test_table_rows_are_short():
    row = {"id": "F1", "severity": "high", "kind": "sequence", "channel": "net", "destination": "",
           "samples": json.dumps(["a", "b", "c", "d"]), "files": json.dumps([{"path": "x/y/R1.fastq", "fraction": 1}]),
           "bytes_matched": 2048, "t_first": 0.0, "t_last": 1.0}
    out = panels.table_rows([row])[0]
    assert out["samples"] == "a, b (+2)" and out["files"] == "1: R1.fastq" and out["destination"] == "-"
    assert out["bytes_matched"] == "2.0 KB" and out["t_last"] == "00:00:01"
    tip = panels.table_tooltips([row])[0]
    assert tip["files"]["value"] == "x/y/R1.fastq (100.0%)" and tip["samples"]["value"] == "a, b, c, d"


def test_usb_panel_row_per_device():
    row = {"device": "usb 1.6", "destination": "usb 1.6 12d1:14dc HUAWEI", "transfers": 133, "bytes_out": 82_000,
           "bytes_in": 5_800, "inner": 2, "new": True, "findings": {"medium": 1, "critical": 2},
           "meta": {"vid": 0x12D1, "pid": 0x14DC, "usb_class": "rndis", "product": "HUAWEI"}}
    stick = {**row, "device": "usb 1.2", "destination": "usb 1.2", "inner": 0, "new": False, "findings": {},
             "meta": {"files": [{"name": "/RUN/a.fastq.gz"}]}}
    out = text(panels.usb_panel([row, stick]))
    assert "usb 1.6 12d1:14dc HUAWEI  new" in out and "2 network flows" in out and "80.1 KB" in out
    assert out.index("2 critical") < out.index("1 medium") and "/RUN/a.fastq.gz" in out


def test_usb_ids_in_any_form():
    assert panels._usb_id({"vid": 0x0781, "pid": 0x5583}) == "0781:5583"
    assert panels._usb_id({"idVendor": "1d6b", "idProduct": "0002"}) == "1d6b:0002"
    assert panels._usb_id({}) == "-"
    assert isinstance(panels.chip("critical"), html.Span)


def test_banner_says_live_with_its_lag_then_interrupted_when_the_writer_is_gone(tmp_path):
    from sandbox.store import Store

    store = Store(tmp_path / "s.sqlite", fresh=True)
    store.set_session(mode="watch", started=1000.0, heartbeat=1030.0, finished=None, lag_bytes=5 << 20,
                      not_examined=[{"where": "net.pcapng", "what": "unknown link type 127", "packets": 2,
                                     "bytes": 200}])
    summary = Reader(store.path).summary()
    summary["channels"] = []
    out = text(panels.banner(summary, now=1040.0))
    assert "watch (live)" in out and "analysis lag 5.0 MB" in out and "INCONCLUSIVE" in out
    store.close()                       # the session's process is gone without finishing
    summary = Reader(tmp_path / "s.sqlite").summary()
    summary["channels"] = []
    out = text(panels.banner(summary, now=5000.0))
    assert "watch (interrupted)" in out and "analysis lag" not in out
    assert "30s" in out                 # the duration ends at its last heartbeat, not now


def test_serial_panel_shows_settings_gaps_and_files():
    row = {"destination": "serial /dev/ttyS1", "transfers": 12, "bytes_out": 2048, "bytes_in": 10, "t_first": 1.0,
           "t_last": 31.0, "meta": {"instrument": "/dev/ttyUSB0", "settings": "115200 8N1", "gap_count": 2,
                                    "gap_seconds": 3.4, "down": {"host": 29.0},
                                    "files": [{"name": "reads.fastq.gz", "protocol": "zmodem"},
                                              {"name": "", "protocol": "xmodem"}]}}
    out = text(panels.serial_panel([row]))
    assert "/dev/ttyUSB0" in out and "115200 8N1" in out and "2 gaps, 3s; host unplugged now" in out
    assert "reads.fastq.gz, xmodem" in out
    quiet = dict(row, meta={"baud": 9600})
    assert "9600" in text(panels.serial_panel([quiet])) and "gap," not in text(panels.serial_panel([quiet]))

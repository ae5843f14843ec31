"""FlowRecords: a record per flow while there is room, per-destination summaries past it."""

from __future__ import annotations

import pytest

from sandbox.model import FlowInfo
from sandbox.protocols import records
from sandbox.protocols.records import FlowRecords


def flow(n: int, dst: str = "203.0.113.9", out: int = 0, errors: tuple[str, ...] = (), dport: int = 443) -> FlowInfo:
    info = FlowInfo(f"tcp 10.0.0.5:{n} > {dst}:{dport}", "net", "tcp", "10.0.0.5", n, dst, dport,
                    destination=dst, t_first=float(n), t_last=float(n) + 0.5, packets=3, bytes_out=out)
    for e in errors:
        info.add_error(e)
    return info


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "MAX_FLOW_RECORDS", 6)
    monkeypatch.setattr(records, "MAX_EMPTY_RECORDS", 2)
    monkeypatch.setattr(records, "MAX_SUMMARIES", 2)


def _books(infos: list[FlowInfo]) -> FlowRecords:
    books = FlowRecords()
    for info in infos:
        books.open(info)
        books.close(info)
    return books


def test_every_flow_keeps_its_record_while_there_is_room() -> None:
    infos = [flow(n, out=n) for n in range(10)]
    books = _books(infos)
    assert list(books.flows.values()) == infos and books.kept == 10 and not books.summaries()


def test_past_the_room_flows_fold_into_their_destination_summary(small: None) -> None:
    books = _books([flow(n, out=10) for n in range(10)])
    (summary,) = books.summaries()
    assert len(books.flows) == 6 + 1 and books.kept == 6 and books.summarised == 4
    assert summary.flow == "tcp 10.0.0.5 > 203.0.113.9 (flows summarised)"
    assert summary.meta["summary"]["flows"] == 4
    assert summary.meta["summary"]["examples"] == [f"tcp 10.0.0.5:{n} > 203.0.113.9:443" for n in range(6, 10)]
    assert (summary.packets, summary.bytes_out, summary.t_first, summary.t_last) == (12, 40, 6.0, 9.5)
    assert summary.dport == 443 and summary.destination == "203.0.113.9"


def test_flows_that_carried_nothing_get_less_room_than_flows_with_data(small: None) -> None:
    books = _books([flow(n) for n in range(5)] + [flow(n, out=1) for n in range(5, 9)])
    kept = [f for f in books.flows.values() if "summary" not in f.meta]
    assert [f.sport for f in kept] == [0, 1, 5, 6, 7, 8]   # an attempt flood leaves room for real traffic


def test_an_upload_keeps_its_record_past_the_room(small: None) -> None:
    books = _books([flow(n, out=1) for n in range(8)] + [flow(99, out=records.KEEP_BYTES_OUT)])
    assert "tcp 10.0.0.5:99 > 203.0.113.9:443" in books.flows


def test_summaries_are_bounded_and_count_errors(small: None) -> None:
    infos = [flow(n, out=1) for n in range(6)]
    infos += [flow(100 + n, dst=f"198.18.0.{n}", out=1, errors=("evicted: too many active flows",), dport=80 + n)
              for n in range(5)]
    infos.append(flow(200, dst="198.18.0.0", out=1, errors=tuple(f"e{i}" for i in range(30))))
    books = _books(infos)
    summaries = books.summaries()
    assert [s.destination for s in summaries] == ["198.18.0.0", "198.18.0.1", "*"]
    other = summaries[-1]
    assert other.flow == "tcp * > * (flows summarised)" and other.meta["summary"]["flows"] == 3
    assert other.dport == 0                                   # several ports: none named
    assert other.errors == ["evicted: too many active flows (x3)"]
    first = summaries[0]
    assert first.meta["summary"]["errors"]["evicted: too many active flows"] == 1
    assert sum(first.meta["summary"]["errors"].values()) == 31            # every error counted ...
    assert len(first.meta["summary"]["errors"]) == records.MAX_FLOW_ERRORS + 1   # ... few messages kept
    assert first.errors[-1] == f"{records.MORE_ERRORS} (x11)"


def test_closing_a_flow_not_on_the_books_changes_nothing() -> None:
    books = FlowRecords()
    books.close(flow(1))
    assert not books.flows and books.kept == 0 and not books.summaries()

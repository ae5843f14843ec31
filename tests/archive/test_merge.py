"""The merge in the correlator's terms: flows numbered as one flow table would, destination
findings continued as one correlator would, dependence found from what the groups report."""

from __future__ import annotations

from pathlib import Path

from sandbox.archive.groups import CaptureGroup
from sandbox.archive.merge import INDEPENDENT_GAP_S, _merge_cross_flow, dependence, flow_names
from sandbox.archive.worker import GroupResult, GroupTask, ReplaySettings, ZoneState
from sandbox.correlate.correlator import MAX_FLOWS_LISTED, _Acc
from sandbox.model import FlowInfo


def _result(i: int, t_first: float, t_last: float, flows=(), zones=..., claims=(), other=(),
            answered=()) -> GroupResult:
    group = CaptureGroup((Path(f"/g{i}.pcapng"),), (f"g{i}.pcapng",), (i,))
    task = GroupTask(group, t_first, None, ReplaySettings(runs=()))
    infos = [FlowInfo(f, "net", "tcp", "10.0.0.5", 40000 + n, "192.0.2.1", 80) for n, f in enumerate(flows)]
    return GroupResult(task, t_first, t_last, {}, infos, [], [], [], [], [], [], {} if zones is ... else zones,
                       list(claims), list(other), None if answered is None else list(answered), first_out={},
                       source_names=[f"g{i}.pcapng"], segments=1)


def test_flows_are_numbered_across_groups_as_one_flow_table_numbers_them():
    results = [_result(0, 0, 10, ["tcp a > b", "tcp a > b #2", "udp c > d"]), _result(1, 500, 510, ["tcp a > b"]),
               _result(2, 900, 910, ["udp c > d", "tcp a > b"])]
    assert flow_names(results) == [{"tcp a > b": "tcp a > b", "tcp a > b #2": "tcp a > b #2", "udp c > d": "udp c > d"},
                                   {"tcp a > b": "tcp a > b #3"},
                                   {"udp c > d": "udp c > d #2", "tcp a > b": "tcp a > b #4"}]


def test_a_destination_finding_lists_flows_in_first_judged_order_up_to_the_cap():
    def acc(flows: dict, t: float) -> _Acc:
        a = _Acc("destination", "net", next(iter(flows)), "x.example", severity="low", t_first=t, t_last=t + 1,
                 chain=["tcp"], detail={"flows": dict(flows), "flow_count": len(flows)})
        a.bytes_out = sum(flows.values())
        return a

    first = acc({f"f{i}": 10 for i in range(MAX_FLOWS_LISTED - 1)}, 5.0)
    _merge_cross_flow(first, acc({"g1": 7, "g2": 8}, 1.0))
    assert list(first.detail["flows"])[-2:] == ["f18", "g1"] and len(first.detail["flows"]) == MAX_FLOWS_LISTED
    assert first.detail["flow_count"] == MAX_FLOWS_LISTED and first.bytes_out == 19 * 10 + 7
    assert (first.t_first, first.t_last, first.flow) == (1.0, 6.0, "f0")


def test_groups_closer_than_every_flow_timeout_or_overlapping_are_dependent():
    far = [_result(0, 0, 100), _result(1, 100 + INDEPENDENT_GAP_S + 1, 2000)]
    assert dependence(far).independent
    near = [_result(0, 0, 100), _result(1, 100 + INDEPENDENT_GAP_S - 1, 2000), _result(2, 5000, 5001)]
    assert dependence(near).together == [[0, 1], [2]]
    inside = [_result(0, 0, 10_000), _result(1, 50, 60), _result(2, 5000, 5001)]   # within the first's span
    assert dependence(inside).together == [[0, 1, 2]]


def test_a_dns_answer_joins_the_groups_whose_flows_go_to_its_address():
    """One replay's flow carries the names an earlier answer vouched for its address (the allow-list
    believes them): the group that made the flow must run with the group that holds the answer."""
    results = [_result(0, 0, 1, answered=["192.0.2.1"]), _result(1, 1000, 1001, flows=["tcp a > b"]),
               _result(2, 2000, 2001, answered=["198.51.100.7"]), _result(3, 3000, 3001, flows=["tcp c > d"])]
    assert dependence(results).together == [[0, 1, 3], [2]]        # every flow of these goes to 192.0.2.1
    assert dependence([_result(0, 0, 1, answered=["198.51.100.7"]),
                       _result(1, 1000, 1001, flows=["tcp a > b"])]).independent
    overflowed = [_result(0, 0, 1, answered=None), _result(1, 1000, 1001)]
    assert not dependence(overflowed).independent


def test_dns_zones_join_groups_only_when_together_they_could_reach_a_verdict():
    def zone(names: range, encoded: int = 0) -> ZoneState:
        return ZoneState(len(names), encoded, frozenset(n.to_bytes(8, "big") for n in names))

    quiet = [_result(0, 0, 1, zones={"vendor.example": zone(range(10))}),
             _result(1, 1000, 1001, zones={"vendor.example": zone(range(5, 20))})]
    assert dependence(quiet).independent                     # 20 distinct names: no verdict either way
    loud = [_result(0, 0, 1, zones={"t.example": zone(range(20))}),
            _result(1, 1000, 1001, zones={"t.example": zone(range(20, 40))})]
    assert dependence(loud).together == [[0, 1]]           # 40 distinct names together: a verdict possible
    encoded = [_result(0, 0, 1, zones={"t.example": zone(range(2), 2)}),
               _result(1, 1000, 1001, zones={"t.example": zone(range(2), 2)})]
    assert dependence(encoded).together == [[0, 1]]
    big = [_result(0, 0, 1, zones={"t.example": ZoneState(5000, 0, None)}), _result(1, 1000, 1001, zones={})]
    assert dependence(big).independent                     # a zone only one group has is its own
    unknown = [_result(0, 0, 1, zones=None), _result(1, 1000, 1001, zones={"x.example": zone(range(1))}),
               _result(2, 2000, 2001)]
    assert dependence(unknown).together == [[0, 1], [2]]   # a zone table we cannot read: DNS groups together


def test_a_claimed_connection_or_unknown_shared_state_joins_the_groups_it_reaches():
    claimed = [_result(0, 0, 1, claims=[("192.0.2.1", 80)]), _result(1, 1000, 1001, flows=["x", "y"]),
               _result(2, 2000, 2001, flows=["z"])]
    assert dependence(claimed).together == [[0, 1, 2]]     # the later groups connect to the claimed 192.0.2.1:80
    other = [_result(0, 0, 1), _result(1, 1000, 1001, other=["tls.sessions"]), _result(2, 2000, 2001)]
    assert dependence(other).together == [[0], [1, 2]]

"""One group on a worker: the indexes loaded once per worker process, the group's state handed back."""

from __future__ import annotations

from sandbox.archive import worker
from sandbox.archive.groups import group_captures
from sandbox.archive.worker import GroupTask, ReplaySettings, run_group, zone_states
from tests.archive.conftest import ALLOW


def test_a_worker_loads_the_run_indexes_once_for_all_its_groups(demo, sessions, tmp_path):
    run_dir, _ = demo
    settings = ReplaySettings(runs=(str(run_dir.resolve()),), cache_dir=str(tmp_path / "cache"), allow=tuple(ALLOW))
    worker._INDEXES.clear()
    first, second = (run_group(GroupTask(g, 0.0, None, settings)) for g in group_captures(sessions["tunnel"] + sessions["a"]))
    assert second.index_loads == first.index_loads                  # the second group found them loaded
    assert first.segments > 500 and first.t_first < first.t_last
    assert {a.kind for a in first.accs.values()} >= {"run-content", "dns-tunnel", "destination"}
    assert first.zones and all(z.unique >= 0 for z in first.zones.values())
    assert [h.name for h in first.health] == [str(sessions["tunnel"][0])]


def test_a_zone_table_of_another_shape_is_unknown_not_empty():
    class Tracker:
        zones = {"x.example": object()}

    assert zone_states(None) == {}
    assert zone_states(Tracker()) is None
    assert zone_states(object()) is None

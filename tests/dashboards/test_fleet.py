"""The dashboard's queries give the same answers on SQLite and PostgreSQL, and the fleet view scopes
every panel to rigs, instruments and sessions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dashboards.queries import EVERYTHING, FindingFilter, Reader, Scope
from sandbox.report.profile import Profile
from sandbox.store import Store
from tests.dashboards.storegen import T0, leak_finding, new_store, populate_small, upload_flow
from tests.pgserver import wait_released

REPO = Path(__file__).resolve().parents[2]


def _norm(value):
    """Comma-joined DISTINCT lists come back in either order; the rest must be equal as is."""
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items() if k not in ("session_id", "key", "created", "started", "updated")}
    if isinstance(value, list | tuple):
        return [_norm(v) for v in value]
    if isinstance(value, str) and "," in value and " " not in value:
        return tuple(sorted(value.split(",")))
    return value


def _everything(reader: Reader, scope: Scope = EVERYTHING) -> dict:
    filters = [FindingFilter(), FindingFilter(severities=("critical", "high")), FindingFilter(channels=("usb",)),
               FindingFilter(destination="VENDOR"), FindingFilter(destination="%"), FindingFilter(kinds=("identifier",))]
    sorts = [None, *([{"column_id": c, "direction": d}] for c in ("severity", "files", "t_first", "rig", "samples")
                     for d in ("asc", "desc"))]
    summary = reader.summary(scope)
    summary["session"] = {k: v for k, v in summary["session"].items() if k in ("mode", "state", "rig", "instrument")}
    summary.pop("sessions")
    return _norm({
        "summary": summary,
        "pages": [reader.findings_page(f, s, scope=scope) for f in filters for s in sorts[:1]]
        + [reader.findings_page(FindingFilter(), s, scope=scope) for s in sorts],
        "timeline": reader.timeline(scope), "net": reader.destinations(scope), "usb": reader.devices("usb", scope),
        "serial": reader.devices("serial", scope), "usb_devices": reader.usb_devices(scope),
        "coverage": reader.coverage(scope),
        "totals": reader.flow_totals(scope), "options": reader.filter_options(scope),
        "finding": reader.finding("F00001", scope), "flow": reader.flow(upload_flow(1).flow),
    })


def test_every_query_answers_the_same_on_sqlite_and_postgres(tmp_path, postgres_url):
    answers = []
    for target in (str(tmp_path / "s.sqlite"), postgres_url):
        store = new_store(target)
        store.tag(rig="bench-1", instrument="M00123")
        populate_small(store)
        reader = Reader(target)
        answers.append(_everything(reader))
        reader.close()
        store.close()
    sqlite_answers, postgres_answers = answers
    for name in sqlite_answers:
        assert postgres_answers[name] == sqlite_answers[name], name
    assert sqlite_answers["summary"]["verdict"] == "leak"


def _fleet(target: str) -> list[Store]:
    """Three sessions of two rigs: bench-1 leaking (finished), bench-1 again and bench-2 clean (live)."""
    old = new_store(target) if target.startswith("postgresql") else None
    stores = []
    for rig, instrument, leak in (("bench-1", "M00123", True), ("bench-1", "M00123", False), ("bench-2", "FS1", False)):
        store = old or Store(target, fresh=True)
        old = None
        store.tag(rig=rig, instrument=instrument)
        store.set_session(mode="watch", started=T0, finished=T0 + 60 if leak else None)
        store.put_flows([upload_flow(len(stores))])
        store.put_findings([leak_finding(1, severity="critical" if leak else "low", kind="run-bytes" if leak else
                                         "destination")])
        store.add_traffic([(T0, "net", "telemetry.vendor-cloud.example", 1000)])
        stores.append(store)
    return stores


def test_fleet_view_lists_every_rig_with_its_verdict_and_scopes_the_panels(postgres_url):
    stores = _fleet(postgres_url)
    reader = Reader(postgres_url)
    sessions = {s["session_id"]: s for s in reader.sessions()}
    assert len(sessions) == 3
    first, second, third = (sessions[s.session_id] for s in stores)
    assert (first["rig"], first["state"], first["verdict"], first["counts"]["critical"]) == ("bench-1", "finished",
                                                                                           "leak", 1)
    assert (second["state"], second["verdict"]) == ("live", "clean")
    assert (third["rig"], third["instrument"], third["state"]) == ("bench-2", "FS1", "live")
    fleet = reader.summary()
    assert fleet["session"]["mode"] == "fleet" and fleet["session"]["states"] == {"finished": 1, "live": 2}
    assert fleet["verdict"] == "leak" and fleet["total"] == 3
    rows, total = reader.findings_page(FindingFilter())
    assert total == 3 and sorted(r["rig"] for r in rows) == ["bench-1", "bench-1", "bench-2"]
    assert len({r["key"] for r in rows}) == 3          # one finding id in three sessions: three rows
    bench2 = Scope(rigs=("bench-2",))
    one = reader.summary(bench2)
    assert (one["session"]["rig"], one["session"]["state"], one["verdict"]) == ("bench-2", "live", "clean")
    assert reader.findings_page(FindingFilter(), scope=bench2)[1] == 1
    assert reader.timeline(bench2)["series"] == {"net telemetry.vendor-cloud.example": [(T0, 1000)]}
    assert reader.summary(Scope(instruments=("M00123",)))["session"]["sessions"] == 2
    key = next(r["key"] for r in rows if r["rig"] == "bench-2")
    assert reader.finding(key)["severity"] == "low"
    assert reader.finding(key.split("/")[1], Scope(sessions=(stores[0].session_id,)))["severity"] == "critical"
    assert reader.fleet_options()["rigs"] == ["bench-1", "bench-2"]
    stores[2].close()                                      # bench-2's writer is gone without finishing
    wait_released(reader.source, stores[2].session_id)
    assert reader.summary(bench2)["session"]["state"] == "interrupted"
    before = reader.pulse()
    stores[1].put_findings([leak_finding(2)])
    assert reader.pulse() != before                        # another rig's write is seen by the poll
    for store in stores[:2]:
        store.close()
    reader.close()


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_one_session_store_keeps_the_single_session_banner(engine, tmp_path, request):
    target = str(tmp_path / "s.sqlite") if engine == "sqlite" else request.getfixturevalue("postgres_url")
    store = new_store(target)
    store.tag(rig="bench-9", instrument="M00123")
    populate_small(store)
    summary = Reader(target).summary()
    assert summary["session"]["mode"] == "watch" and summary["session"]["state"] == "live"
    assert summary["session"]["rig"] == "bench-9" and len(summary["sessions"]) == 1
    store.close()


# A rig's session: a writer that begins it, says so, and waits to be killed.
RIG = """
import sys, time
from tests.dashboards.storegen import new_store
store = new_store(sys.argv[1])
store.tag(rig="bench-k")
print(store.session_id, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_a_rig_killed_turns_interrupted_on_the_next_poll(engine, tmp_path, request):
    """A killed rig commits nothing; the poll still sees its writer gone, so the page shows it
    interrupted (before, a page drawn while it lived showed it live until another rig wrote)."""
    target = str(tmp_path / "s.sqlite") if engine == "sqlite" else request.getfixturevalue("postgres_url")
    rig = subprocess.Popen([sys.executable, "-c", RIG, target], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        session_id = rig.stdout.readline().strip()
        reader = Reader(target)
        assert reader.summary()["session"]["state"] == "live"
        drawn = reader.pulse()
    finally:
        rig.kill()
        rig.wait()
    wait_released(reader.source, session_id)
    assert reader.pulse() != drawn
    assert reader.summary()["session"]["state"] == "interrupted"
    reader.close()


WAIVING = Profile.parse('name = "waives uploads"\n[[waiver]]\nkind = "run-bytes"\nreason = "vendor contract"\n'
                        'by = "QA"\n', source="waives.toml")
STRICT = Profile.parse('name = "strict"\n[fail]\nseverities = ["critical", "high", "medium", "low"]\n',
                       source="strict.toml")


def _judged_session(target: str, profile: Profile, severity: str, blind: list | None = None) -> Store:
    store = Store(target, fresh=True)
    store.set_session(mode="replay", started=T0, finished=T0 + 60, profile=profile.stored(),
                      profile_not_examined=blind or [])
    store.put_findings([leak_finding(1, severity=severity)])
    return store


def test_each_session_is_judged_under_its_own_acceptance_profile(store_target):
    """A critical upload waived by its session's profile is no leak; a low finding is one under a
    profile that fails on any; what a profile expected and nobody saw makes the session inconclusive."""
    cases = [(WAIVING, "critical", None, "clean"), (STRICT, "low", None, "leak"), (Profile(), "low", None, "clean"),
             (WAIVING, "critical", [{"where": "profile", "what": "expected telemetry to lims.lab.example not seen",
                                     "packets": 0, "bytes": 0}], "inconclusive")]
    postgres = store_target.startswith("postgresql")
    for n, (profile, severity, blind, verdict) in enumerate(cases):
        target = store_target if postgres else f"{store_target}.{n}"
        store = _judged_session(target, profile, severity, blind)
        reader = Reader(target)
        mine = Scope(sessions=(store.session_id,))
        assert reader.summary(mine)["verdict"] == verdict, profile.name
        assert [s["verdict"] for s in reader.sessions(mine)] == [verdict]
        reader.close()
        store.close()
    if postgres:       # the fleet banner: a leak in any session under its profile
        reader = Reader(store_target)
        assert [s["verdict"] for s in reader.sessions()] == ["inconclusive", "clean", "leak", "clean"]
        assert reader.summary()["verdict"] == "leak"
        reader.close()

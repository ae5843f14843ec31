"""Other projects' test captures (Zeek, tcpdump: tunnels, exotic links, damage) replayed against a real run.

Each replays without a traceback, with no finding above ``info`` (the run folder is unrelated to
the traffic: anything more is a false positive), and with the verdict ``tests/public_traces.tsv``
writes down for it: ``inconclusive`` exactly where part of it could not be examined.  (A 1.5 MB PDF
written over SMB2 was an opaque upload, its Flate streams cut by SMB's headers, until the SMB parser
handed on the file's bytes whole.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.replay import replay
from tests.conftest import SHARED_DATA

TRACES = SHARED_DATA / "captures" / "public-traces"
RUN = "illumina/230825_M04034_0043_000000000-L6NVV"
TABLE = Path(__file__).with_name("public_traces.tsv")


def _expected() -> dict[str, tuple[str, str]]:
    rows = [line.split("\t") for line in TABLE.read_text().splitlines() if line and not line.startswith("#")]
    return {row[0]: (row[1], row[2] if len(row) > 2 else "") for row in rows}


EXPECTED = _expected()


def _captures(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "MANIFEST.tsv" and p.suffix != ".keys")


@pytest.fixture(scope="module")
def index_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sbx-see-everything-index")


def test_the_table_names_every_trace_once(shared_data: Path):
    assert _captures(shared_data / "captures" / "public-traces") == sorted(EXPECTED)
    assert all(verdict in ("clean", "inconclusive") for verdict, _ in EXPECTED.values())
    assert all(bool(why) == (verdict == "inconclusive") for verdict, why in EXPECTED.values())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_trace_replays_with_its_verdict_and_no_false_positive(shared_data: Path, index_cache: Path, name: str):
    trace = shared_data / "captures" / "public-traces" / name
    keylog = trace.with_name(name.split(".pcap")[0] + ".keys")
    result = replay([trace], [shared_data / RUN], keylog=keylog if keylog.exists() else None,
                    cache_dir=index_cache, jobs=1)
    report = result.report
    # a decode-limit finding says the rig could not look inside: it goes with an inconclusive verdict
    above_info = [f for f in report["findings"] if f["severity"] != "info" and f["kind"] != "decode-limit"]
    assert above_info == []
    verdict, why = EXPECTED[name]
    assert report["verdict"] == verdict, (why, report["not_examined"])
    assert bool(report["not_examined"]) == (verdict == "inconclusive")
    # where: the trace, or the flow whose bytes went unexamined (a decoding limit, a stream's hole)
    assert all((n["where"] == str(trace) or n["where"].startswith(("tcp ", "udp "))) and n["packets"] >= 0
               and n["bytes"] >= 0 for n in report["not_examined"])

"""Byte evidence goes to the file that explains the view, not to every file sharing a k-gram.

Every FASTQ of a run shares read-header prefixes ("@M07011:42:000000000-DEMO1:1:110"), "+" lines and
gzip headers.  Where a view's fingerprint is not one the leaked file's index kept at that place
(line endings changed, chunk markers inserted), those shared k-grams used to name the other files.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from sandbox.correlate import Correlator
from sandbox.correlate.correlator import ABSORB_GAP, _absorb, _attribute, _segments
from sandbox.index import build_index
from sandbox.model import View
from tests.correlate.conftest import payload, views

DEMO = Path(__file__).resolve().parents[2] / "captures" / "demo"
RUN = DEMO / "251123_M07011_0042_000000000-DEMO1"
CALLS = "Data/Intensities/BaseCalls"
BUNDLE_FLOW = "tcp 10.20.0.5:49158 > 203.0.113.50:80"


@pytest.fixture(scope="module")
def demo_index(tmp_path_factory):
    if not (RUN / CALLS).is_dir():
        pytest.skip("captures/demo not generated (python -m sandbox.simulate demo captures/demo)")
    return build_index(RUN, cache_dir=tmp_path_factory.mktemp("demo-cache"))


def _chunked(data: bytes, size: int) -> bytes:
    """HTTP/1.1 chunked framing left in place: a marker every ``size`` bytes shifts the diagonal."""
    return b"".join(b"%x\r\n" % len(data[i:i + size]) + data[i:i + size] + b"\r\n"
                    for i in range(0, len(data), size))


def _files(c: Correlator) -> dict[str, int]:
    return {m.path: m.bytes_matched for f in c.findings() for m in f.files}


FORMS = {
    "text": lambda raw, text: [(text, ("tcp",))],
    "gzip": lambda raw, text: [(raw, ("tcp",)), (text, ("tcp", "gzip"))],
    "crlf": lambda raw, text: [(text.replace(b"\n", b"\r\n"), ("tcp",))],
    "chunked": lambda raw, text: [(_chunked(text, 300), ("tcp",))],
    "tabs": lambda raw, text: [(text.replace(b"\n", b"\t"), ("tcp",))],
    "truncated": lambda raw, text: [(raw[: len(raw) // 2], ("tcp",)),
                                    (text[: len(text) // 2], ("tcp", "gzip(truncated)"))],
}


@pytest.mark.parametrize("sample", ["PT9936-T1_S1", "PT5698-N1_S2"])
@pytest.mark.parametrize("form", sorted(FORMS))
def test_whole_fastq_of_one_sample_names_only_its_file(demo_index, sample, form):
    rel = f"{CALLS}/{sample}_L001_R1_001.fastq.gz"
    raw = (RUN / rel).read_bytes()
    parts = FORMS[form](raw, gzip.decompress(raw))
    c = Correlator([demo_index])
    c.scan(payload(parts[0][0]), [View(d, ch) for d, ch in parts])
    found = _files(c)
    assert list(found) == [rel], found
    assert found[rel] > len(raw) // 3


def test_generated_run_whole_fastq_with_crlf_names_only_its_file(gen_run, gen_index):
    for sid, rel in gen_run.fastq.items():
        text = gzip.decompress((gen_run.path / rel).read_bytes()).replace(b"\n", b"\r\n")
        c = Correlator([gen_index])
        c.scan(payload(text), views(text))
        assert list(_files(c)) == [rel], sid


def test_two_files_in_one_payload_are_both_reported(demo_index):
    a, b = f"{CALLS}/PT9936-T1_S1_L001_R1_001.fastq.gz", f"{CALLS}/PT9006-B1_S3_L001_R1_001.fastq.gz"
    text_a = gzip.decompress((RUN / a).read_bytes()).replace(b"\n", b"\r\n")
    text_b = gzip.decompress((RUN / b).read_bytes())
    rng = np.random.default_rng(11)
    for off in map(int, rng.integers(0, len(text_b) - 256, 10)):
        body = text_a + b"\r\n--x\r\n" + text_b[off:off + 256]  # a whole file and a 256-byte fragment
        c = Correlator([demo_index])
        c.scan(payload(body), views(body))
        found = _files(c)
        assert set(found) == {a, b}, (off, found)
        assert found[a] > 20_000 and 32 <= found[b] <= 256


def test_shared_kgram_places_go_to_the_file_that_explains_the_view():
    # file stream 2 chains 5 places on one diagonal and has 3 places only it matches; stream 4 has
    # only places stream 2 also has, and stream 6 one place shared with stream 4 alone
    q = np.array([0, 40, 80, 120, 160, 200, 240, 40, 120, 300, 300, 500, 500])
    loc = np.array([2, 2, 2, 2, 2, 2, 2, 4, 4, 4, 6, 2, 4])
    foff = np.array([1000, 1040, 1080, 1120, 1160, 1200, 1240, 70, 9000, 5000, 800, 99, 30])
    q, loc, foff, first, last = _segments(q, loc, foff, 225)
    kept = _attribute(q, loc, first, last)
    assert set(loc[kept].tolist()) == {2}
    # no file explains the view (a lone fragment whose fingerprint two files share): both stay
    q, loc, foff, first, last = _segments(np.array([7, 7]), np.array([2, 4]), np.array([100, 300]), 225)
    assert sorted(loc[_attribute(q, loc, first, last, one_per_file=False)].tolist()) == [2, 4]


def test_isolated_places_inside_the_main_match_are_absorbed_outside_kept():
    main = np.arange(0, 3000, 150)  # the view's main file, matched every 150 bytes on one diagonal
    for other_q, kept in (([400, 1210], False), ([2900 + ABSORB_GAP], True), ([400, 5000], True)):
        q = np.concatenate([main, other_q])
        loc = np.array([2] * len(main) + [4] * len(other_q))
        foff = np.concatenate([main + 10, np.array(other_q) * 3 + 7])
        q, loc, foff, first, last = _segments(q, loc, foff, 225)
        assert (4 in loc[_absorb(q, loc, first, last)].tolist()) == kept, other_q


def test_demo_replay_bundle_flow_names_only_the_leaked_file(demo_index):
    from sandbox.captures import open_capture
    from sandbox.engine import Engine

    engine = Engine([demo_index], instrument=["10.20.0.5/32"])
    for seg in open_capture(DEMO / "demo.pcapng"):
        engine.feed(seg)
    found = [f for f in engine.finish() if "run-bytes" in f.evidence_kinds and f.flow == BUNDLE_FLOW]
    assert [[m.path for m in f.files] for f in found] == [[f"{CALLS}/PT9936-T1_S1_L001_R1_001.fastq.gz"]]
    assert found[0].samples == ["PT9936-T1"] and found[0].bytes_matched > 30_000

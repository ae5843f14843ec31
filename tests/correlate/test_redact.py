from __future__ import annotations

import gzip
import json

import numpy as np

from sandbox.correlate.redact import Redactor, preview
from sandbox.index import winnow as wn
from sandbox.model import Finding
from sandbox.safetext import MIN_DNA_RUN, marker, safe_text

SAMPLE = "PT1000-Biopsy"


def test_text_is_masked_binary_is_short_hex():
    assert preview(b"ACGTTGCAACGTTGCAACGT") == "A***************…"
    assert preview(b'{"seq":"ACGT"}') == '{"***":"****"}'
    assert preview(b"@M0:1\nAC") == "@**:*\\n**"
    assert preview(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03abc") == "1f8b080000000000…"
    assert preview(b"") == ""


def _fingerprinted_text(gen_run, ix) -> bytes:
    """A stretch of a run file's own bytes holding one of its fingerprints: no read, no line break."""
    streams = {}
    for n, f in enumerate(ix.files):
        raw = (gen_run.path / f.rel).read_bytes()
        streams[2 * n] = raw
        if f.rel.endswith(".gz"):
            streams[2 * n + 1] = gzip.decompress(raw)
    for loc, off in zip(np.asarray(ix.fp_loc).tolist(), np.asarray(ix.fp_off).tolist(), strict=True):
        piece = streams[loc][off: off + wn.K]
        if len(piece) == wn.K and piece.isascii() and safe_text(piece) == piece.decode():
            return piece
    raise AssertionError("no fingerprint of a plain run file lies on one line")


def test_run_bytes_in_a_label_are_hidden_with_their_word(gen_run, gen_index):
    piece = _fingerprinted_text(gen_run, gen_index)
    label = f"http/1.1 GET /q/x{piece.decode()}y?z 1"
    out = _redacted(Redactor([gen_index]), label)
    assert piece.decode() not in out
    assert out.startswith("http/1.1 GET «redacted ") and out.endswith("» 1")
    assert out == f"http/1.1 GET {marker(label.split(' ')[2].encode())} 1"


def test_reads_controls_and_plain_names_in_a_finding(gen_run, gen_index):
    read = gen_run.reads[SAMPLE][3].decode()
    redactor = Redactor([gen_index])
    f = Finding(id="x", severity="high", kind="sequence", channel="net", flow="udp 10.0.0.2:5 > 10.0.0.1:53",
                destination=f"{read[:60].lower()}.{read[60:120].lower()}.evil.example", t_first=0, t_last=0,
                samples=[SAMPLE], chain=["tcp", f"http/1.1 PUT /{read}", "tar:a\x1b]0;x\x07"],
                evidence=[{"chain": ["tcp", f"dns {read}"], "preview": "A***"}, {"identifier": "flowcell"}],
                detail={"examples": [f"{read[:50]}.evil.example"], "queries": 3, "floor": "exact"})
    out = redactor.findings([f])[0]
    shown = json.dumps(out.to_dict())
    assert read[:MIN_DNA_RUN] not in shown.upper()
    assert out.destination.endswith(".evil.example") and out.destination.startswith("«redacted ")
    assert out.chain == ["tcp", f"http/1.1 PUT /{marker(read, bases=True)}", "tar:a\\x1b]0;x\\x07"]
    assert out.evidence[1] == {"identifier": "flowcell"} and out.evidence[0]["preview"] == "A***"
    assert out.detail["queries"] == 3 and out.detail["floor"] == "exact"
    assert out.samples == [SAMPLE]  # the report names the samples a finding matched on purpose


def test_without_fingerprints_only_reads_and_controls_are_redacted():
    assert _redacted(Redactor([]), "upload.example/\x1b") == "upload.example/\\x1b"


def test_strings_of_many_findings_are_looked_up_together_and_stay_apart(gen_run, gen_index):
    piece = _fingerprinted_text(gen_run, gen_index).decode()
    redactor = Redactor([gen_index])
    labels = [f"a {piece[:20]}", f"{piece[20:]} b", f"x{piece}", "plain name", piece[:-1]]
    out = redactor.findings([_finding(label) for label in labels])
    assert [f.destination for f in out] == [labels[0], labels[1], marker(labels[2].encode()), "plain name",
                                            labels[4]]


def _finding(destination: str) -> Finding:
    return Finding(id="x", severity="high", kind="run-bytes", channel="net", flow="tcp a:1 > b:2",
                   destination=destination, t_first=0, t_last=0)


def _redacted(redactor: Redactor, text: str) -> str:
    return redactor.findings([_finding(text)])[0].destination


def test_flows_and_timeline_names_for_the_store_are_redacted_copies(gen_run, gen_index):
    from sandbox.model import FlowInfo

    word = _fingerprinted_text(gen_run, gen_index).decode().replace(" ", "_")
    info = FlowInfo(flow="tcp a:1 > b:2", channel="net", transport="tcp", src="a", sport=1, dst="b", dport=2,
                    destination=f"{word}.exfil.example")
    info.meta["host"] = f"{word}.exfil.example"
    redactor = Redactor([gen_index])
    (shown,) = redactor.flows([info])
    assert word not in shown.destination and "«redacted" in shown.destination
    assert word not in shown.meta["host"] and "«redacted" in shown.meta["host"]
    assert info.destination == f"{word}.exfil.example"        # the flow table keeps its own names
    assert redactor.strings([info.destination]) == [shown.destination]

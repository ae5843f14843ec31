"""safe_text: hostile strings from the wire in, strings every output can hold out."""

from __future__ import annotations

import pickle
import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from sandbox.safetext import (
    MAX_TEXT,
    MIN_DNA_RUN,
    SafeMeta,
    marker,
    redact_dna,
    redact_symbols,
    safe_text,
    safe_tree,
)

READ = "CCAAATGGTCGACCCCGATCGCCATACAAATTGTAGATTTGACCATCCGACAGGTAAGCCAAATTTC"
UNSAFE = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))] + [
    "\u2028", "\u2029", "\u202e", "\u2066", "\u200f", "\ufffe", "\uffff", "\ud800", "\udcff"]


def test_invalid_utf8_becomes_byte_escapes():
    assert safe_text(b"reads\xff\xfe.fastq") == "reads\\xff\\xfe.fastq"
    # str from surrogateescape decoding (tarfile, os.fsdecode) reads the same as the bytes
    assert safe_text(b"a\xffb".decode("utf-8", "surrogateescape")) == "a\\xffb"
    assert safe_text("caf\u00e9 \u5b9f\u9a13") == "caf\u00e9 \u5b9f\u9a13"  # real text stays


def test_control_bidi_and_non_xml_characters_are_escaped():
    assert safe_text("a\x1b[2J\x1b]0;title\x07\x00b") == "a\\x1b[2J\\x1b]0;title\\x07\\x00b"
    assert safe_text("x\nverdict: CLEAN\r\t") == "x\\nverdict: CLEAN\\r\\t"
    assert safe_text("admin\u202etxt.exe") == "admin\\u202etxt.exe"
    for ch in UNSAFE:
        out = safe_text(f"a{ch}b")
        assert out.isprintable() and out.encode("utf-8") and safe_text(out) == out


def test_reads_become_markers_with_length_and_hash():
    out = safe_text(f"http/1.1 POST /u/{READ}?x=1")
    assert READ not in out and out.startswith("http/1.1 POST /u/«redacted ") and out.endswith("»?x=1")
    assert out == f"http/1.1 POST /u/{marker(READ, bases=True)}?x=1"
    assert f"{len(READ)} B #" in out


def test_a_read_cut_into_labels_and_lowercased_hashes_like_the_read():
    host = f"{READ[:30].lower()}.{READ[30:].lower()}.evil.example"
    out = safe_text(host)
    assert out.endswith(".evil.example") and "redacted" in out
    assert out.split("#")[1][:8] == marker(READ, bases=True).split("#")[1][:8]


def test_a_read_written_in_four_other_symbols_is_hidden_too():
    """Bases as digits, as RNA or in any four letters (what the correlator reads as bases): before,
    a name carrying them was shown as it came, in the report, the store and the terminal."""
    for codes in ("0123", "ACGU", "wxyz", "TGCA"):
        written = READ.translate(str.maketrans("ACGT", codes))
        for name in (f"{written}.evil.example", f"/up/{written[:30]}/{written[30:]}?x=1", written.upper()):
            out = safe_text(name)
            assert "redacted" in out and written[:MIN_DNA_RUN].lower() not in out.lower(), name
            assert safe_text(out) == out
    assert redact_symbols(f"[{READ.replace('T', 'U')}]") == f"[{marker(READ.replace('T', 'U'))}]"


def test_a_variant_record_in_a_name_is_hidden():
    """A position with its alleles in a DNS label or a path (what the correlator reads as a variant):
    shown as a marker, as a read is."""
    for name in ("8216712-A-G.v.evil.example", "/calls/g.8216712A>G?x=1", "/v/8216712:a:g", "x 8216712_T_C y"):
        out = safe_text(name)
        assert "8216712" not in out and "redacted" in out and safe_text(out) == out, name
    for name in ("10.0.0.2", "2026-12-06T01:34:39Z", "v1.2-rc3", "PT9936-T1_S1", "at 10:45 a.m.", "404 Not Found"):
        assert safe_text(name) == name


def test_short_base_words_and_ordinary_names_stay():
    for name in ("tar:reads.fastq", "upload.example", "acacgtgt.cat", "PT9936-T1_S1_L001_R1_001.fastq.gz",
                 "ACGTACGTAC+TGCATGCATG", "A" * (MIN_DNA_RUN - 1), "2026120600000000000000001",
                 "0123012301230123012", "deadbeefdeadbeefdeadbeef.cdn.example", "1" * 40):
        assert safe_text(name) == name
    assert "redacted" in safe_text("A" * MIN_DNA_RUN)


def test_length_is_bounded_and_a_cut_says_so():
    out = safe_text("x" * 10_000_000)
    assert len(out) == MAX_TEXT and out.endswith("…")
    assert len(safe_text(b"\x01" * 5000, limit=40)) == 40


@given(st.one_of(st.binary(max_size=400), st.text(max_size=400)))
def test_total_idempotent_printable_valid_utf8(value):
    out = safe_text(value)
    assert _printable(out)
    out.encode("utf-8")  # no lone surrogate: raises otherwise
    assert safe_text(out) == out
    assert len(out) <= MAX_TEXT
    element = ET.Element("a", b=out)
    element.text = out
    assert (ET.fromstring(ET.tostring(element)).text or "") == out  # XML 1.0 takes it


def _printable(text: str) -> bool:
    """No character a terminal, a reader or an XML parser treats specially."""
    return not any(c in UNSAFE or 0xD800 <= ord(c) < 0xE000 for c in text)


def test_redact_dna_alone_leaves_everything_else():
    assert redact_dna("a\x1bb") == "a\x1bb"
    assert redact_dna(f"[{READ}]") == f"[{marker(READ, bases=True)}]"


def test_safe_tree_walks_json_like_values():
    tree = {"a\x1b": ["x\ny", (b"\xff", 3)], "n": None, "r": READ}
    out = safe_tree(tree)
    assert out == {"a\\x1b": ["x\\ny", ["\\xff", 3]], "n": None, "r": marker(READ, bases=True)}


def test_safe_meta_makes_values_safe_however_they_are_set():
    meta = SafeMeta({"host": f"{READ}.example"})
    meta["sni"] = "a\x1bb"
    meta.setdefault("user-agent", b"x\xff")
    meta.setdefault("user-agent", "not this")
    meta.update(cert_names=["ok", "b\x07"], allowed=True)
    assert meta == {"host": f"{marker(READ, bases=True)}.example", "sni": "a\\x1bb", "user-agent": "x\\xff",
                    "cert_names": ["ok", "b\\x07"], "allowed": True}
    again = pickle.loads(pickle.dumps(meta))  # the analyzer worker gets flows pickled
    assert type(again) is SafeMeta and again == meta

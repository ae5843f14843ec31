"""The expander: chains, dedupe, limits and their notes, decoder errors."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator

import pytest

from sandbox.decode import DECODERS, Budget, Decoder, Limits, expand
from sandbox.decode.expand import run
from sandbox.decode.limits import MiB

CHAIN = ("tcp", "http/1.1 POST /x")
TEXT = b"@r1\nACGTTGCAACGTTGCAACGTTGCA\n+\nFFFFFFFFFFFFFFFFFFFFFFFF\n" * 50


def test_first_view_is_the_input():
    exp = expand(b"hello", CHAIN)
    assert len(exp.views) == 1
    assert exp.views[0].data == b"hello" and exp.views[0].chain == CHAIN
    assert exp.notes == [] and exp.limits == []


def test_json_base64_gzip_chain():
    doc = json.dumps({"run": "x", "data": base64.b64encode(gzip.compress(TEXT)).decode()}).encode()
    exp = expand(doc, CHAIN)
    chains = {v.chain: v.data for v in exp.views}
    assert chains[CHAIN + ("json:$.data", "base64", "gzip")] == TEXT
    # the base64 in the JSON text is reached through its path, not as an anonymous run
    assert not any(label.startswith("base64@") for v in exp.views for label in v.chain)


def test_identical_outputs_are_kept_once():
    blob = base64.b64encode(gzip.compress(TEXT)).decode()
    doc = json.dumps({"a": blob, "b": [blob, blob]}).encode()
    exp = expand(doc, CHAIN)
    assert [v.chain for v in exp.views if v.data == TEXT] == [CHAIN + ("json:$.a", "base64", "gzip")]


def test_ratio_limit_names_decoder_place_and_what_it_left():
    bomb = gzip.compress(bytes(64 * MiB))
    doc = json.dumps({"data": base64.b64encode(bomb).decode()}).encode()
    limits = Limits(ratio_floor=1 * MiB)
    exp = expand(doc, CHAIN, limits)
    out = [v for v in exp.views if v.chain[-1] == "gzip"]
    assert len(out) == 1 and len(out[0].data) == 100 * len(bomb)
    (hit,) = exp.limits
    assert (hit.limit, hit.decoder, hit.chain) == ("expansion ratio 100x", "gzip", CHAIN + ("json:$.data", "base64"))
    assert hit.text == "expansion ratio 100x reached in gzip at base64"
    assert 0 < hit.bytes_left < len(bomb)  # the compressed bytes after the stop point
    assert hit.detail() == {"limit": "expansion ratio 100x", "decoder": "gzip", "bytes_not_examined": hit.bytes_left}


def test_total_output_limit():
    bomb = gzip.compress(bytes(8 * MiB))
    exp = expand(bomb, CHAIN, Limits(max_total_bytes=1 * MiB))
    assert sum(len(v.data) for v in exp.views[1:]) == 1 * MiB
    assert [h.text for h in exp.limits] == ["total output 1 MiB reached in gzip at http/1.1 POST /x"]


def test_view_limit():
    doc = json.dumps([f"value number {i:06d} of many" for i in range(100)]).encode()
    exp = expand(doc, CHAIN, Limits(max_views=10))
    assert len(exp.views) == 10
    (hit,) = exp.limits
    assert hit.text == "10 views reached in json at http/1.1 POST /x" and hit.bytes_left >= len(doc)


def test_depth_limit():
    data = TEXT
    for _ in range(4):
        data = gzip.compress(data)
    exp = expand(data, CHAIN, Limits(max_depth=2))
    assert max(len(v.chain) for v in exp.views) == len(CHAIN) + 2
    assert [h.text for h in exp.limits] == ["depth 2 reached in gzip at gzip"]


def test_text_decoders_skip_tiny_inputs():
    exp = expand(b"QUNHVA==", CHAIN)  # base64 of "ACGT": below the 16-byte floor
    assert len(exp.views) == 1


class _Broken(Decoder):
    name = "broken"

    @staticmethod
    def sniff(data: bytes) -> bool:
        return True

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        yield "broken", data[::-1]
        raise ValueError("bug")


def test_a_decoder_bug_is_reported_not_raised():
    exp = run([_Broken, *DECODERS], b"abcdefgh" * 4, CHAIN, Limits(max_depth=1))
    assert exp.views[1].chain == CHAIN + ("broken",)
    assert "error: broken raised ValueError: bug at http/1.1 POST /x" in exp.notes


class _BrokenSniff(_Broken):
    name = "broken-sniff"

    @staticmethod
    def sniff(data: bytes) -> bool:
        raise KeyError("sniff bug")


def test_a_sniffer_bug_is_reported_not_raised():
    exp = run([_BrokenSniff, *DECODERS], b"abcdefgh" * 4, CHAIN, Limits())
    assert exp.notes == ["error: broken-sniff sniff raised KeyError: 'sniff bug' at http/1.1 POST /x"]
    assert exp.limits == []


def test_decoder_names_are_unique_and_flags_consistent():
    names = [d.name for d in DECODERS]
    assert len(names) == len(set(names))
    order = {d: i for i, d in enumerate(DECODERS)}
    first_embedded = min(order[d] for d in DECODERS if d.embedded)
    assert all(order[d] < first_embedded for d in DECODERS if d.structural and not d.embedded)


@pytest.mark.parametrize("data", [b"", b"\x00", b"{", b"--", b"PK\x03\x04", b"\x1f\x8b\x08\x00"])
def test_tiny_inputs(data):
    assert expand(data, CHAIN).views[0].data == data


class _Boxes(Decoder):
    """A structural format of its own: "BOX" + a byte of length + that many bytes, in a row; each box
    says it is the format's, and what follows the last is not."""

    name = "boxes"
    structural = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data.startswith(b"BOX")

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        at = 0
        while at >= 0 and at + 4 + data[at + 3] <= len(data):
            end = at + 4 + data[at + 3]
            budget.took(at, end)
            yield f"box@{at}", data[at + 4:end]
            at = data.find(b"BOX", end)


def _box(content: bytes) -> bytes:
    return b"BOX" + bytes([len(content)]) + content


def test_bytes_a_structure_does_not_hold_are_a_view_of_their_own():
    """A gzip appended to a zip (or between its members, in its comment) was never searched: the zip
    took the view apart, and the streams inside it were looked for only where no structural decoder
    had.  What a structural decoder says it took is left out; the rest is read as a view."""
    boxes = _box(b"first box, text enough") + _box(b"second box, text enough")
    stream = gzip.compress(TEXT)
    for data, rest in ((boxes + stream, stream), (boxes[:26] + stream + boxes[26:], stream),
                       (boxes + b"\0" * 512, None), (boxes, None)):
        exp = run([_Boxes, *DECODERS], data, CHAIN, Limits())
        chains = {v.chain: v.data for v in exp.views}
        assert chains[CHAIN + ("box@0",)] == b"first box, text enough"
        assert chains.get(CHAIN + ("outside boxes",)) == rest        # zero padding alone is no view
        if rest is not None:
            assert chains[CHAIN + ("outside boxes", "gzip")] == TEXT
            assert not exp.limits and not exp.notes


def test_a_structure_that_says_nothing_of_what_it_took_holds_the_whole_view():
    class Whole(_Boxes):
        name = "whole"

        @staticmethod
        def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
            yield "all", data[4:]

    exp = run([Whole, *DECODERS], _box(b"a box of text, long enough") + gzip.compress(TEXT), CHAIN, Limits())
    assert [v.chain for v in exp.views if len(v.chain) == 3] == [CHAIN + ("all",)]


def test_the_bytes_outside_count_against_the_limits():
    data = _box(b"first box, text enough") + gzip.compress(TEXT)
    exp = run([_Boxes, *DECODERS], data, CHAIN, Limits(max_views=2))
    assert [v.chain for v in exp.views] == [CHAIN, CHAIN + ("box@0",)]
    assert [(h.limit, h.decoder) for h in exp.limits] == [("2 views", "boxes")]
    most = len(data) - 5      # the box's 22 bytes and all but one of the 65 after it
    exp = run([_Boxes, *DECODERS], data, CHAIN, Limits(max_total_bytes=most))
    assert [(h.limit, h.decoder, h.bytes_left) for h in exp.limits] == [(f"total output {most} B", "boxes", 65)]

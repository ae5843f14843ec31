"""HeadValues: a head's values by name across messages (query parameters, headers, cookies one by one)."""

from __future__ import annotations

from sandbox.model import Payload
from sandbox.protocols import headvalues
from sandbox.protocols.follow import flush_joined
from sandbox.protocols.headvalues import HeadValues, common_affixes, varying
from tests.protocols.test_stream_parsers_conformance import make_ctx

READS = b"ACGTTGCAAGGCTTAACCGGATATCGCGATTACAGGCATTGACCA" * 20


def _joined(items: list) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for p in items:
        if isinstance(p, Payload) and p.chain[-1] == "messages joined":
            out[p.chain[-2]] = out.get(p.chain[-2], b"") + p.data[p.repeated:]
    return out


def test_values_of_connections_to_one_destination_are_joined():
    """A connection a request: each head's values join those of the connections before to the same
    destination (the Dissector's shared state); another destination's are apart."""
    shared: dict = {}
    items = []
    for at in range(0, len(READS), 24):
        for host in ("lims.lab.example", "other.example"):
            ctx = make_ctx()
            ctx.shared, ctx.info.destination = shared, host
            values = HeadValues(ctx)
            piece = READS[at: at + 24] if host == "lims.lab.example" else b"%d" % at
            items += values.head("http/1.1 GET /p.gif", "/p.gif", [("x-trace", piece.decode())], "out", 1.0)
            items += values.close()
    items += flush_joined(shared, None)
    joined = b"".join(p.data[p.repeated:] for p in items if isinstance(p, Payload) and p.chain[-1] == "messages joined"
                      and p.destination == "lims.lab.example")
    assert READS in joined


def test_a_path_s_segments_are_read_by_position():
    values = HeadValues(make_ctx())
    items = []
    for at in range(0, len(READS), 24):
        items += values.head("http/1.1 GET /t", f"/t/{READS[at: at + 24].decode()}/p.gif", [], "out", 1.0)
    items += values.close() + flush_joined(values.ctx.shared, None)
    joined = _joined(items)
    assert joined["path/1"] == READS and "path/0" not in joined and "path/2" not in joined


def test_values_are_read_joined_by_name_and_repeats_skipped():
    values = HeadValues(make_ctx())
    items = []
    for n, at in enumerate(range(0, len(READS), 24)):
        piece = READS[at: at + 24].decode()
        headers = [("host", "lims.lab.example"), ("user-agent", "agent/1.0"), ("x-trace", piece),
                   ("cookie", f"sid=a81f; t={piece}")]
        items += values.head("http/1.1 GET /p.gif", f"/p.gif?n={n}&t={piece.replace('A', '%41')}", headers, "out", 1.0)
    items += values.close() + flush_joined(values.ctx.shared, None)
    joined = _joined(items)
    assert joined["header:x-trace"] == joined["cookie:t"] == joined["url:t"] == READS
    assert "header:host" not in joined and "cookie:sid" not in joined     # the same value each time: nothing new
    assert joined["url:n"] == b"".join(b"%d" % n for n in range(len(range(0, len(READS), 24))))


def test_inbound_heads_and_values_past_the_cap_are_not_taken(monkeypatch):
    values = HeadValues(make_ctx())
    assert values.head("l", "/x?a=1", [("x", "y")], "in", 1.0) == [] and not values.streams.streams
    monkeypatch.setattr(headvalues, "MAX_VALUES", 2)
    values.head("l", "/x?a=1&b=2&c=3", [("x", "y")], "out", 1.0)
    assert set(values.streams.streams) == {"path/0", "url:a"}       # the path's segments come first


def test_query_values_of_base64_letters_are_also_read_with_their_plus():
    """Base64 sent unescaped in a query: its "+" read as a space broke every piece that held one, and the
    pieces never joined.  Every value of base64's letters is also read as it is (``url:d(+)``)."""
    import base64
    import gzip

    text = base64.b64encode(gzip.compress(bytes(range(256)) * 8)).decode()
    shared: dict = {}
    items = []
    for at in range(0, len(text), 40):        # a connection a request, as a beacon makes them
        ctx = make_ctx()
        ctx.shared, ctx.info.destination = shared, "lims.lab.example"
        values = HeadValues(ctx)
        items += values.head("http/1.1 GET /b", f"/b?d={text[at:at + 40]}", [], "out", 1.0)
        items += values.close()
    items += flush_joined(shared, None)
    joined = b"".join(p.data[p.repeated:] for p in items if isinstance(p, Payload) and p.chain[-1] == "messages joined"
                      and p.chain[-2] == "url:d(+)")
    assert text.encode()[:len(text) // 40 * 40] in joined      # (a last piece under 16 letters is a word)
    assert not [p for p in values.head("http/1.1 GET /s", "/s?q=hello+world", [], "out", 1.0)
                if isinstance(p, Payload) and "(+)" in p.chain[-1]]


def test_what_changes_between_values_is_what_they_do_not_all_share():
    affixes = None
    for value in (b"a1b2.t.lims.example", b"c3d4.t.lims.example", b"e5f6.t.lims.example"):
        affixes = common_affixes(affixes, value)
    assert affixes == (b"", b".t.lims.example") and varying(affixes, b"0a0b.t.lims.example") == b"0a0b"
    affixes = None
    for value in (b"SSH-2.0-OpenSSH_9.6 a1b2", b"SSH-2.0-OpenSSH_9.6 c3d4", b"cookie"):
        affixes = common_affixes(affixes, value)
    assert affixes == (b"", b"")                       # a value that shares nothing ends the fixed parts
    assert common_affixes((b"ca", b"b"), b"cab") == (b"ca", b"b")
    assert common_affixes((b"ca", b"ab"), b"cab") == (b"ca", b"b")     # start and end never overlap
    assert varying((b"c", b""), b"c") == b"c"

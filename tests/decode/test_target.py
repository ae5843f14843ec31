"""A request line's (or HTTP/2 :path's) target: each query value a view of its own, the long path
segments joined."""

from __future__ import annotations

import base64

from sandbox.decode import expand
from sandbox.decode.target import TargetDecoder, path_runs, query_of

PIECE = b"@r1 1:N:0\nACGTTGCATGCATGCAAGTCGATCGATCGATGCTAGCTAGCTAGCTAG\n+\nFFFFF"


def _views(head: bytes) -> dict[tuple[str, ...], bytes]:
    return {v.chain: v.data for v in expand(head, ("tcp", "http/1.1 GET /q", "url")).views}


def test_each_value_of_a_request_line_s_query_is_a_view_and_decoded_on():
    value = base64.b32encode(PIECE).decode().rstrip("=")
    views = _views(f"GET /api/q?id=3&d={value}&x=%41%42 HTTP/1.1\r\nHost: lims\r\n\r\n".encode())
    assert views[("tcp", "http/1.1 GET /q", "url", "url:d")] == value.encode()
    assert views[("tcp", "http/1.1 GET /q", "url", "url:d", "base32")] == PIECE


def test_http2_path_and_percent_escapes():
    head = b":method: GET\r\n:path: /b?data=" + b"%40r1%20ACGTACGTACGTACGTACGT" + b"\r\n:authority: h\r\n"
    assert query_of(head) == b"data=%40r1%20ACGTACGTACGTACGTACGT"
    assert _views(head)[("tcp", "http/1.1 GET /q", "url", "url:data")] == b"@r1 ACGTACGTACGTACGTACGT"


def test_no_query_and_no_long_segment_no_view():
    for head in (b"GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n", b"GET /a?b=short HTTP/1.1\r\n\r\n",
                 b"not a request ?a=0123456789abcdef0123", b"GET /x?y HTTP/1.1\r\n",
                 b"POST /api/v2/instruments/registration HTTP/1.1\r\nHost: h\r\n\r\n"):
        assert len(expand(head, ("x",)).views) == 1, head
    assert not TargetDecoder.sniff(b"not a request /a/0123456789abcdef0123456789")


def test_a_path_segment_base64url_encoded_is_a_view_and_decoded_on():
    value = base64.urlsafe_b64encode(PIECE + b"\xfb\xff").decode().rstrip("=")
    assert "-" in value or "_" in value
    views = _views(f"GET /t/{value}/p.gif HTTP/1.1\r\nHost: lims\r\n\r\n".encode())
    assert views[("tcp", "http/1.1 GET /q", "url", "url path")] == value.encode()
    # read as a base64 run of the head (found there first) and as the whole of the path's view
    assert PIECE + b"\xfb\xff" in views.values()
    alone = {v.chain: v.data for v in expand(value.encode(), ("url path",)).views}
    assert alone[("url path", "base64")] == PIECE + b"\xfb\xff"


def test_long_segments_in_a_row_are_joined_short_ones_cut_the_runs():
    value = base64.b32encode(PIECE).decode().rstrip("=")
    pieces = "/".join(value[i:i + 40] for i in range(0, len(value), 40))
    head = f"GET http://lims.lab.example:8080/up/{pieces}/v1/{'%41' * 20}?x=1 HTTP/1.1\r\n\r\n".encode()
    assert path_runs(head) == [value.encode(), b"A" * 20]
    assert _views(head)[("tcp", "http/1.1 GET /q", "url", "url path", "base32")] == PIECE
    # segments of eight or more all shorter than 16: words of an API, no view
    assert path_runs(b"GET /instrument/runfolder/analysis HTTP/1.1\r\n") == []


def test_a_query_value_of_base64_sent_unescaped_is_also_read_with_its_plus():
    blob = bytes(range(256)) * 2
    text = base64.b64encode(blob)
    got = dict(TargetDecoder.decode(b"GET /b?d=" + text + b" HTTP/1.1", None))
    assert got["url:d(+)"] == text and b" " in got["url:d"]

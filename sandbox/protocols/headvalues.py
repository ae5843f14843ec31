"""The values a message head carries, read across messages.

A beacon can send data a few bytes a request, in a header (``X-Trace``), a cookie, a query parameter or
a path segment: reads 24 bytes a request, or base64url of a gzip of them 48 characters a request,
replayed clean, each head read on its own.  Now each header's, cookie's, query parameter's and path
position's value is a message of its own stream (``follow.MessageStreams``, by name: ``header:x-trace``,
``cookie:t``, ``url:t``, ``path/1``), so short values are read joined and followed, with those of the
other connections to the same site (a beacon that opens a connection a request); a value the same as
the one before under its name (Host, User-Agent, a session cookie) says nothing new and is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote_to_bytes

from sandbox.model import Observation, Payload
from sandbox.protocols.context import FlowContext
from sandbox.protocols.follow import MessageStreams

Items = list[Payload | Observation]
MAX_VALUES = 256        # values taken from one head (a head of thousands of cookies is read as it is)
FRAMING = frozenset(("content-length",))   # a fact about the body, which is read itself
SEPARATORS = (b".", b" ", b"/", b"-", b"_", b"=", b":", b";", b",", b"@")   # where a value's fixed part may end
MAX_SEGMENTS = 16       # a request path's segments read across requests, each position as a name
# A query value of base64's letters (escapes allowed): its "+" may be base64's, not a space; such values
# of a key are also read as they are, every one (a stream of pieces must not miss those without a "+").
_BASE64_VALUE = re.compile(r"(?:[A-Za-z0-9+/=]|%[0-9A-Fa-f]{2}){16,}")


def varying(last: bytes, value: bytes) -> bytes:
    """``value`` without what it shares with the value before it under its name at either end, cut at a
    separator (a host name's domain, a banner's software and version, a token's fixed prefix): a beacon
    that writes its data into ``<piece>.t.vendor.example`` or ``SSH-2.0-OpenSSH_9.6 <piece>`` a
    connection at a time had each piece cut from the next by what stays the same.  (Pieces of the data
    itself may share a start: the whole values are read as well.)"""
    if not last:
        return value
    n = min(len(last), len(value))
    head = 0
    while head < n and last[head] == value[head]:
        head += 1
    head = max(value.rfind(sep, 0, head) for sep in SEPARATORS) + 1 if head < len(value) else 0
    tail = 0
    while tail < n - head and last[-1 - tail] == value[-1 - tail]:
        tail += 1
    if tail:
        cut = [value.find(sep, len(value) - tail) for sep in SEPARATORS]
        tail = len(value) - min((c for c in cut if c >= 0), default=len(value))
    return value[head:len(value) - tail] or value


class HeadValues:
    """A connection's outbound head values by name (and the names a message protocol's messages go to:
    topics, routing keys), joined with those of the other connections to its destination (a beacon
    that opens a connection a request)."""

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.streams = MessageStreams(ctx, across=True)

    def head(self, label: str, target: str, headers: Iterable[tuple[str, str]], direction: str, t: float) -> Items:
        """A head's values: its request target's query parameters and its headers' (cookies one by one)."""
        if direction != "out":
            return []
        values: list[tuple[str, bytes]] = []
        path, _, query = target.partition("?")
        for n, segment in enumerate(path.split("/")[1:MAX_SEGMENTS + 1]):       # a position's changing segments
            values.append((f"path/{n}", unquote_to_bytes(segment)))
        for pair in query.split("&") if query else ():
            key, _, value = pair.partition("=")
            values.append((f"url:{key}", unquote_to_bytes(value.replace("+", " "))))
            if _BASE64_VALUE.fullmatch(value):   # a "+" may be base64's own (sent unescaped): read as it is
                values.append((f"url:{key}(+)", unquote_to_bytes(value)))
        for name, value in headers:
            if name == ":authority":       # HTTP/2's Host
                name = "host"
            if name.startswith(":") or name in FRAMING:
                continue
            if name == "cookie":
                for pair in value.split(";"):
                    key, _, cookie = pair.strip().partition("=")
                    values.append((f"cookie:{key}", cookie.encode("latin-1", "replace")))
            else:
                values.append((f"header:{name}", value.encode("latin-1", "replace")))
        return self.take(label, values, direction, t)

    def take(self, label: str, values: list[tuple[str, bytes]], direction: str, t: float) -> Items:
        """Values by name (a head's; an MQTT topic, an AMQP routing key), each a message of its name's
        stream unless it is the one that came before under its name (outbound only)."""
        if direction != "out":
            return []
        out: Items = []
        for key, value in values[:MAX_VALUES]:
            if not value:
                continue
            stream = self.streams.stream(key, out)
            last = stream.joined.last_value
            if last == value:
                continue
            stream.joined.last_value = value
            out += stream.follow(value, direction, (label, key), t, t)
            part = varying(last, value)
            if len(part) < len(value):     # what changes, read joined too (the whole may cut it)
                out += self.streams.stream(f"{key}(varying)", out).follow(part, direction, (label, f"{key}(varying)"), t, t)
        return out

    def idle(self) -> Items:
        return self.streams.idle()

    def close(self) -> Items:
        return self.streams.close()

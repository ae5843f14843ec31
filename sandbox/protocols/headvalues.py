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
# Values of a name after which what they all shared at either end is taken for a fixed part (two pieces
# of data share a first character one time in 16 if hex; three values in a row, one in 256).
STABLE_AFTER = 3
MAX_SEGMENTS = 16       # a request path's segments read across requests, each position as a name
# A query value of base64's letters (escapes allowed): its "+" may be base64's, not a space; such values
# of a key are also read as they are, every one (a stream of pieces must not miss those without a "+").
_BASE64_VALUE = re.compile(r"(?:[A-Za-z0-9+/=]|%[0-9A-Fa-f]{2}){16,}")


def common_affixes(affixes: tuple[bytes, bytes] | None, value: bytes) -> tuple[bytes, bytes]:
    """The start and end ``value`` shares with every value before it (``affixes``; None: the first)."""
    if affixes is None:
        return value, value
    prefix, suffix = affixes
    n = 0
    while n < min(len(prefix), len(value)) and prefix[n] == value[n]:
        n += 1
    m = 0
    while m < min(len(suffix), len(value) - n) and suffix[-1 - m] == value[-1 - m]:
        m += 1
    return prefix[:n], suffix[len(suffix) - m:] if m else b""


def varying(affixes: tuple[bytes, bytes], value: bytes) -> bytes:
    """``value`` without the start and end every value of its name has shared: a beacon that writes its
    data into ``<piece>.t.vendor.example``, ``SSH-2.0-OpenSSH_9.6 <piece>`` or a name ``c<piece>`` a
    connection at a time had each piece cut from the next by what stays the same.  (Pieces of the data
    itself may share a start by chance: the whole values are read as well.)"""
    prefix, suffix = affixes
    return value[len(prefix):len(value) - len(suffix)] or value


class HeadValues:
    """A connection's outbound head values by name (and the names a message protocol's messages go to:
    topics, routing keys), joined with those of the other connections to its destination (a beacon
    that opens a connection a request)."""

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.streams = MessageStreams(ctx, across=True)

    def head(self, label: str, target: str, headers: Iterable[tuple[str, str]], direction: str, t: float,
             method: str = "") -> Items:
        """A head's values: its request target's query parameters and its headers' (cookies one by one);
        and its names, each kind's in a row (``names:header``, ``names:cookie``, ``names:url``), and its
        method: a header, cookie or parameter of a name of its own each request, or a method of its own,
        carried hex of reads 60 characters a request, clean (a stream a name, a value each)."""
        if direction != "out":
            return []
        values: list[tuple[str, bytes]] = []
        names: dict[str, list[str]] = {"header": [], "cookie": [], "url": []}
        path, _, query = target.partition("?")
        for n, segment in enumerate(path.split("/")[1:MAX_SEGMENTS + 1]):       # a position's changing segments
            values.append((f"path/{n}", unquote_to_bytes(segment)))
        for pair in query.split("&") if query else ():
            key, _, value = pair.partition("=")
            names["url"].append(key)
            values.append((f"url:{key}", unquote_to_bytes(value.replace("+", " "))))
            if _BASE64_VALUE.fullmatch(value):   # a "+" may be base64's own (sent unescaped): read as it is
                values.append((f"url:{key}(+)", unquote_to_bytes(value)))
        for name, value in headers:
            if name == ":authority":       # HTTP/2's Host
                name = "host"
            elif name == ":method":
                method = value
            if name.startswith(":") or name in FRAMING:
                continue
            names["header"].append(name)
            if name == "cookie":
                for pair in value.split(";"):
                    key, _, cookie = pair.strip().partition("=")
                    names["cookie"].append(key)
                    values.append((f"cookie:{key}", cookie.encode("latin-1", "replace")))
            else:
                values.append((f"header:{name}", value.encode("latin-1", "replace")))
        values += [(f"names:{kind}", "\n".join(found).encode("latin-1", "replace")) for kind, found in names.items()]
        values.append(("method", method.encode("latin-1", "replace")))
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
            joined = stream.joined
            if joined.last_value == value:
                continue
            joined.last_value = value
            out += stream.follow(value, direction, (label, key), t, t)
            joined.affixes = common_affixes(joined.affixes, value)
            joined.values += 1
            if joined.values >= STABLE_AFTER and any(joined.affixes):     # what changes, read joined too
                part = varying(joined.affixes, value)
                out += self.streams.stream(f"{key}(varying)", out).follow(part, direction, (label, f"{key}(varying)"), t, t)
        return out

    def idle(self) -> Items:
        return self.streams.idle()

    def close(self) -> Items:
        return self.streams.close()

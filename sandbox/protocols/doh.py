"""DNS over HTTPS (RFC 8484) and public resolvers' JSON API: the DNS queries HTTP carries, read as DNS.

An instrument that tunnels reads through DNS names to a resolver it reaches over HTTPS (Windows 11,
browsers and most SDKs speak DoH) sent them as bodies of ``application/dns-message`` or as the
``dns`` parameter of a GET (base64url), or as the ``name`` of a JSON API GET (``/resolve?name=``):
to the HTTP parsers these were a binary body or a URL, the names' labels never joined, and 40 kB of
reads so sent to an allowed host replayed clean.  Each query is handed to the DNS parser's core
(``dns.DnsCore``, one per HTTP flow, on the chain ``... > doh``): its names batched per zone, their
data labels joined and decoded, its zones judged for tunnels, as for DNS on port 53.  Answers are not
read (what a resolver says over HTTPS vouches for no address).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from urllib.parse import parse_qsl, urlsplit

from sandbox.model import Observation, Payload
from sandbox.protocols.context import FlowContext
from sandbox.protocols.dns import DnsCore, plausible

DNS_MESSAGE = "application/dns-message"
# The JSON API's paths (Google's /resolve, Cloudflare's and Quad9's /dns-query with ?name=).
JSON_PATHS = ("/resolve", "/dns-query")
MAX_NAME = 253             # RFC 1035 2.3.4: longer is not a name a resolver takes
QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "NULL": 10, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
          "SRV": 33, "HTTPS": 65, "ANY": 255}

Items = list[Payload | Observation]


def query_wire(name: str, qtype: int) -> bytes | None:
    """A DNS query message for ``name`` (what the JSON API stands for), None if it is no name."""
    labels = [label.encode("utf-8", "surrogateescape") for label in name.strip(".").split(".")]
    if not name or len(name) > MAX_NAME or any(not 0 < len(label) < 64 for label in labels):
        return None
    qname = b"".join(bytes([len(label)]) + label for label in labels) + b"\0"
    return b"\0\0\1\0\0\1\0\0\0\0\0\0" + qname + qtype.to_bytes(2, "big") + b"\0\1"


def messages(payload: Payload) -> list[bytes]:
    """The DNS queries an HTTP request payload carries: a body of ``application/dns-message``, a
    request head's ``dns`` parameter, or its JSON API ``name`` (what does not parse as DNS is left to
    the scan the payload gets anyway)."""
    return [m for m in _candidates(payload) if plausible(m)]


def _candidates(payload: Payload) -> list[bytes]:
    meta = payload.meta
    if meta.get("head"):
        path = str(meta.get("path", ""))
        if "?" not in path:
            return []
        parts = urlsplit(path)
        params = parse_qsl(parts.query, keep_blank_values=False)
        found = []
        for key, value in params:
            if key == "dns":
                try:
                    found.append(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
                except (binascii.Error, ValueError):
                    continue
        if not found and parts.path.rstrip("/").endswith(JSON_PATHS):
            names = [value for key, value in params if key == "name"]
            qtype = next((value for key, value in params if key == "type"), "A")
            number = int(qtype) if qtype.isdigit() and int(qtype) < 65536 else QTYPES.get(qtype.upper(), 1)
            found = [wire for wire in (query_wire(n, number) for n in names) if wire is not None]
        return found
    if str(meta.get("content-type", "")).split(";")[0].strip().lower() == DNS_MESSAGE and payload.data:
        return [payload.data]
    return []


class DohReader:
    """The DNS queries of one HTTP flow's requests, read by a DNS core made on the first of them."""

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.core: DnsCore | None = None

    def read(self, items: Items) -> Items:
        """``items`` and, after each request payload carrying DNS queries, what DNS makes of them."""
        out: Items = []
        for item in items:
            out.append(item)
            if isinstance(item, Payload) and item.direction == self.ctx.client:
                for message in messages(item):
                    out.extend(self._core().message(item.direction, message, item.t_last))
        return out

    def idle(self) -> Items:
        return self.core.idle() if self.core is not None else []

    def close(self) -> Items:
        return self.core.close() if self.core is not None else []

    def _core(self) -> DnsCore:
        if self.core is None:
            self.core = DnsCore(dataclasses.replace(self.ctx, chain=self.ctx.chain + ("doh",)), owner=False)
        return self.core

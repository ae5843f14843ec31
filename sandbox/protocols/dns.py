"""DNS over UDP and TCP: query names and answer data as Payloads, plus tunnel detection.

DNS carries data out in its labels (iodine, dnscat2, DNSExfiltrator) and in through TXT/NULL
answers, so every outbound query name is a Payload twice: as the name (``"dns query A"``) and as
the label data without the registered domain (``"dns qname"``) so base32/hex/base64 decoders see
one contiguous string.  Content-bearing records (TXT, NULL, CNAME, unknown types) are Payloads in
the direction of their message.  Per registered domain ("zone") a bounded tracker kept in
``ctx.shared`` across flows scores tunnelling and emits one ``Observation(kind="dns-tunnel")``:
either for volume (many unique names plus corroborating signals, as iodine/dnscat2 make) or,
at low volume, for a few names whose labels are plainly encoded data (a sample ID and a few
reads in hex/base32 need only a handful of queries).
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sandbox.model import Observation, Payload
from sandbox.protocols.context import FlowContext, ParseError
from sandbox.protocols.follow import MessageStreams
from sandbox.protocols.resolved import answered, resolutions
from sandbox.protocols.zones import split_zone
from sandbox.safetext import safe_text

# --------------------------------------------------------------------------- limits

# RFC 1035 2.3.4: a name is at most 255 octets on the wire; labels at most 63.
MAX_NAME = 255
# Compression pointers followed per name: a legal name has at most 127 labels, so more jumps
# than that can only be a loop (RFC 1035 4.1.4 does not forbid loops; we must).
MAX_POINTER_JUMPS = 128
# Records parsed per message section: a 64 KiB message cannot hold more than ~5000 minimal RRs;
# real answers have a few dozen.  Beyond this the message is hostile and we stop.
MAX_RECORDS = 512
# A query's fields read as values of their streams (its id, questions, records): a message of
# hundreds of records is read as it is besides.
MAX_FIELD_VALUES = 64
# DNS over TCP frames a message with a 2-byte length (RFC 1035 4.2.2): 65535 is the maximum.
MAX_TCP_MESSAGE = 65535
# Query names remembered per flow to skip retransmits: resolvers retry a few times.
RECENT_NAMES = 64
# Zones tracked across the capture (LRU): an instrument talks to a few dozen domains; a scan of
# thousands of random zones is itself odd but must not grow memory without end.
MAX_ZONES = 4096
# Distinct names remembered per zone (as 8-byte hashes); beyond it the count only grows by
# "new name" guesses, which is plenty to decide "many unique subdomains".
MAX_UNIQUE_NAMES = 4096
# Example names kept per zone in the Observation, and their length: enough for a reviewer.
MAX_EXAMPLES = 5
EXAMPLE_LEN = 80
# Query names to one zone go out in batches: a tunnel splits its data over thousands of queries,
# and a Payload per query (and a decoded view per data label) made a decode and a match per query.
# A batch holds this many bytes of names (~150 long tunnel names, ~1000 short ones)...
DNS_BATCH_BYTES = 32 << 10
# ... and is sent once it is this old, with the next message or at close: live findings stay prompt.
DNS_BATCH_SECONDS = 1.0
# Batches open per flow (per zone, query type and direction); past this the oldest is sent.
MAX_BATCHES = 64

# Tunnel scoring (per zone).  Normal browsing sees a handful of names per domain; a tunnel
# needs a fresh name per chunk of data, so uniqueness is the gate and the rest corroborate.
TUNNEL_MIN_UNIQUE = 30          # distinct names below the zone
TUNNEL_LONG_LABEL = 20          # a data label: iodine/dnscat use 50-63; hostnames are short words
TUNNEL_LABEL_ENTROPY = 3.3      # bits/char: base32 ~5, hex 4, English words ~2.5-3.2
TUNNEL_LONG_FRACTION = 0.3      # share of names carrying a long high-entropy label
TUNNEL_TXT_NULL_FRACTION = 0.5  # share of queries for TXT/NULL/unknown types (data returns)
TUNNEL_RATE = 5.0               # queries/s sustained over TUNNEL_RATE_MIN_SPAN seconds
TUNNEL_RATE_MIN_SPAN = 5.0
TUNNEL_LABEL_BYTES = 4096       # bytes of subdomain labels sent to one zone
TUNNEL_MIN_SIGNALS = 2          # corroborating signals needed on top of uniqueness
# Queries between live re-checks of an unreported zone (the final check is at close).
TUNNEL_CHECK_EVERY = 256

# Low-volume rule: a handful of names carrying encoded data is a leak without any volume.
TUNNEL_ENCODED_NAMES = 4        # distinct such names below one zone (a sample ID + a few reads)
TUNNEL_ENCODED_CHARS = 24       # encoded chars per name: CDN hash labels (d1234abcd.cloudfront.net) are 8-16
TUNNEL_DATA_LABEL_MIN = 12      # shorter labels are words, counters, short ids; data labels run 30-63
TUNNEL_HEX_ENTROPY = 1.5        # bits/char: hex of DNA text is ~2 (only 0-7 and e); "000..." is padding
TUNNEL_B32_ENTROPY = 3.0        # base32/base64url data: ~3.5 at 15 chars, ~4.5 at 60; words with a digit lower
TUNNEL_B32_VOWELS = 0.3         # share of aeiou: base32 data ~0.16, hostname words ("node7worker") ~0.35-0.45
# Never tunnels here: reverse lookups (RFC 1035 3.5 in-addr.arpa, RFC 3596 ip6.arpa: 32 nibble
# labels) are structured numbers, and mDNS/DNS-SD (RFC 6762/6763 .local) never leaves the link.
BENIGN_TLDS = {b"arpa", b"local"}

DNS_PORTS = (53, 5353, 5355)

TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 10: "NULL", 12: "PTR", 13: "HINFO", 15: "MX",
         16: "TXT", 28: "AAAA", 33: "SRV", 35: "NAPTR", 41: "OPT", 43: "DS", 46: "RRSIG",
         47: "NSEC", 48: "DNSKEY", 50: "NSEC3", 64: "SVCB", 65: "HTTPS", 99: "SPF", 255: "ANY",
         257: "CAA"}
# Types whose rdata is structured addresses/keys, not free data: not emitted as Payloads.
STRUCTURED_TYPES = {1, 2, 6, 12, 15, 28, 33, 41, 43, 46, 47, 48, 50, 64, 65, 257}
NAME_RDATA_TYPES = {5}          # CNAME: rdata is a (compressible) name
# ...but the instrument chooses every byte of what it sends: a structured record of its own longer
# than this (an EDNS option's data, a key, a signature; cookies and padding are shorter or zeros) is
# scanned as data.
MAX_STRUCTURED_OUT = 40
ADDRESS_TYPES = {1, 28}         # A, AAAA
TXT_TYPES = {16, 99}            # character-strings
DATA_QUERY_TYPES = {10, 16, 99, 13}  # types tunnels ask for to get data back (plus unknown)

_HEADER = struct.Struct("!HHHHHH")
_QFIXED = struct.Struct("!HH")
_RRFIXED = struct.Struct("!HHIH")


class DnsError(ParseError):
    pass


@dataclass(slots=True)
class Record:
    name: list[bytes]
    rtype: int
    rclass: int
    ttl: int
    rdata: bytes        # raw rdata (names inside are not decompressed)
    data: bytes | None  # the free data it carries (TXT strings joined, CNAME text, NULL bytes)


@dataclass(slots=True)
class Message:
    id: int
    flags: int
    questions: list[tuple[list[bytes], int, int]] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)   # answer + authority + additional

    @property
    def response(self) -> bool:
        return bool(self.flags & 0x8000)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF


def read_name(buf: bytes, pos: int) -> tuple[list[bytes], int]:
    """Labels of the name at ``pos`` and the offset after it (pointers followed, loops refused)."""
    labels: list[bytes] = []
    total = 0
    end = -1
    jumps = 0
    n = len(buf)
    while True:
        if pos >= n:
            raise DnsError("name runs past the message")
        length = buf[pos]
        if length == 0:
            if end < 0:
                end = pos + 1
            return labels, end
        kind = length & 0xC0
        if kind == 0xC0:
            if pos + 1 >= n:
                raise DnsError("truncated compression pointer")
            if end < 0:
                end = pos + 2
            target = ((length & 0x3F) << 8) | buf[pos + 1]
            jumps += 1
            if target >= pos or jumps > MAX_POINTER_JUMPS:   # only backward pointers: no loops
                raise DnsError("compression pointer loop or forward pointer")
            pos = target
            continue
        if kind:
            raise DnsError(f"unsupported label type 0x{length:02x}")
        label = buf[pos + 1: pos + 1 + length]
        if len(label) != length:
            raise DnsError("label runs past the message")
        total += length + 1
        if total > MAX_NAME:
            raise DnsError("name longer than 255 octets")
        labels.append(label)
        pos += 1 + length


def _txt(rdata: bytes) -> bytes:
    parts = []
    pos = 0
    while pos < len(rdata):
        n = rdata[pos]
        parts.append(rdata[pos + 1: pos + 1 + n])
        pos += 1 + n
    return b"".join(parts)


def parse_message(buf: bytes) -> Message:
    """Parse one DNS message (RFC 1035 section 4) or raise ``DnsError``."""
    return _parse(buf)[0]


def _parse(buf: bytes) -> tuple[Message, int]:
    """The message and the offset where it ended (bytes after it are not the message's)."""
    if len(buf) < _HEADER.size:
        raise DnsError("message shorter than the 12-byte header")
    ident, flags, qd, an, ns, ar = _HEADER.unpack_from(buf)
    if qd > MAX_RECORDS or an + ns + ar > 3 * MAX_RECORDS:
        raise DnsError("implausible record counts")
    msg = Message(ident, flags)
    pos = _HEADER.size
    for _ in range(qd):
        labels, pos = read_name(buf, pos)
        if pos + 4 > len(buf):
            raise DnsError("truncated question")
        qtype, qclass = _QFIXED.unpack_from(buf, pos)
        pos += 4
        msg.questions.append((labels, qtype, qclass))
    for _ in range(an + ns + ar):
        labels, pos = read_name(buf, pos)
        if pos + 10 > len(buf):
            raise DnsError("truncated resource record")
        rtype, rclass, ttl, rdlen = _RRFIXED.unpack_from(buf, pos)
        pos += 10
        rdata = buf[pos: pos + rdlen]
        if len(rdata) != rdlen:
            raise DnsError("rdata runs past the message")
        data: bytes | None = None
        if rtype in TXT_TYPES:
            data = _txt(rdata)
        elif rtype in NAME_RDATA_TYPES:
            data = b".".join(read_name(buf, pos)[0])
        elif rtype not in STRUCTURED_TYPES:
            data = rdata
        msg.records.append(Record(labels, rtype, rclass, ttl, rdata, data))
        pos += rdlen
    return msg, pos


# What DNS on a port not its own must look like (nothing else vouches for it): a standard query or
# its answer, one question of a known type and class, printable labels, nothing left over.
_HEURISTIC_OPCODES = {0}                 # QUERY (RFC 1035); IQUERY/STATUS/NOTIFY/UPDATE are not tunnels' shape
_HEURISTIC_CLASSES = {1, 3, 255}         # IN, CH, ANY
_OPT = 41                                # EDNS(0) pseudo-record: its class is a buffer size (RFC 6891)
_Z_BIT = 0x0040                          # reserved, must be zero (RFC 1035 4.1.1)
_PRINTABLE_LABEL = re.compile(rb"[\x21-\x7e]+")


def looks_like_dns(buf: bytes) -> bool:
    """True for one whole, ordinary DNS message: how DNS is recognised on any port, by content.

    Strict, as Wireshark's heuristic dissectors are, because a false positive turns some other
    protocol's bytes into "DNS": random bytes pass with odds far below 2**-48 (one question, no
    answers in a query, a known type and class, every byte accounted for).
    """
    if len(buf) < _HEADER.size + 5:
        return False
    _ident, flags, qd, an, ns, ar = _HEADER.unpack_from(buf)
    if qd != 1 or flags & _Z_BIT or (flags >> 11) & 0xF not in _HEURISTIC_OPCODES:
        return False
    if not flags & 0x8000 and (an or ns or ar > 1 or flags & 0xF):   # a query: no records but EDNS, no rcode
        return False
    try:
        msg, end = _parse(buf)
    except DnsError:
        return False
    if end != len(buf):
        return False
    labels, qtype, qclass = msg.questions[0]
    if not labels or qtype not in TYPES or qclass not in _HEURISTIC_CLASSES:
        return False
    if not all(_PRINTABLE_LABEL.fullmatch(label) for label in labels):
        return False
    return all(r.rtype == _OPT or (r.rtype in TYPES and r.rclass in _HEURISTIC_CLASSES) for r in msg.records)


def type_name(rtype: int) -> str:
    return TYPES.get(rtype, f"TYPE{rtype}")


_HEX_LABEL = re.compile(rb"[0-9a-f]+", re.IGNORECASE)
_B32_LABEL = re.compile(rb"[a-z2-7]+", re.IGNORECASE)   # RFC 4648 base32 alphabet (case-folded by DNS)
_B64_LABEL = re.compile(rb"[A-Za-z0-9_-]+")              # base64url, case kept by most resolvers
_DIGIT = re.compile(rb"[0-9]")
_LOWER = re.compile(rb"[a-z]")
_UPPER = re.compile(rb"[A-Z]")
_VOWELS = re.compile(rb"[aeiou]", re.IGNORECASE)


def label_alphabet(label: bytes) -> str:
    """"hex", "base32" or "base64" for a label long enough to carry data and written in that
    alphabet (the first that fits), else "": where a label's bytes go in a ``dns qname`` payload."""
    if len(label) < TUNNEL_DATA_LABEL_MIN:
        return ""
    if _HEX_LABEL.fullmatch(label):
        return "hex"
    if _B32_LABEL.fullmatch(label):
        return "base32"
    if _B64_LABEL.fullmatch(label):
        return "base64"
    return ""


def label_encoding(label: bytes, alphabet: str | None = None) -> str:
    """The alphabet of a label shaped like encoded data, "" for a word or a host: tunnel evidence.

    Hex needs a digit (a-f words exist) and some variety; base32 a digit and few vowels (plain
    words fit its alphabet too); base64url both cases and a digit.  All need enough entropy.
    """
    alphabet = label_alphabet(label) if alphabet is None else alphabet
    if not alphabet or _DIGIT.search(label) is None:
        return ""
    if alphabet == "hex":
        return alphabet if _entropy(label) >= TUNNEL_HEX_ENTROPY else ""
    if alphabet == "base32":
        return (alphabet if len(_VOWELS.findall(label)) <= TUNNEL_B32_VOWELS * len(label)
                and _entropy(label.lower()) >= TUNNEL_B32_ENTROPY else "")
    return (alphabet if _LOWER.search(label) is not None and _UPPER.search(label) is not None
            and _entropy(label) >= TUNNEL_B32_ENTROPY else "")


def label_alphabets(sub: list[bytes]) -> list[str]:
    """``label_alphabet`` of each subdomain label; all "" in a service name.

    Names with a ``_label`` (``_ipp._tcp``, ``_dmarc``, ``_acme-challenge``) name services or
    policies: their long instance labels (a Chromecast id) are identifiers, not payload.
    """
    if any(lab[:1] == b"_" for lab in sub):
        return [""] * len(sub)
    return [label_alphabet(lab) for lab in sub]


def encoded_chars(sub: list[bytes], alphabets: list[str] | None = None) -> int:
    """Characters of the subdomain labels ``sub`` that look like encoded data."""
    alphabets = label_alphabets(sub) if alphabets is None else alphabets
    return sum(len(lab) for lab, alphabet in zip(sub, alphabets, strict=True)
               if alphabet and label_encoding(lab, alphabet))


def _entropy(label: bytes) -> float:
    n = len(label)
    return -sum(c / n * math.log2(c / n) for c in Counter(label).values())


def _text(labels: list[bytes]) -> str:
    """A name from the wire as the core shows it (zone, destination, examples): made safe once."""
    return safe_text(b".".join(labels))


# --------------------------------------------------------------------------- tunnel tracking


@dataclass(slots=True)
class _Zone:
    zone: str
    flow: str
    channel: str
    resolver: str
    t_first: float
    t_last: float = 0.0
    queries: int = 0
    unique: int = 0
    seen: set[bytes] = field(default_factory=set)
    label_bytes: int = 0
    long_names: int = 0
    encoded_names: int = 0
    data_queries: int = 0
    max_label: int = 0
    examples: list[str] = field(default_factory=list)
    reported: bool = False
    reported_bytes: int = 0      # label bytes the observations so far carried
    reported_queries: int = 0    # queries counted when the last observation went out
    signals_found: list[str] = field(default_factory=list)


class ZoneTracker:
    """Query statistics per (client, zone), shared by every DNS flow of one Dissector (bounded, LRU).

    Per client, because one client's names are one tunnel whatever resolver they go through.
    """

    def __init__(self) -> None:
        self.zones: OrderedDict[tuple[str, str], _Zone] = OrderedDict()
        self.open_parsers = 0

    def query(self, ctx: FlowContext, client: str, labels: list[bytes], qtype: int, t: float,
              split: tuple[list[bytes], list[bytes]], alphabets: list[str]) -> list[Observation]:
        """Count one query: ``split_zone(labels)`` and the ``label_alphabets`` of its subdomain."""
        sub, zone_labels = split
        if not sub or zone_labels[-1].lower() in BENIGN_TLDS:
            return []
        zone_name = _text([lab.lower() for lab in zone_labels])
        key = (client, zone_name)
        z = self.zones.get(key)
        if z is None:
            z = _Zone(zone_name, ctx.flow, ctx.channel, ctx.destination, t)
            self.zones[key] = z
            if len(self.zones) > MAX_ZONES:
                self.zones.popitem(last=False)
        else:
            self.zones.move_to_end(key)
        z.queries += 1
        z.t_last = t
        name = b".".join(sub).lower()
        key = hashlib.blake2b(name, digest_size=8).digest()
        if key not in z.seen:
            if len(z.seen) < MAX_UNIQUE_NAMES:
                z.seen.add(key)
            z.unique += 1
            z.label_bytes += len(name) - len(sub) + 1
            longest = max(sub, key=len)
            z.max_label = max(z.max_label, len(longest))
            if len(longest) >= TUNNEL_LONG_LABEL and _entropy(longest) >= TUNNEL_LABEL_ENTROPY:
                z.long_names += 1
            if encoded_chars(sub, alphabets) >= TUNNEL_ENCODED_CHARS:
                z.encoded_names += 1
            if len(z.examples) < MAX_EXAMPLES:
                z.examples.append(_text(labels)[:EXAMPLE_LEN])
        if qtype in DATA_QUERY_TYPES or qtype not in TYPES:
            z.data_queries += 1
        if z.queries % TUNNEL_CHECK_EVERY == 0:
            return self._judge(z)
        return []

    def signals(self, z: _Zone) -> list[str]:
        """Which volume signals this zone shows (empty unless names are many and unique)."""
        if z.unique < TUNNEL_MIN_UNIQUE:
            return []
        found = []
        if z.long_names >= TUNNEL_LONG_FRACTION * z.unique:
            found.append("long high-entropy labels")
        if z.data_queries >= TUNNEL_TXT_NULL_FRACTION * z.queries:
            found.append("TXT/NULL heavy")
        span = z.t_last - z.t_first
        if span >= TUNNEL_RATE_MIN_SPAN and z.queries / span >= TUNNEL_RATE:
            found.append("high query rate")
        if z.label_bytes >= TUNNEL_LABEL_BYTES:
            found.append("many bytes in labels")
        return found

    def _judge(self, z: _Zone) -> list[Observation]:
        """Flag a zone for volume (unique names + signals) or for a few encoded-data names; a zone
        flagged before and queried since gets an update (the correlator merges it into its finding,
        adding only the label bytes not counted yet)."""
        if z.reported:
            return self._observation(z, z.signals_found) if z.queries > z.reported_queries else []
        found = self.signals(z)
        encoded = z.encoded_names >= TUNNEL_ENCODED_NAMES
        if len(found) < TUNNEL_MIN_SIGNALS and not encoded:
            return []
        if encoded:
            found.append("encoded data in labels")
        z.reported = True
        z.signals_found = found
        return self._observation(z, found)

    def _observation(self, z: _Zone, found: list[str]) -> list[Observation]:
        new_bytes = z.label_bytes - z.reported_bytes
        z.reported_bytes, z.reported_queries = z.label_bytes, z.queries
        span = max(z.t_last - z.t_first, 1e-9)
        detail: dict[str, Any] = {
            "domain": z.zone, "resolver": z.resolver, "queries": z.queries, "unique_names": z.unique,
            "bytes_in_labels": z.label_bytes, "max_label": z.max_label,
            "long_label_names": z.long_names, "encoded_names": z.encoded_names, "txt_null_queries": z.data_queries,
            "rate_per_s": round(z.queries / span, 2), "signals": found, "examples": list(z.examples)}
        return [Observation(kind="dns-tunnel", severity="medium", flow=z.flow, channel=z.channel,
                            destination=z.zone, t_first=z.t_first, t_last=z.t_last,
                            bytes_out=new_bytes, chain=("udp", "dns"), detail=detail)]

    def judge_all(self) -> list[Observation]:
        out: list[Observation] = []
        for z in self.zones.values():
            out.extend(self._judge(z))
        return out


def tracker(shared: dict[str, Any]) -> ZoneTracker:
    t = shared.get("dns.zones")
    if t is None:
        t = shared["dns.zones"] = ZoneTracker()
    return t


# --------------------------------------------------------------------------- parsers


@dataclass(slots=True)
class _Batch:
    """Query names bound for one zone, not yet sent on as Payloads (see ``DnsCore._send``)."""

    zone: str
    qtype: str
    direction: str
    t_first: float
    t_last: float
    names: list[bytes] = field(default_factory=list)   # each name without its data labels
    data: dict[str, list[bytes]] = field(default_factory=dict)   # data labels in order, per encoding
    size: int = 0


class DnsCore:
    """Message -> Payloads/Observations, shared by the UDP and TCP parsers (and DNS over HTTPS).

    ``owner``: the core is its flow's parser, counted among the open parsers the zones are judged
    after (the last to close judges them); a core inside another protocol's parser is not (that
    parser may be replaced without closing it) and judges them at its close when no DNS parser is open."""

    def __init__(self, ctx: FlowContext, owner: bool = True) -> None:
        self.ctx = ctx
        self.zones = tracker(ctx.shared)
        self.owner = owner
        self.zones.open_parsers += owner
        self.recent: OrderedDict[tuple[bytes, int], None] = OrderedDict()
        self.batches: OrderedDict[tuple[str, str, str], _Batch] = OrderedDict()
        self.fields = MessageStreams(ctx, across=True)     # the fields a query's sender chose (``_fields``)
        self.closed = False
        if owner:
            ctx.info.app = "dns"

    def message(self, direction: str, buf: bytes, t: float) -> list[Payload | Observation]:
        ctx = self.ctx
        try:
            msg = parse_message(buf)
        except DnsError as exc:   # not DNS after all (or hostile): keep the bytes scannable
            ctx.error(f"dns: {exc}")
            return [ctx.payload(buf, "dns malformed", direction, t)]
        out: list[Payload | Observation] = self._send_old(t)
        if msg.response and direction == "in" and msg.questions:
            self._resolved(msg)
        if not msg.response and direction == "out":
            out += self._fields(msg, t)
        if not msg.response:
            client = ctx.info.src if direction == "out" else ctx.info.dst
            for labels, qtype, _qclass in msg.questions:
                key = (b".".join(labels).lower(), qtype)
                if key in self.recent:
                    continue
                self.recent[key] = None
                if len(self.recent) > RECENT_NAMES:
                    self.recent.popitem(last=False)
                sub, zone = split_zone(labels)
                alphabets = label_alphabets(sub)
                out.extend(self._batch(labels, sub, zone, alphabets, type_name(qtype), direction, t))
                # a query always goes client -> resolver, whichever side the flow table calls "out"
                out.extend(self.zones.query(ctx, client, labels, qtype, t, (sub, zone), alphabets))
        for rec in msg.records:
            data = rec.data
            if not data and direction == "out" and rec.rtype not in ADDRESS_TYPES \
                    and len(rec.rdata.strip(b"\0")) > MAX_STRUCTURED_OUT:
                data = rec.rdata     # EDNS option data, a key or signature of the instrument's choosing
            if data:
                tname = type_name(rec.rtype)
                out.append(ctx.payload(data, f"dns {'answer' if msg.response else 'record'} {tname}",
                                       direction, t, meta={"rtype": tname, "name": _text(rec.name)}))
        return out

    def _fields(self, msg: Message, t: float) -> list[Payload | Observation]:
        """A query's values its sender chose that no name shows, each a message of its field's stream
        across the queries to the resolver (``MessageStreams``): its id (two bytes a query), its questions'
        types and classes, the fixed fields and data of records that are not read as data (an EDNS
        cookie, 8 to 40 bytes a query, a buffer size and flags).  Reads two bytes a query in the ids, or
        in cookies, of queries for one name replayed clean: a name asked again says nothing new."""
        values = [("dns id", msg.id.to_bytes(2, "big"))]
        for _, qtype, qclass in msg.questions:
            values += [("dns question type", qtype.to_bytes(2, "big")), ("dns question class", qclass.to_bytes(2, "big"))]
        for rec in msg.records:
            if rec.data is None:
                name = f"dns record {type_name(rec.rtype)}"
                values += [(f"{name} class", rec.rclass.to_bytes(2, "big")), (f"{name} ttl", rec.ttl.to_bytes(4, "big"))]
                values += _options(rec.rdata) if rec.rtype == _OPT else [(name, rec.rdata)]
        out: list[Payload | Observation] = []
        for key, value in values[:MAX_FIELD_VALUES]:
            out += self.fields.stream(key, out).follow(value, "out", (key,), t, t)
        return out

    def _resolved(self, msg: Message) -> None:
        """The addresses an answer to the instrument gave, by name and resolver (see ``resolved``)."""
        addresses = [(b".".join(rec.name).lower(), rec.rdata) for rec in msg.records if rec.rtype in ADDRESS_TYPES]
        if not addresses:
            return
        cnames = {b".".join(rec.name).lower(): rec.data.lower() for rec in msg.records
                  if rec.rtype in NAME_RDATA_TYPES and rec.data}
        book, resolver = resolutions(self.ctx.shared), self.ctx.info.dst
        for address, name in answered([b".".join(q[0]).lower() for q in msg.questions], cnames, addresses):
            book.add(address, name, resolver)

    def _batch(self, labels: list[bytes], sub: list[bytes], zone: list[bytes], alphabets: list[str], qtype: str,
               direction: str, t: float) -> list[Payload]:
        """Add a query name to its zone's batch; the batch goes out when full."""
        # The name's data travels on to the zone's own servers: that is where it leaks to.
        zone_name = _text(zone) or self.ctx.destination
        key = (zone_name, qtype, direction)
        batch = self.batches.get(key)
        out: list[Payload] = []
        if batch is None:
            if len(self.batches) >= MAX_BATCHES:
                out += self._send(self.batches.popitem(last=False)[1])
            batch = self.batches[key] = _Batch(zone_name, qtype, direction, t, t)
        plain = [lab for lab, alphabet in zip(sub, alphabets, strict=True) if not alphabet]
        batch.names.append(b".".join(labels))
        if len(plain) < len(sub):
            for lab, alphabet in zip(sub, alphabets, strict=True):
                if alphabet:
                    batch.data.setdefault(alphabet, []).append(lab)
        elif sub:
            batch.data.setdefault("", []).append(b"".join(sub))
        batch.size += 2 * sum(len(lab) + 1 for lab in labels)
        batch.t_last = t
        if batch.size >= DNS_BATCH_BYTES:
            out += self._send(self.batches.pop(key))
        return out

    def _send_old(self, t: float) -> list[Payload | Observation]:
        out: list[Payload | Observation] = []
        while self.batches:
            key, batch = next(iter(self.batches.items()))
            if t - batch.t_first < DNS_BATCH_SECONDS:
                break
            del self.batches[key]
            out += self._send(batch)
        return out

    def _send(self, batch: _Batch) -> list[Payload]:
        """A batch as two Payloads: the names, and the data their labels carry.

        ``dns query TYPE``: the names one per line, whole (a name's labels can be a record written
        out: ``8216712-A-G.x.example``).  ``dns qname``: the data labels (long labels in the hex,
        base32 or base64 alphabet, see ``label_alphabet``), joined in query order, one line
        per encoding: a tunnel's chunks join back into the stream it cut up, so decoders see one run
        (and the correlator one view) per batch instead of one per label.  Names without data
        labels add their subdomain labels joined, one per line.
        """
        ctx = self.ctx
        meta = {"qtype": batch.qtype, "queries": len(batch.names), "resolver": ctx.destination}
        sent = [ctx.payload(b"\n".join(batch.names), f"dns query {batch.qtype}", batch.direction, batch.t_first,
                            batch.t_last, meta=meta)]
        if batch.data:
            lines = [b"\n".join(labels) if kind == "" else b"".join(labels) for kind, labels in batch.data.items()]
            sent.append(ctx.payload(b"\n".join(lines), "dns qname", batch.direction, batch.t_first, batch.t_last,
                                    meta=meta))
        for payload in sent:
            payload.destination = batch.zone
        return sent

    def idle(self) -> list[Payload | Observation]:
        """The client went quiet (the flow table's idle flush): its pending names go out and the
        zones are judged now, not when the flow times out, so a live tunnel finding lands within a
        second.  On capture time, so the replay judges at the same moment."""
        out: list[Payload | Observation] = self.fields.idle()
        while self.batches:
            out += self._send(self.batches.popitem(last=False)[1])
        return out + self.zones.judge_all()

    def close(self) -> list[Payload | Observation]:
        if self.closed:
            return []
        self.closed = True
        out: list[Payload | Observation] = self.fields.close()
        while self.batches:
            out += self._send(self.batches.popitem(last=False)[1])
        self.zones.open_parsers -= self.owner
        if self.zones.open_parsers <= 0:
            out += self.zones.judge_all()
        return out


def _options(rdata: bytes) -> list[tuple[str, bytes]]:
    """An EDNS record's options as (``dns edns option CODE``, data); what does not parse, as it is."""
    out, pos = [], 0
    while pos + 4 <= len(rdata):
        code, size = struct.unpack_from("!HH", rdata, pos)
        out.append((f"dns edns option {code}", rdata[pos + 4:pos + 4 + size]))
        pos += 4 + size
    if pos < len(rdata):
        out.append(("dns edns options", rdata[pos:]))
    return out


def plausible(buf: bytes) -> bool:
    """Whether ``buf`` parses as a DNS message."""
    try:
        parse_message(buf)
    except DnsError:
        return False
    return True


class DnsParser:
    """DNS over UDP (and mDNS/LLMNR): one message per datagram, on its ports or found by content."""

    name: ClassVar[str] = "dns"
    ports: ClassVar[tuple[int, ...]] = DNS_PORTS
    # One flow per client address and server: a client sends each query from a new port (RFC 5452).
    any_client_port: ClassVar[bool] = True

    @staticmethod
    def detect(data: bytes, sport: int, dport: int) -> bool:
        if sport in DNS_PORTS or dport in DNS_PORTS:
            return plausible(data)
        return looks_like_dns(data)

    @staticmethod
    def from_server(data: bytes) -> bool:
        """A response (QR bit set) comes from the server, whichever port it uses."""
        return len(data) > 2 and bool(data[2] & 0x80)

    def __init__(self, ctx: FlowContext) -> None:
        self.core = DnsCore(ctx)

    def feed(self, direction: str, data: bytes, t: float) -> list[Payload | Observation]:
        return self.core.message(direction, data, t)

    def idle(self, t: float) -> list[Payload | Observation]:
        return self.core.idle()

    def close(self, t: float) -> list[Payload | Observation]:
        return self.core.close()


class DnsTcpParser:
    """DNS over TCP: messages framed by a 2-byte big-endian length (RFC 1035 4.2.2)."""

    name: ClassVar[str] = "dns-tcp"
    ports: ClassVar[tuple[int, ...]] = (53,)

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        on_port = 53 in (sport, dport)
        # the instrument may be the resolver (in) or the server (out): a framed message either way
        for first in (first_out, first_in):
            if len(first) >= 2 + _HEADER.size:
                (n,) = struct.unpack_from("!H", first)
                if n < _HEADER.size:
                    continue
                if on_port and (len(first) < n + 2 or plausible(first[2: n + 2])):
                    return True
                # elsewhere only a whole, ordinary message says DNS (see looks_like_dns)
                if not on_port and len(first) >= n + 2 and looks_like_dns(first[2: n + 2]):
                    return True
        return False

    def __init__(self, ctx: FlowContext) -> None:
        self.core = DnsCore(ctx)
        self.bufs = {"out": bytearray(), "in": bytearray()}
        self.lost = {"out": False, "in": False}
        self.last_t = 0.0

    def feed(self, direction: str, data: bytes, t: float) -> list[Payload | Observation]:
        self.last_t = t
        if self.lost[direction]:
            return [self.core.ctx.payload(data, "dns malformed", direction, t)] if data else []
        buf = self.bufs[direction]
        buf += data
        out: list[Payload | Observation] = []
        while len(buf) >= 2:
            (n,) = struct.unpack_from("!H", buf)
            if len(buf) < n + 2:
                break
            msg = bytes(buf[2: n + 2])
            del buf[: n + 2]
            out.extend(self.core.message(direction, msg, t))
        return out

    def gap(self, direction: str, size: int) -> list[Payload | Observation]:
        # length framing cannot be recovered after a hole: the rest of this side is passed on raw
        self.lost[direction] = True
        return self._leftover(direction, self.last_t)

    def idle(self, t: float) -> list[Payload | Observation]:
        return self.core.idle()

    def close(self, t: float) -> list[Payload | Observation]:
        out = self._leftover("out", t) + self._leftover("in", t)
        return out + self.core.close()

    def _leftover(self, direction: str, t: float) -> list[Payload | Observation]:
        """Bytes that never made a whole message are still scanned."""
        buf = self.bufs[direction]
        if not buf:
            return []
        data = bytes(buf)
        buf.clear()
        self.core.ctx.error(f"dns-tcp: {len(data)} bytes without a whole message ({direction})")
        return [self.core.ctx.payload(data, "dns malformed", direction, t)]

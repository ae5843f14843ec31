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
from sandbox.protocols.tls import note_error
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
TXT_TYPES = {16, 99}            # character-strings
DATA_QUERY_TYPES = {10, 16, 99, 13}  # types tunnels ask for to get data back (plus unknown)

# Second-level labels under which registries sell names (co.uk, com.au, ne.jp ...): crude PSL.
_SLD_GENERIC = {b"co", b"com", b"net", b"org", b"ac", b"gov", b"edu", b"or", b"ne", b"go", b"gob",
                b"mil", b"nic", b"ltd", b"plc", b"sch", b"nhs", b"gv", b"info", b"biz"}

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
    return msg


def type_name(rtype: int) -> str:
    return TYPES.get(rtype, f"TYPE{rtype}")


def split_zone(labels: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """(labels below the registered domain, registered-domain labels); co.uk-style crudely."""
    low = [lab.lower() for lab in labels]
    keep = 2
    if len(low) >= 3 and len(low[-1]) == 2 and low[-2] in _SLD_GENERIC:
        keep = 3
    if len(labels) <= keep:
        return [], labels
    return labels[:-keep], labels[-keep:]


_HEX_LABEL = re.compile(rb"[0-9a-f]+", re.IGNORECASE)
_B32_LABEL = re.compile(rb"[a-z2-7]+", re.IGNORECASE)   # RFC 4648 base32 alphabet (case-folded by DNS)
_B64_LABEL = re.compile(rb"[A-Za-z0-9_-]+")              # base64url, case kept by most resolvers
_DIGIT = re.compile(rb"[0-9]")
_LOWER = re.compile(rb"[a-z]")
_UPPER = re.compile(rb"[A-Z]")
_VOWELS = re.compile(rb"[aeiou]", re.IGNORECASE)


def _encoded_label(label: bytes) -> bool:
    """True for a label shaped like encoded data (hex, base32, base64url), not a word or a host.

    Hex needs a digit (a-f words exist) and some variety; base32 a digit and few vowels (plain
    words fit its alphabet too); base64url both cases and a digit.  All need enough entropy.
    """
    if len(label) < TUNNEL_DATA_LABEL_MIN:
        return False
    digit = _DIGIT.search(label) is not None
    if _HEX_LABEL.fullmatch(label):
        return digit and _entropy(label) >= TUNNEL_HEX_ENTROPY
    if _B32_LABEL.fullmatch(label):
        return (digit and len(_VOWELS.findall(label)) <= TUNNEL_B32_VOWELS * len(label)
                and _entropy(label.lower()) >= TUNNEL_B32_ENTROPY)
    if _B64_LABEL.fullmatch(label):
        return (digit and _LOWER.search(label) is not None and _UPPER.search(label) is not None
                and _entropy(label) >= TUNNEL_B32_ENTROPY)
    return False


def encoded_chars(sub: list[bytes]) -> int:
    """Characters of the subdomain labels ``sub`` that look like encoded data.

    Names with a ``_label`` (``_ipp._tcp``, ``_dmarc``, ``_acme-challenge``) name services or
    policies: their long instance labels (a Chromecast id) are identifiers, not payload.
    """
    if any(lab[:1] == b"_" for lab in sub):
        return 0
    return sum(len(lab) for lab in sub if _encoded_label(lab))


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


class ZoneTracker:
    """Per-zone query statistics shared by every DNS flow of one Dissector (bounded, LRU)."""

    def __init__(self) -> None:
        self.zones: OrderedDict[str, _Zone] = OrderedDict()
        self.open_parsers = 0

    def query(self, ctx: FlowContext, labels: list[bytes], qtype: int, t: float) -> list[Observation]:
        sub, zone_labels = split_zone(labels)
        if not sub or zone_labels[-1].lower() in BENIGN_TLDS:
            return []
        zone_name = _text([lab.lower() for lab in zone_labels])
        z = self.zones.get(zone_name)
        if z is None:
            z = _Zone(zone_name, ctx.flow, ctx.channel, ctx.destination, t)
            self.zones[zone_name] = z
            if len(self.zones) > MAX_ZONES:
                self.zones.popitem(last=False)
        else:
            self.zones.move_to_end(zone_name)
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
            if encoded_chars(sub) >= TUNNEL_ENCODED_CHARS:
                z.encoded_names += 1
            if len(z.examples) < MAX_EXAMPLES:
                z.examples.append(_text(labels)[:EXAMPLE_LEN])
        if qtype in DATA_QUERY_TYPES or qtype not in TYPES:
            z.data_queries += 1
        if not z.reported and z.queries % TUNNEL_CHECK_EVERY == 0:
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
        """Flag a zone for volume (unique names + signals) or for a few encoded-data names."""
        found = self.signals(z)
        encoded = z.encoded_names >= TUNNEL_ENCODED_NAMES
        if len(found) < TUNNEL_MIN_SIGNALS and not encoded:
            return []
        if encoded:
            found.append("encoded data in labels")
        z.reported = True
        span = max(z.t_last - z.t_first, 1e-9)
        detail: dict[str, Any] = {
            "domain": z.zone, "resolver": z.resolver, "queries": z.queries, "unique_names": z.unique,
            "bytes_in_labels": z.label_bytes, "max_label": z.max_label,
            "long_label_names": z.long_names, "encoded_names": z.encoded_names, "txt_null_queries": z.data_queries,
            "rate_per_s": round(z.queries / span, 2), "signals": found, "examples": list(z.examples)}
        return [Observation(kind="dns-tunnel", severity="medium", flow=z.flow, channel=z.channel,
                            destination=z.zone, t_first=z.t_first, t_last=z.t_last,
                            bytes_out=z.label_bytes, chain=("udp", "dns"), detail=detail)]

    def judge_all(self) -> list[Observation]:
        out: list[Observation] = []
        for z in self.zones.values():
            if not z.reported:
                out.extend(self._judge(z))
        return out


def tracker(shared: dict[str, Any]) -> ZoneTracker:
    t = shared.get("dns.zones")
    if t is None:
        t = shared["dns.zones"] = ZoneTracker()
    return t


# --------------------------------------------------------------------------- parsers


class _DnsCore:
    """Message -> Payloads/Observations, shared by the UDP and TCP parsers."""

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.zones = tracker(ctx.shared)
        self.zones.open_parsers += 1
        self.recent: OrderedDict[tuple[bytes, int], None] = OrderedDict()
        self.closed = False
        ctx.info.app = "dns"

    def message(self, direction: str, buf: bytes, t: float) -> list[Payload | Observation]:
        ctx = self.ctx
        try:
            msg = parse_message(buf)
        except DnsError as exc:   # not DNS after all (or hostile): keep the bytes scannable
            note_error(ctx, f"dns: {exc}")
            return [ctx.payload(buf, "dns malformed", direction, t)]
        out: list[Payload | Observation] = []
        if not msg.response:
            for labels, qtype, _qclass in msg.questions:
                key = (b".".join(labels).lower(), qtype)
                if key in self.recent:
                    continue
                self.recent[key] = None
                if len(self.recent) > RECENT_NAMES:
                    self.recent.popitem(last=False)
                tname = type_name(qtype)
                sub, zone = split_zone(labels)
                meta = {"qtype": tname, "qname": _text(labels), "resolver": ctx.destination}
                # The name's data travels on to the zone's own servers: that is where it leaks to.
                queried = [ctx.payload(b".".join(labels), f"dns query {tname}", direction, t, meta=meta)]
                if sub:
                    queried.append(ctx.payload(b"".join(sub), "dns qname", direction, t, meta=meta))
                for payload in queried:
                    payload.destination = _text(zone) or ctx.destination
                out.extend(queried)
                # a query always goes client -> resolver, whichever side the flow table calls "out"
                out.extend(self.zones.query(ctx, labels, qtype, t))
        for rec in msg.records:
            if rec.data:
                tname = type_name(rec.rtype)
                out.append(ctx.payload(rec.data, f"dns {'answer' if msg.response else 'record'} {tname}",
                                       direction, t, meta={"rtype": tname, "name": _text(rec.name)}))
        return out

    def close(self) -> list[Payload | Observation]:
        if self.closed:
            return []
        self.closed = True
        self.zones.open_parsers -= 1
        if self.zones.open_parsers <= 0:
            return list(self.zones.judge_all())
        return []


def _plausible(buf: bytes) -> bool:
    try:
        parse_message(buf)
    except DnsError:
        return False
    return True


class DnsParser:
    """DNS over UDP (and mDNS/LLMNR): one message per datagram."""

    name: ClassVar[str] = "dns"
    ports: ClassVar[tuple[int, ...]] = DNS_PORTS

    @staticmethod
    def detect(data: bytes, sport: int, dport: int) -> bool:
        return (sport in DNS_PORTS or dport in DNS_PORTS) and _plausible(data)

    def __init__(self, ctx: FlowContext) -> None:
        self.core = _DnsCore(ctx)

    def feed(self, direction: str, data: bytes, t: float) -> list[Payload | Observation]:
        return self.core.message(direction, data, t)

    def close(self, t: float) -> list[Payload | Observation]:
        return self.core.close()


class DnsTcpParser:
    """DNS over TCP: messages framed by a 2-byte big-endian length (RFC 1035 4.2.2)."""

    name: ClassVar[str] = "dns-tcp"
    ports: ClassVar[tuple[int, ...]] = (53,)

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        if 53 not in (sport, dport):
            return False
        # the instrument may be the resolver (in) or the server (out): a framed message either way
        for first in (first_out, first_in):
            if len(first) >= 2 + _HEADER.size:
                (n,) = struct.unpack_from("!H", first)
                if n >= _HEADER.size and (len(first) < n + 2 or _plausible(first[2: n + 2])):
                    return True
        return False

    def __init__(self, ctx: FlowContext) -> None:
        self.core = _DnsCore(ctx)
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
        note_error(self.core.ctx, f"dns-tcp: {len(data)} bytes without a whole message ({direction})")
        return [self.core.ctx.payload(data, "dns malformed", direction, t)]

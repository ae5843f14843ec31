"""Registered domains: where a name's own labels end and the domain a registry sold begins."""

from __future__ import annotations

import re

# Second-level labels under which registries sell names (co.uk, com.au, ne.jp ...): crude PSL.
_SLD_GENERIC = {b"co", b"com", b"net", b"org", b"ac", b"gov", b"edu", b"or", b"ne", b"go", b"gob",
                b"mil", b"nic", b"ltd", b"plc", b"sch", b"nhs", b"gv", b"info", b"biz"}

# A top-level domain: letters (RFC 1123 2.1 leaves TLDs alphabetic) or an IDN A-label.
_TLD = re.compile(rb"[a-z]{2,63}|xn--[a-z0-9-]{1,59}", re.IGNORECASE)

def split_zone(labels: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """(labels below the registered domain, registered-domain labels); co.uk-style crudely.

    A name whose last label cannot be a top-level domain (hex data, digits) has no registered
    domain: a tunnel talking straight to its server (dnscat2's ``dnscat.<hex>``) puts its tag first,
    so the first label is the zone and the rest is data.
    """
    if len(labels) >= 2 and not _TLD.fullmatch(labels[-1]):
        return labels[1:], labels[:1]
    low = [lab.lower() for lab in labels]
    keep = 2
    if len(low) >= 3 and len(low[-1]) == 2 and low[-2] in _SLD_GENERIC:
        keep = 3
    if len(labels) <= keep:
        return [], labels
    return labels[:-keep], labels[-keep:]


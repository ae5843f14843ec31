"""Which run identifiers are evidence: specific enough that seeing one in traffic says *who* or *what*.

"Sample1", "NA", "test", "1" or "MiSeq" occur in any lab's traffic; a run ID, a flowcell barcode, an
instrument serial or a named sample do not.
"""

from __future__ import annotations

import base64
import re

from sandbox.runs import RunMeta

MIN_LENGTH = 4  # shorter strings ("S1", "NA1") occur by chance in any text
MIN_DIGITS_ONLY = 6  # pure numbers: "2023", "1101" (tile), "151" (cycles) are everywhere
# Words that label things in every sample sheet or protocol, never one particular sample or run.
GENERIC = frozenset("""
sample samples test tests none null nan n/a unknown default project projects run runs demo
control controls undetermined pool pooled blank empty true false yes no illumina nanopore
novaseq miseq hiseq nextseq iseq minion gridion promethion dna rna human mouse genome exome
lane read reads index index1 index2 forward reverse paired single unpaired library libraries
""".split())
_GENERIC_SHAPE = re.compile(r"^(?:sample|test|s|lane|read|pool|ctrl|control|run)[ _-]?\d{1,3}$", re.I)
_DIGITS_ONLY = re.compile(r"^\d+$")


def is_evidence(value: str) -> bool:
    """True when ``value`` is specific enough to count as an identifier leak on its own."""
    v = value.strip()
    if len(v) < MIN_LENGTH or v.lower() in GENERIC or _GENERIC_SHAPE.match(v):
        return False
    if _DIGITS_ONLY.match(v) and len(v) < MIN_DIGITS_ONLY:
        return False
    return True


def run_identifiers(meta: RunMeta, extra=()) -> list[dict]:
    """Evidence identifiers of a run: value, kind and the samples it names (deduplicated by value)."""
    found: dict[str, dict] = {}

    def add(value: str, kind: str, samples: tuple[str, ...] = ()) -> None:
        value = (value or "").strip()
        if not is_evidence(value):
            return
        entry = found.setdefault(value, {"value": value, "kind": kind, "samples": []})
        entry["samples"] = list(dict.fromkeys([*entry["samples"], *samples]))

    add(meta.run_id, "run_id")
    add(meta.flowcell, "flowcell")
    add(meta.instrument, "instrument")
    add(meta.experiment, "experiment")
    for s in meta.samples:
        add(s.sample_id, "sample_id", (s.sample_id,))
        add(s.name, "sample_name", (s.sample_id,))
        project_samples = tuple(x.sample_id for x in meta.samples if x.project == s.project)
        add(s.project, "project", project_samples)
    for ident in [*meta.identifiers, *extra]:
        add(ident.value, ident.kind, tuple(ident.samples))
    return list(found.values())


# Encoded forms of an identifier long enough to be evidence inside any base64 or hex text: 60 bits
# of base64 (10 characters) or 48 of hex (6 bytes) do not occur by chance in a capture's worth of
# encoded data; shorter identifiers are found only in decoded or plain views.
MIN_BASE64_CHARS = 10
MIN_HEX_BYTES = 6
_B64_ALPHABETS = (b"+/", b"-_")  # standard and URL-safe


def encoded_forms(value: str) -> dict[str, list[bytes]]:
    """The byte strings an identifier becomes when a larger message holding it is base64- or
    hex-encoded: hex of its bytes (match case-insensitively), and for each of the three places it
    can start in a base64 group the characters that depend on its bytes alone (case-sensitive),
    in both base64 alphabets.  Forms too short to be evidence are left out."""
    raw = value.encode("utf-8", "replace")
    forms: dict[str, list[bytes]] = {"hex": [], "base64": []}
    if len(raw) >= MIN_HEX_BYTES:
        forms["hex"].append(raw.hex().encode())
    for lead in range(3):  # bytes of the group before the identifier
        text = base64.b64encode(bytes(lead) + raw)
        first = (lead * 8 + 5) // 6  # characters that hold a bit of the bytes before
        last = (lead + len(raw)) * 8 // 6  # ...and of the bytes after
        core = text[first:last]
        if len(core) >= MIN_BASE64_CHARS:
            for alphabet in _B64_ALPHABETS:
                forms["base64"].append(core.translate(bytes.maketrans(b"+/", alphabet)))
    forms["base64"] = list(dict.fromkeys(forms["base64"]))
    return forms

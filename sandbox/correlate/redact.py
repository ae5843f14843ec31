"""Run data never leaves the rig in what it shows: evidence previews are masked, and the traffic's
own strings in a finding (destination, chain labels, detail) have their run data replaced by markers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from sandbox.index import RunIndex
from sandbox.index import winnow as wn
from sandbox.model import Finding, FlowInfo
from sandbox.safetext import marker, safe_text

PREVIEW_CHARS = 16  # characters of text shown, masked
PREVIEW_HEX = 8  # bytes of binary shown as hex (compressed or packed data: meaningless alone)
# Distinct strings remembered (each <= MAX_TEXT characters, so a few MB): a finding's labels are
# redacted again on every refresh of a live store.
CACHED_STRINGS = 16384
_MASK = re.compile(rb"[A-Za-z0-9]")
_PRINTABLE = re.compile(rb"^[\x20-\x7e\t\r\n]*$")


def preview(data: bytes) -> str:
    """Text keeps its first character and its punctuation, every letter or digit after it becomes
    '*' ("ACGTTG..." -> "A*****…", '{"seq":"ACG' -> '{"***":"***'); binary shows 8 bytes of hex."""
    head = data[:PREVIEW_CHARS]
    if not head:
        return ""
    more = "…" if len(data) > len(head) else ""
    if _PRINTABLE.match(head):
        masked = head[:1] + _MASK.sub(b"*", head[1:])
        return masked.decode("ascii").replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t") + more
    return data[:PREVIEW_HEX].hex() + ("…" if len(data) > PREVIEW_HEX else "")


class Redactor:
    """Run data in the traffic's own strings of a finding becomes a marker (``«redacted 150 B #…»``).

    The traffic's strings (destination, chain labels, the detail a protocol observed) are shown by
    the store, every report and the terminal, so what the instrument hid in a name must not be
    copied there.  Reads are hidden by ``safe_text`` (any run of >= 24 bases); other run bytes by
    the run's byte fingerprints: every K-byte k-gram of the string is looked up, and each place that
    is a fingerprint of a run file is hidden with the rest of its word (to the nearest spaces), since
    the bytes around a fingerprint are that file's too.  Run identifiers stay: the report names the
    samples and identifiers a finding matched on purpose.  The strings of all findings of one refresh
    are looked up together (one hashing pass, one lookup per index), and remembered.
    """

    def __init__(self, indexes: Sequence[RunIndex]):
        self.indexes = [ix for ix in indexes if len(ix.fp_hash)]
        self._known: dict[str, str] = {}

    def findings(self, findings: list[Finding]) -> list[Finding]:
        """The findings with their traffic strings redacted (in place; returned for chaining)."""
        self._learn([s for f in findings for s in _traffic_strings(f)])
        for f in findings:
            f.flow = safe_text(f.flow)
            f.destination = self._known[f.destination]
            f.chain = [self._known[label] for label in f.chain]
            f.evidence = [{**row, "chain": [self._known[label] for label in row["chain"]]} if "chain" in row
                          else row for row in f.evidence]
            f.detail = self._tree(f.detail)
        return findings

    def flows(self, infos: list[FlowInfo]) -> list[FlowInfo]:
        """Copies of the flows with their traffic strings (destination, meta) redacted, for the store:
        the flow table keeps the originals, which name destinations for the findings to come."""
        self._learn([s for f in infos for s in (f.destination, *_strings(f.meta))])
        return [replace(f, destination=self._known[f.destination], meta=self._tree(dict(f.meta)))
                for f in infos]

    def strings(self, strings: list[str]) -> list[str]:
        """Traffic strings on their own (the timeline's destinations), redacted."""
        self._learn(strings)
        return [self._known[s] for s in strings]

    def _tree(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._known[value]
        if isinstance(value, dict):
            return {safe_text(k) if isinstance(k, str) else k: self._tree(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._tree(v) for v in value]
        return value

    def _learn(self, strings: list[str]) -> None:
        if len(self._known) > CACHED_STRINGS:
            self._known.clear()  # a refresh looks all its strings up at once: no LRU needed
        new = list(dict.fromkeys(s for s in strings if s not in self._known))
        if not new:
            return
        safe = [safe_text(s) for s in new]
        raws = [t.encode("utf-8", "surrogatepass") for t in safe]
        for s, text, places in zip(new, safe, self._fingerprinted(raws), strict=True):
            self._known[s] = _hide(text.encode("utf-8", "surrogatepass"), places) if places else text

    def _fingerprinted(self, raws: list[bytes]) -> list[list[int]]:
        """Per string, the offsets of its k-grams that are fingerprints of a run file."""
        found: list[list[int]] = [[] for _ in raws]
        if not self.indexes or all(len(r) < wn.K for r in raws):
            return found
        joined = b"\n".join(raws)  # no safe string holds a line break
        ends = np.cumsum([len(r) + 1 for r in raws]) - 1
        hashes = wn.kgram_hashes(np.frombuffer(joined, dtype=np.uint8))
        owner = np.searchsorted(ends, np.arange(len(hashes)), side="left")
        inside = np.arange(len(hashes)) + wn.K <= ends[owner]  # k-grams that do not cross into the next
        hit = np.zeros(len(hashes), dtype=bool)
        for ix in self.indexes:
            hit[ix.lookup_fingerprints(hashes)[0]] = True
        starts = ends - np.array([len(r) for r in raws])
        for at in np.flatnonzero(hit & inside).tolist():
            n = int(owner[at])
            found[n].append(at - int(starts[n]))
        return found


def _traffic_strings(f: Finding) -> list[str]:
    out = [f.destination, *f.chain]
    for row in f.evidence:
        out.extend(row.get("chain", ()))
    out.extend(_strings(f.detail))
    return out


def _strings(tree: Any) -> list[str]:
    """Every string value in a tree of dicts and lists."""
    out: list[str] = []
    stack: list[Any] = [tree]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)
    return out


def _hide(raw: bytes, places: list[int]) -> str:
    """``raw`` with each fingerprinted k-gram, widened to the spaces around it, as a marker."""
    out, at = [], 0
    for start, end in _spans(places, raw):
        out += [raw[at:start].decode("utf-8", "surrogatepass"), marker(raw[start:end])]
        at = end
    out.append(raw[at:].decode("utf-8", "surrogatepass"))
    return "".join(out)


def _spans(places: list[int], raw: bytes) -> list[tuple[int, int]]:
    """Byte spans to hide: each fingerprinted k-gram widened to the spaces around it, merged."""
    spans: list[tuple[int, int]] = []
    for p in places:
        start = raw.rfind(b" ", 0, p) + 1
        end = raw.find(b" ", p + wn.K)
        end = len(raw) if end < 0 else end
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    return spans

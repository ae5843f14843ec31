"""Run identifiers in payloads: one Aho-Corasick pass per view, case-insensitive, whole tokens only."""

from __future__ import annotations

from ahocorasick_rs import MATCHKIND_LEFTMOST_LONGEST, BytesAhoCorasick

# Matches examined per view: a hostile payload repeating an identifier a million times costs no more.
MAX_MATCHES_PER_VIEW = 1000
_ALNUM = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


class IdentifierMatcher:
    """Finds a run's identifiers; "PT-1" does not match inside "PT-12" or "xPT-1"."""

    def __init__(self, identifiers: list[dict]):
        by_pattern: dict[bytes, list[dict]] = {}
        for ident in identifiers:
            key = ident["value"].encode("utf-8", "replace").lower()
            if key:
                by_pattern.setdefault(key, []).append(ident)
        self.patterns = list(by_pattern)
        self.entries = [by_pattern[p] for p in self.patterns]
        self._ac = BytesAhoCorasick(self.patterns, matchkind=MATCHKIND_LEFTMOST_LONGEST) if self.patterns else None

    def find(self, data: bytes) -> list[tuple[int, int, dict]]:
        """(start, end, identifier) for every whole-token match in ``data``."""
        if self._ac is None or not data:
            return []
        hay = data.lower()
        out = []
        for n, (pid, start, end) in enumerate(self._ac.find_matches_as_indexes(hay)):
            if n >= MAX_MATCHES_PER_VIEW:
                break
            pat = self.patterns[pid]
            if start > 0 and pat[0] in _ALNUM and hay[start - 1] in _ALNUM:
                continue
            if end < len(hay) and pat[-1] in _ALNUM and hay[end] in _ALNUM:
                continue
            out.extend((start, end, ident) for ident in self.entries[pid])
        return out

"""SHA-256 manifests of the evidence: what the HTML report and the evidence bundle vouch for.

A reviewer who has the report can check that the recording they hold is the one it was made from
(``sha256sum -c`` reads the bundle's manifest as is).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

HASH_CHUNK = 1 << 20  # bytes hashed per read: large enough for hashlib's speed, bounded memory


def sha256_file(path: str | Path, limit: int | None = None) -> tuple[str, int]:
    """(hex digest, bytes hashed) of a file, or of its first ``limit`` bytes (a recording still growing)."""
    with open(path, "rb") as fh:
        return sha256_stream(fh, limit)


def sha256_stream(fh: BinaryIO, limit: int | None = None) -> tuple[str, int]:
    digest = hashlib.sha256()
    done = 0
    while limit is None or done < limit:
        chunk = fh.read(HASH_CHUNK if limit is None else min(HASH_CHUNK, limit - done))
        if not chunk:
            break
        digest.update(chunk)
        done += len(chunk)
    return digest.hexdigest(), done


def evidence_manifest(items: Iterable[tuple[str, str, str | Path]]) -> list[dict[str, Any]]:
    """``[{"role", "path", "bytes", "sha256"}]`` for each (role, path as the report names it, file to
    read); a file that cannot be read is listed with ``sha256`` None and why, so the manifest never
    silently omits evidence."""
    out = []
    for role, shown, path in items:
        try:
            digest, size = sha256_file(path)
            out.append({"role": role, "path": shown, "bytes": size, "sha256": digest})
        except OSError as exc:
            out.append({"role": role, "path": shown, "bytes": 0, "sha256": None, "missing": exc.strerror or str(exc)})
    return out


def session_evidence(report: dict[str, Any], inputs: dict[str, Any] | None) -> list[tuple[str, str, Path]]:
    """The files a session's report rests on: its captures, its TLS key logs and its acceptance profile,
    each as (role, path as named, path to read: relative names are the session's working folder's)."""
    inputs = inputs or {}
    cwd = Path(inputs.get("cwd") or ".")
    from sandbox.ring import ring_members

    items = []
    for c in report["captures"]:
        named = Path(c["path"])
        for p in ring_members(cwd / named):     # a ring (``DIR/net_*.pcapng``) stands for each of its files
            items.append(("capture", c["path"] if p.name == named.name else str(named.with_name(p.name)), p))
    items += [("TLS key log", k, cwd / k) for k in inputs.get("keylogs", [])]
    source = (report.get("profile") or {}).get("source")
    if source:
        items.append(("acceptance profile", source, cwd / source))
    return items


def sha256sum_lines(entries: Iterable[tuple[str, str]]) -> str:
    """``sha256sum`` format: one ``<hex>  <name>`` line per (digest, name)."""
    return "".join(f"{digest}  {name}\n" for digest, name in entries)

"""The bench allow-list kept in a TOML file (``--allow-file``), beside or instead of ``--allow``.

    # bench.toml
    allow = ["lims.lab.example", "10.0.0.0/24", "*.vendor-updates.example"]

Entries are what ``--allow`` takes: host names (their subdomains included), IP addresses, CIDRs.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

# An allow-list is a handful to a few hundred entries; a file far larger is not one.
MAX_ALLOW_FILE = 1 << 20


class AllowFileError(ValueError):
    """The file is missing, not TOML, or not a list of strings under ``allow``."""


def read_allow_file(path: Path) -> list[str]:
    try:
        if path.stat().st_size > MAX_ALLOW_FILE:
            raise AllowFileError(f"allow-list {path}: larger than {MAX_ALLOW_FILE} bytes")
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AllowFileError(f"allow-list {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AllowFileError(f"allow-list {path}: not TOML: {exc}") from None
    entries = data.get("allow")
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise AllowFileError(f'allow-list {path}: expected allow = ["host", "10.0.0.0/24", ...]')
    return [e.strip() for e in entries if e.strip()]


def write_allow_file(path: Path, entries: list[str]) -> None:
    """``allow = [...]`` as ``read_allow_file`` reads it (JSON strings are TOML basic strings)."""
    import json

    Path(path).write_text("allow = [" + ", ".join(json.dumps(e) for e in entries) + "]\n", encoding="utf-8")

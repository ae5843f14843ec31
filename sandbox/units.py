"""Byte counts as people read them, shared by the CLI summary and the dashboard."""

from __future__ import annotations


def human_bytes(n: float | int | None) -> str:
    """1536 -> '1.5 KB' (binary units, as tshark and du print them)."""
    if n is None:
        return "-"
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"

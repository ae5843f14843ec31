"""LINKTYPE_USB_LINUX (189): usbmon with the 48-byte header (no mmapped fields)."""

from __future__ import annotations

from sandbox.captures.links.usbmon import segments_unmapped as segments

__all__ = ["segments"]

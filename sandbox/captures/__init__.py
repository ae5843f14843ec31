"""Capture readers: pcap / pcapng (optionally gzip-compressed) files -> ``Segment``s (contract 1).

``open_capture(path)`` returns a ``Capture``: iterate it for Segments in file order; ``.stats``,
``.errors`` and ``.tls_secrets`` say what was read.  A new file format is one reader module plus
one line in ``capture.READERS``; a new link type is one module plus one line in ``links.LINKTYPES``;
a new tunnel or encapsulation is one module in ``encaps`` plus one line in ``encaps.MODULES``.
What a capture could not look into is ``stats.not_examined(where)``; what is trusted to carry no
data is the table in ``examined.py``.
"""

from __future__ import annotations

from sandbox.captures.capture import READERS, Capture, CaptureStats, open_capture
from sandbox.captures.errors import CaptureError
from sandbox.captures.links import LINKTYPES

__all__ = ["LINKTYPES", "READERS", "Capture", "CaptureError", "CaptureStats", "open_capture"]

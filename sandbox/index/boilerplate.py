"""Text every run folder (and much ordinary traffic) shares: its k-grams are never evidence.

An XML prolog or the XML Schema namespace declarations are 32+ bytes long, appear in RunInfo.xml
and RunParameters.xml of every instrument, and in any SOAP or XML status message an instrument
sends; a match on them says nothing about this run.  Their k-gram hashes (every position, not only
winnowed ones) are dropped from the index.
"""

from __future__ import annotations

import numpy as np

from .kmers import contains, sorted_unique
from .winnow import kgram_hashes

_LINES = (
    '<?xml version="1.0"?>',
    '<?xml version="1.0" encoding="utf-8"?>',
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<?xml version="1.0" encoding="utf-8" standalone="yes"?>',
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
    '<?xml version="1.0" encoding="iso-8859-1"?>',
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"',
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"',
    'xmlns="http://www.w3.org/2001/XMLSchema-instance"',
    '<RunParameters xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
    '<RunInfo xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" Version="2">',
)
# Each line as it appears alone, after a line break, and followed by either kind of line break.
_VARIANTS = tuple(
    f"{pre}{line}{post}".encode()
    for line in _LINES for pre in ("", "\n", "\r\n", " ") for post in ("", "\n", "\r\n", " ", "\n<", "\r\n<")
)


def _hashes() -> np.ndarray:
    parts = [kgram_hashes(np.frombuffer(v, dtype=np.uint8)) for v in _VARIANTS]
    return sorted_unique(np.concatenate(parts))


BOILERPLATE_HASHES = _hashes()


def is_boilerplate(hashes: np.ndarray) -> np.ndarray:
    return contains(BOILERPLATE_HASHES, hashes)

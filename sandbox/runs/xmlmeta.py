"""Small, bounded XML loading for run metadata files (RunInfo.xml, RunParameters.xml)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .base import RunFileError

# Real RunInfo/RunParameters files are < 100 KB (a NovaSeq X RunInfo with every tile is ~200 KB);
# anything far larger is not run metadata and is indexed as bytes only.
MAX_XML = 16 << 20


def load_xml(path: Path) -> ET.Element:
    """Parse a metadata XML file; a malformed one raises RunFileError with the parser's one-line reason."""
    data = path.read_bytes()[: MAX_XML + 1]
    if len(data) > MAX_XML:
        raise RunFileError(f"XML larger than {MAX_XML} bytes, not parsed as run metadata")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise RunFileError(f"malformed XML: {exc}") from None
    for el in root.iter():  # drop namespaces so lookups read like the files
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return root


def text(root: ET.Element, *paths: str) -> str:
    """First non-empty text among ``paths`` (ElementTree paths like ``.//RunId``)."""
    for p in paths:
        el = root.find(p)
        if el is not None and el.text and el.text.strip():
            return el.text.strip()
    return ""

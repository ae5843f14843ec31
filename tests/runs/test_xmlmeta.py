"""Bounded XML loading: namespaces dropped, oversize and malformed files are RunFileErrors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.runs import xmlmeta
from sandbox.runs.base import RunFileError


def test_namespaces_dropped_and_text_lookup(tmp_path: Path):
    p = tmp_path / "a.xml"
    p.write_text('<a xmlns="urn:x"><b> </b><c>v</c></a>')
    root = xmlmeta.load_xml(p)
    assert xmlmeta.text(root, ".//b", ".//c") == "v" and xmlmeta.text(root, ".//z") == ""


def test_limits(tmp_path: Path, monkeypatch):
    p = tmp_path / "a.xml"
    p.write_text("<a>" + "x" * 100 + "</a>")
    monkeypatch.setattr(xmlmeta, "MAX_XML", 50)
    with pytest.raises(RunFileError, match="larger than"):
        xmlmeta.load_xml(p)
    p.write_text('<!DOCTYPE a [<!ENTITY e "x">]><a>&e;&f;</a>')
    monkeypatch.setattr(xmlmeta, "MAX_XML", 1 << 20)
    with pytest.raises(RunFileError, match="malformed"):
        xmlmeta.load_xml(p)

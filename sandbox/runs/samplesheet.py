"""Illumina SampleSheet.csv, v1 ([Data]) and v2 ([BCLConvert_Data], [Cloud_Data], app *_Data)."""

from __future__ import annotations

import csv
import io
import re
from typing import ClassVar

from .base import RunFile, RunFileError, RunMeta, Sample

# Sample sheets are a few KB; a 32 MB cap still fits 100k samples and keeps a wrong file cheap.
MAX_SHEET = 32 << 20
_SECTION = re.compile(r"^\[(?P<name>[^\]]+)\]")
# Header / settings keys whose values say who or what was sequenced.
_HEADER_KINDS = {
    "experiment name": "experiment", "runname": "experiment", "run name": "experiment",
    "rundescription": "experiment", "investigator name": "user", "project name": "project",
}
# Sample names like "1".."96" (plate positions) are too common to be evidence of anything.
_TRIVIAL_NAME = re.compile(r"^\d{0,4}$")
_COLUMN_ALIASES = {
    "sample_id": "sample_id", "sampleid": "sample_id", "sample_name": "name", "samplename": "name",
    "sample_project": "project", "project": "project", "projectname": "project", "index": "index",
    "index2": "index2", "lane": "lane", "libraryname": "library", "library_name": "library",
}


def _sections(text: str) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    current = ""
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise RunFileError(f"sample sheet is not CSV: {exc}") from None
    for row in rows:
        first = row[0].strip() if row else ""
        if m := _SECTION.match(first):
            current = m["name"].strip()
            out.setdefault(current, [])
            continue
        if current and any(c.strip() for c in row):
            out[current].append([c.strip() for c in row])
    return out


class SampleSheetFile(RunFile):
    kind = "samplesheet"
    platform: ClassVar[str] = "illumina"
    meta_order: ClassVar[int] = 30

    @staticmethod
    def claim(rel: str, head: bytes) -> bool:
        name = rel.rsplit("/", 1)[-1].lower()
        return name.endswith(".csv") and b"[Header]" in head[:1024] or (
            "samplesheet" in name and name.endswith(".csv") and b"[" in head)

    def contribute(self, meta: RunMeta) -> None:
        data = self.path.read_bytes()[: MAX_SHEET + 1]
        if len(data) > MAX_SHEET:
            raise RunFileError(f"sample sheet larger than {MAX_SHEET} bytes")
        sections = _sections(data.decode("utf-8-sig", "replace"))
        data_sections = [n for n in sections if n == "Data" or n.endswith("_Data")]
        if not data_sections:
            raise RunFileError("sample sheet has no [Data] or [*_Data] section")
        meta.platform = meta.platform or "illumina"
        for row in sections.get("Header", []):
            kind = _HEADER_KINDS.get(row[0].lower())
            if kind and len(row) > 1:
                meta.add_identifier(row[1], kind)
                if kind == "experiment" and not meta.experiment:
                    meta.experiment = row[1]
        found = 0
        projects: dict[str, list[str]] = {}
        for name in data_sections:
            rows = sections[name]
            if not rows:
                continue
            cols = [_COLUMN_ALIASES.get(c.lower(), "") for c in rows[0]]
            if "sample_id" not in cols:
                continue
            for row in rows[1:]:
                rec = {c: (row[i] if i < len(row) else "") for i, c in enumerate(cols) if c}
                sid = rec.get("sample_id", "")
                if not sid:
                    continue
                found += 1
                meta.add_sample(Sample(sid, rec.get("name", ""), rec.get("project", ""), rec.get("lane", ""),
                                       rec.get("index", ""), rec.get("index2", "")))
                meta.add_identifier(sid, "sample", (sid,))
                if not _TRIVIAL_NAME.match(rec.get("name", "")):
                    meta.add_identifier(rec["name"], "sample", (sid,))
                if rec.get("library"):
                    meta.add_identifier(rec["library"], "library", (sid,))
                if rec.get("project"):
                    projects.setdefault(rec["project"], []).append(sid)
        for project, sids in projects.items():
            meta.add_identifier(project, "project", tuple(dict.fromkeys(sids)))
        if not found:
            raise RunFileError("sample sheet data section has no Sample_ID rows")

    def assign_samples(self, meta: RunMeta) -> tuple[str, ...]:
        return tuple(meta.sample_ids())  # run-level metadata: it describes every sample

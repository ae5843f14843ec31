"""FASTQ and FASTQ.gz: Illumina (bcl2fastq / BCL Convert / MiSeq Reporter names) and nanopore reads."""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from typing import ClassVar

from .base import Identifier, RunFile, RunFileError, RunMeta, samples_from_path
from .ont import contribute_tracking
from .textio import dna, lines, text_chunks

_NAME = re.compile(r"\.(?:fastq|fq)(?:\.gz|\.bgz)?$", re.I)
# bcl2fastq / BCL Convert: <sample>_S<n>[_L00<lane>]_<R1|R2|I1|I2>_001.fastq.gz
ILLUMINA_NAME = re.compile(r"^(?P<sample>.+?)_S(?P<num>\d+)(?:_L(?P<lane>\d{3}))?_(?P<read>[RI]\d)_\d{3}\.")
# Casava 1.8+ read name: @<instrument>:<run>:<flowcell>:<lane>:<tile>:<x>:<y>
ILLUMINA_HEADER = re.compile(rb"[@ ](?P<instrument>[A-Za-z0-9_-]+):(?P<run>\d+):(?P<flowcell>[A-Za-z0-9-]+):\d+:\d+:\d+:\d+")
# Header key=value pairs MinKNOW / Guppy / Dorado write after the read id.
_ONT_KEYS = {b"runid": "run_id", b"flow_cell_id": "flowcell", b"sample_id": "sample",
             b"protocol_group_id": "experiment", b"device_id": "instrument", b"barcode": "barcode"}
_KV = re.compile(rb"\b(runid|flow_cell_id|sample_id|protocol_group_id|device_id|barcode)=(\S+)")
# Bytes peeked at scan time for the first header (a header is < 1 KB; gzip needs a few KB to get there).
HEAD_PEEK = 64 << 10
# Headers inspected for identifiers: one run's FASTQ repeats the same few values in every header.
IDENTIFIER_HEADERS = 1000


class FastqFile(RunFile):
    kind = "fastq"
    platform: ClassVar[str] = ""
    meta_order: ClassVar[int] = 60

    @staticmethod
    def claim(rel: str, head: bytes) -> bool:
        if _NAME.search(rel):
            return True
        return head[:1] == b"@" and b"\n+" in head

    @property
    def gz(self) -> bool:
        return self.path.suffix.lower() in (".gz", ".bgz")

    def decoded(self) -> Iterator[bytes]:
        if self.gz:
            yield from text_chunks(self.path, True)

    def records(self) -> Iterator[tuple[list[bytes], list[bytes]]]:
        """(headers, sequences) per batch of complete 4-line records."""
        pending: list[bytes] = []
        for batch in lines(self.path, self.gz):
            if pending:
                batch = pending + batch
            cut = len(batch) - len(batch) % 4
            pending = batch[cut:]
            if not cut:
                continue
            if batch[0][:1] != b"@" or batch[2][:1] != b"+":
                raise RunFileError("not a 4-line FASTQ record (header must start with '@', third line '+')")
            yield batch[0:cut:4], batch[1:cut:4]
        if any(pending):
            raise RunFileError(f"truncated FASTQ: {len(pending)} dangling line(s) at end of file")

    def reads(self) -> Iterator[bytes]:
        for _, seqs in self.records():
            yield from dna(seqs)

    def read_batches(self) -> Iterator[list[bytes]]:
        for _, seqs in self.records():
            yield dna(seqs)

    def identifiers(self) -> Iterator[Identifier]:
        seen: set[tuple[str, str]] = set()
        budget = IDENTIFIER_HEADERS
        for heads, _ in self.records():
            for head in heads[:budget]:
                for key, value in _KV.findall(head):
                    item = (value.decode("utf-8", "replace"), _ONT_KEYS[key])
                    if item not in seen:
                        seen.add(item)
                        yield Identifier(item[0], item[1], self.samples)
            budget -= len(heads)
            if budget <= 0:
                return

    def assign_samples(self, meta: RunMeta) -> tuple[str, ...]:
        return fastq_samples(self.rel, meta)

    def contribute(self, meta: RunMeta) -> None:
        """The first header names the run: nanopore key=value tags (MinKNOW / Dorado), or Illumina's
        instrument:run:flowcell:lane:... (also inside SRA-style headers). Only the file's head is read;
        a corrupt head is left for reads() to report."""
        first = self.first_line()
        tags = {key.decode(): value.decode("utf-8", "replace") for key, value in _KV.findall(first)}
        if "runid" in tags:
            tags["run_id"] = tags.pop("runid")
            contribute_tracking(meta, tags)
        elif m := ILLUMINA_HEADER.search(first):
            instrument, flowcell = m["instrument"].decode(), m["flowcell"].decode()
            meta.platform = meta.platform or "illumina"
            meta.instrument = meta.instrument or instrument
            meta.flowcell = meta.flowcell or flowcell
            meta.add_identifier(instrument, "instrument")
            meta.add_identifier(flowcell, "flowcell")

    def first_line(self) -> bytes:
        with open(self.path, "rb") as fh:
            head = fh.read(HEAD_PEEK)
        if self.gz:
            try:
                head = zlib.decompressobj(wbits=31).decompress(head, HEAD_PEEK)
            except zlib.error:
                return b""
        return head.split(b"\n", 1)[0]


def fastq_samples(rel: str, meta: RunMeta) -> tuple[str, ...]:
    """Sample of an Illumina FASTQ name: sample token == Sample_ID / Sample_Name, else S-number order."""
    name = rel.rsplit("/", 1)[-1]
    m = ILLUMINA_NAME.match(name)
    if m and m["sample"] == "Undetermined":
        return ()
    if m:
        token = m["sample"]
        hit = [s.sample_id for s in meta.samples if token in (s.sample_id, s.name)]
        if hit:
            return tuple(dict.fromkeys(hit))
        ids = meta.sample_ids()
        num = int(m["num"])
        by_folder = samples_from_path(rel, meta)
        if by_folder:
            return by_folder
        if 0 < num <= len(ids):
            return (ids[num - 1],)
        return ()
    return samples_from_path(rel, meta)

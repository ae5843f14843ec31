"""The run-format registry: one line per format, first claim wins (specific formats before generic)."""

from __future__ import annotations

from .alignment import AlignmentFileReader
from .base import RunFile
from .bcl import BclFile
from .cbcl import CbclFile
from .fast5 import Fast5File
from .fasta import FastaFile
from .fastq import FastqFile
from .interop import InterOpFile
from .nanosheet import NanoporeSheetFile
from .nanosummary import NanoporeSummaryFile
from .pod5file import Pod5File
from .runinfo import RunInfoFile
from .runparams import RunParametersFile
from .samplesheet import SampleSheetFile
from .tilefiles import FilterFile, LocsFile
from .vcf import VcfFile

FORMATS: list[type[RunFile]] = [
    RunInfoFile,
    RunParametersFile,
    NanoporeSheetFile,
    NanoporeSummaryFile,
    SampleSheetFile,
    BclFile,
    CbclFile,
    FilterFile,
    LocsFile,
    InterOpFile,
    Pod5File,
    Fast5File,
    AlignmentFileReader,
    VcfFile,
    FastqFile,
    FastaFile,
]

"""One entry point for a simulated run folder of any platform a scenario (or ``sandbox simulate run``)
names: FASTQ, BAM and the platform's base-call files (BCL on MiSeq, CBCL on NovaSeq, POD5 signal on
nanopore), as the instrument would leave them."""

from __future__ import annotations

from pathlib import Path

from .nanopore import make_nanopore_run
from .novaseq import make_novaseq_run
from .runfolder import make_illumina_run
from .scenario import RunSpec


def make_run(spec: RunSpec, dest: Path) -> Path:
    """Write the run folder ``spec`` describes under ``dest``; its path."""
    if spec.platform == "miseq":
        return make_illumina_run(dest, seed=spec.seed, samples=spec.samples, reads_per_sample=spec.reads,
                                 with_bam=True, variants=spec.variants)
    if spec.platform == "novaseq":
        return make_novaseq_run(dest, seed=spec.seed, samples=spec.samples, reads_per_sample=spec.reads,
                                with_bam=True, variants=spec.variants)
    return make_nanopore_run(dest, seed=spec.seed, barcodes=spec.samples, reads_per_barcode=spec.reads,
                             with_signal=True)

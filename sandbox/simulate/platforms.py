"""One entry point for a simulated run folder of any platform a scenario names."""

from __future__ import annotations

from pathlib import Path

from .nanopore import make_nanopore_run
from .runfolder import make_illumina_run
from .scenario import RunSpec


def make_run(spec: RunSpec, dest: Path) -> Path:
    """Write the run folder ``spec`` describes under ``dest``; its path."""
    if spec.platform == "miseq":
        return make_illumina_run(dest, seed=spec.seed, samples=spec.samples, reads_per_sample=spec.reads)
    if spec.platform == "novaseq":
        from .novaseq import make_novaseq_run

        return make_novaseq_run(dest, seed=spec.seed, samples=spec.samples, reads_per_sample=spec.reads)
    return make_nanopore_run(dest, seed=spec.seed, barcodes=spec.samples, reads_per_barcode=spec.reads)

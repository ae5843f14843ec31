"""The project's own instrument simulator: run folders and captures with known ground truth."""

from __future__ import annotations

from .demo import build_demo, ensure_demo
from .nanopore import make_nanopore_run
from .runfolder import layout, make_illumina_run, sample_fastqs
from .traffic import Leg, make_demo_capture

__all__ = ["Leg", "build_demo", "ensure_demo", "layout", "make_demo_capture", "make_illumina_run",
           "make_nanopore_run", "sample_fastqs"]

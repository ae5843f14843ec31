"""The committed demo: a simulated run folder plus a capture of its instrument leaking it.

``build_demo`` writes ``captures/demo`` from scratch (byte-identical every time); ``ensure_demo``
returns what is there and only builds what is missing, so ``sandbox demo`` works from a fresh clone.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .runfolder import layout, make_illumina_run
from .traffic import legs_json, make_demo_capture

DEMO_SEED = 0
# Sized for the repository: the whole demo folder stays well under 2 MB yet every sample has
# enough reads (500 x 151 bp) that leaked fragments are unambiguous.
DEMO_READS_PER_SAMPLE = 500
DEMO_SAMPLES = 3
CAPTURE_NAME = "demo.pcapng"
EXPECTED_NAME = "expected.json"
ALLOW = ["lims.lab.example", "198.51.100.10"]  # the bench allow-list the demo story assumes

README = """# Demo: a MiSeq that leaks

Made by `python -m sandbox.simulate demo captures/demo` (the project's own instrument simulator;
byte-identical on every run). Replay it with `sandbox demo`, or:

    sandbox replay captures/demo/demo.pcapng --run captures/demo/{run_id} \\
        --allow lims.lab.example 198.51.100.10 --report out.json

The instrument is 10.20.0.5 on the bench network 10.20.0.0/24; everything else uses documentation
addresses (RFC 5737) and reserved names (RFC 2606 / 6761). `{expected}` lists every flow with
the finding kinds a correct report holds for it:

{table}
"""


def build_demo(dest: Path) -> tuple[Path, Path]:
    """Write the run folder, the capture, its ground truth and a README into ``dest``."""
    dest = Path(dest)
    run_dir = dest / layout(DEMO_SEED, DEMO_SAMPLES).run_id
    if run_dir.exists():
        shutil.rmtree(run_dir)
    dest.mkdir(parents=True, exist_ok=True)
    run_dir = make_illumina_run(dest, seed=DEMO_SEED, samples=DEMO_SAMPLES, reads_per_sample=DEMO_READS_PER_SAMPLE)
    capture = dest / CAPTURE_NAME
    legs = make_demo_capture(run_dir, capture, seed=DEMO_SEED)
    truth = {"run": run_dir.name, "capture": CAPTURE_NAME, "instrument": "10.20.0.5", "allow": ALLOW,
             "legs": legs_json(legs)}
    (dest / EXPECTED_NAME).write_text(json.dumps(truth, indent=2) + "\n")
    rows = ["| flow | destination | expected findings | at most | sample |", "| --- | --- | --- | --- | --- |"]
    rows += [f"| {leg.name}: `{leg.flow}` | {leg.destination} | "
             f"{', '.join(f'{k} (>= {leg.least})' for k in leg.expect) or 'none'} | {leg.worst} | {leg.sample} |"
             for leg in legs]
    (dest / "README.md").write_text(README.format(run_id=run_dir.name, expected=EXPECTED_NAME,
                                                  table="\n".join(rows)))
    return run_dir, capture


def ensure_demo(dest: Path) -> tuple[Path, Path]:
    """The demo run folder and capture under ``dest``, built first if either is missing."""
    dest = Path(dest)
    run_dir = dest / layout(DEMO_SEED, DEMO_SAMPLES).run_id
    capture = dest / CAPTURE_NAME
    if not (capture.is_file() and (run_dir / "RunInfo.xml").is_file()):
        return build_demo(dest)
    return run_dir, capture

"""A minimal MinKNOW output folder: barcoded fastq_pass, sequencing summary and sample sheet.

Headers carry what MinKNOW writes (runid, flow_cell_id, sample_id, barcode), so identifier matching
has something real to find; each barcode gets its own random genome, as on the Illumina side.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import dna

FLOWCELL = "FAQ12345"
POSITION = "MN34567"
KIT = "SQK-NBD114-24"
BASECALL_MODEL = "dna_r10.4.1_e8.2_400bps_hac@v4.2.0"
# Read-length distribution of a ligation library: log-normal, median ~3 kb (kept short for tests).
LOG_LEN_MEAN, LOG_LEN_SD, MIN_LEN = 8.0, 0.6, 200
# R10.4.1 + hac basecalling: modal accuracy ~98%, so ~2% substitutions stand in for all error types.
ONT_ERROR_RATE = 0.02
READS_PER_FILE = 4000  # MinKNOW's default batch size before it starts a new fastq file
SUMMARY_COLUMNS = ("filename_fastq", "read_id", "run_id", "channel", "mux", "start_time", "duration",
                   "passes_filtering", "sequence_length_template", "mean_qscore_template", "barcode_arrangement",
                   "sample_id", "experiment_id")


def make_nanopore_run(dest: Path, *, seed: int = 0, barcodes: int = 2, reads_per_barcode: int = 200,
                      genome_len: int = 100_000) -> Path:
    """Write ``<dest>/<experiment>/<sample>/<run folder>`` and return the run folder."""
    rng = np.random.default_rng([seed, 3])
    run_hash = rng.bytes(20).hex()
    experiment, sample_id = f"EXP-{seed:04d}-onc", f"LIB-{seed:04d}-ONT"
    run = Path(dest) / experiment / sample_id / f"20251123_1014_{POSITION}_{FLOWCELL}_{run_hash[:8]}"
    run.mkdir(parents=True, exist_ok=True)
    aliases = [f"PT{int(p)}-ONT" for p in rng.choice(np.arange(1000, 10000), size=barcodes, replace=False)]
    summary = ["\t".join(SUMMARY_COLUMNS)]
    t = 0.0
    for b in range(barcodes):
        barcode = f"barcode{b + 1:02d}"
        genome = dna.random_codes(rng, genome_len)
        lengths = np.clip(rng.lognormal(LOG_LEN_MEAN, LOG_LEN_SD, reads_per_barcode), MIN_LEN, genome_len // 2)
        records = []
        name = f"{FLOWCELL}_pass_{barcode}_{run_hash[:8]}_0.fastq.gz"
        for i, length in enumerate(lengths.astype(int)):
            read = dna.sample_reads(rng, genome, 1, int(length), error_rate=ONT_ERROR_RATE)
            q = np.clip(rng.normal(17.0, 4.0, read.shape), 3, 50).astype(np.uint8)
            read_id = _uuid(rng.bytes(16))
            channel, mux = int(rng.integers(1, 513)), int(rng.integers(1, 5))
            t += float(rng.exponential(0.05))
            duration = length / 400.0  # 400 bases per second through the pore
            stamp = f"2025-11-23T10:{14 + int(t) // 60:02d}:{t % 60:09.6f}+00:00"
            header = (f"@{read_id} runid={run_hash} read={i + 1} ch={channel} start_time={stamp} "
                      f"flow_cell_id={FLOWCELL} protocol_group_id={experiment} sample_id={sample_id} "
                      f"barcode={barcode} barcode_alias={aliases[b]} basecall_model_version_id={BASECALL_MODEL}")
            records.append(dna.fastq([header.encode()], read, q))
            summary.append("\t".join(map(str, (
                name, read_id, run_hash, channel, mux, f"{t:.4f}", f"{duration:.4f}", "TRUE", length,
                f"{float(q.mean()):.2f}", barcode, sample_id, experiment))))
        out = run / "fastq_pass" / barcode / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(dna.gzip_bytes(b"".join(records)))
    (run / f"sequencing_summary_{FLOWCELL}_{run_hash[:8]}.txt").write_text("\n".join(summary) + "\n")
    sheet = ["flow_cell_id,kit,sample_id,experiment_id,barcode,alias"]
    sheet += [f"{FLOWCELL},{KIT},{sample_id},{experiment},barcode{b + 1:02d},{aliases[b]}" for b in range(barcodes)]
    (run / f"sample_sheet_{FLOWCELL}_20251123_1014_{run_hash[:8]}.csv").write_text("\n".join(sheet) + "\n")
    return run


def _uuid(raw: bytes) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:32]}"

"""A minimal MinKNOW output folder: barcoded fastq_pass, sequencing summary and sample sheet; with
``with_signal`` also the raw signal (``pod5/``, written with the pod5 package) and ``bam_pass``
(unaligned BAM with MinKNOW's read tags).

Headers carry what MinKNOW writes (runid, flow_cell_id, sample_id, barcode), so identifier matching
has something real to find; each barcode gets its own random genome, as on the Illumina side.
FASTQ and BAM are byte-identical per seed; a POD5 file is not (the format gives every file a fresh
identifier), its reads and signal are.
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


# Signal as MinKNOW records it: 4 kHz sampling of a 400 bases/s translocation (10 samples a base),
# one current level per base plus noise, stored as ADC counts with the channel's calibration.
SAMPLE_RATE, SAMPLES_PER_BASE = 4000, 10
LEVEL_PA = np.array([82.0, 98.0, 111.0, 124.0, 90.0])   # A C G T N: a crude one-base pore model
NOISE_PA = 2.5
CAL_OFFSET, CAL_SCALE = -243.0, 0.1755


def make_nanopore_run(dest: Path, *, seed: int = 0, barcodes: int = 2, reads_per_barcode: int = 200,
                      genome_len: int = 100_000, with_signal: bool = False) -> Path:
    """Write ``<dest>/<experiment>/<sample>/<run folder>`` and return the run folder."""
    rng = np.random.default_rng([seed, 3])
    run_hash = rng.bytes(20).hex()
    experiment, sample_id = f"EXP-{seed:04d}-onc", f"LIB-{seed:04d}-ONT"
    run = Path(dest) / experiment / sample_id / f"20251123_1014_{POSITION}_{FLOWCELL}_{run_hash[:8]}"
    run.mkdir(parents=True, exist_ok=True)
    aliases = [f"PT{int(p)}-ONT" for p in rng.choice(np.arange(1000, 10000), size=barcodes, replace=False)]
    summary = ["\t".join(SUMMARY_COLUMNS)]
    t = 0.0
    signal_reads: list[tuple] = []
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
            if with_signal:
                signal_reads.append((read_id, read[0], q[0], channel, mux, t, i + 1, barcode, header.encode()))
            summary.append("\t".join(map(str, (
                name, read_id, run_hash, channel, mux, f"{t:.4f}", f"{duration:.4f}", "TRUE", length,
                f"{float(q.mean()):.2f}", barcode, sample_id, experiment))))
        out = run / "fastq_pass" / barcode / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(dna.gzip_bytes(b"".join(records)))
        if with_signal:
            from .bam import write_unaligned_bam

            mine = [r for r in signal_reads if r[7] == barcode]
            write_unaligned_bam(run / "bam_pass" / barcode / name.replace(".fastq.gz", ".bam"), aliases[b], "ONT",
                                [r[8] for r in mine], [r[1] for r in mine], [r[2] for r in mine],
                                tags=[[("ch", r[3]), ("mx", r[4]), ("rn", r[6]), ("RG", f"{run_hash}_{BASECALL_MODEL}")]
                                      for r in mine])
    (run / f"sequencing_summary_{FLOWCELL}_{run_hash[:8]}.txt").write_text("\n".join(summary) + "\n")
    sheet = ["flow_cell_id,kit,sample_id,experiment_id,barcode,alias"]
    sheet += [f"{FLOWCELL},{KIT},{sample_id},{experiment},barcode{b + 1:02d},{aliases[b]}" for b in range(barcodes)]
    (run / f"sample_sheet_{FLOWCELL}_20251123_1014_{run_hash[:8]}.csv").write_text("\n".join(sheet) + "\n")
    if with_signal:
        _write_pod5(run / "pod5" / f"{FLOWCELL}_pass_{run_hash[:8]}_0.pod5", signal_reads, run_hash, experiment,
                    sample_id, np.random.default_rng([seed, 6]))
    return run


def _write_pod5(path: Path, reads: list[tuple], run_hash: str, experiment: str, sample_id: str,
                rng: np.random.Generator) -> None:
    """Every read's raw signal, with the run info MinKNOW writes (its tracking ids are identifiers)."""
    import datetime
    import uuid

    import pod5

    start = datetime.datetime(2025, 11, 23, 10, 14, tzinfo=datetime.UTC)
    info = pod5.RunInfo(
        acquisition_id=run_hash, acquisition_start_time=start, adc_max=2047, adc_min=-4096,
        context_tags={"sample_frequency": str(SAMPLE_RATE), "sequencing_kit": KIT.lower(),
                      "basecall_config_filename": BASECALL_MODEL},
        experiment_name=experiment, flow_cell_id=FLOWCELL, flow_cell_product_code="FLO-MIN114",
        protocol_name="sequencing/sequencing_MIN114_DNA_e8_2_400K:FLO-MIN114:SQK-NBD114-24:400",
        protocol_run_id=_uuid(bytes.fromhex(run_hash[:32])), protocol_start_time=start, sample_id=sample_id,
        sample_rate=SAMPLE_RATE, sequencing_kit=KIT.lower(), sequencer_position=POSITION,
        sequencer_position_type="MinION Mk1B", software="MinKNOW 24.06.10", system_name="MN-HOST-01",
        system_type="Linux",
        tracking_id={"run_id": run_hash, "flow_cell_id": FLOWCELL, "sample_id": sample_id,
                     "device_id": POSITION, "exp_start_time": start.isoformat()})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with pod5.Writer(path, software_name="MinKNOW 24.06.10") as writer:
        for read_id, codes, _, channel, mux, t, number, _, _ in reads:
            levels = np.repeat(LEVEL_PA[codes], SAMPLES_PER_BASE) + rng.normal(0.0, NOISE_PA, len(codes) * SAMPLES_PER_BASE)
            adc = np.clip(np.rint(levels / CAL_SCALE - CAL_OFFSET), -4096, 2047).astype(np.int16)
            writer.add_read(pod5.Read(
                read_id=uuid.UUID(read_id), pore=pod5.Pore(channel=channel, well=mux, pore_type="not_set"),
                calibration=pod5.Calibration(offset=CAL_OFFSET, scale=CAL_SCALE), read_number=number,
                start_sample=int(t * SAMPLE_RATE), median_before=205.0,
                end_reason=pod5.EndReason(pod5.EndReasonEnum.SIGNAL_POSITIVE, False), run_info=info, signal=adc))


def _uuid(raw: bytes) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:32]}"

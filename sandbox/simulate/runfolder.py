"""A small, realistic Illumina run folder (MiSeq, or NovaSeq: ``model``): the instrument's own output,
as the index will see it.

Every sample gets its own random genome, so any read that leaks can be traced to its sample; the BCL
tile (CBCL on NovaSeq) holds the same clusters as the FASTQ files (plus the non-PF clusters RTA
filtered out). ``with_bam`` adds an unaligned BAM per sample (what a uBAM workflow keeps beside the
FASTQ). Output is byte-identical for a given seed (numpy Generator, gzip mtime 0).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import basecalls, dna

MISEQ = "M07011"
RUN_DATE = "251123"
LANE, TILE = 1, 1101
INDEX_LEN = 8
# Share of clusters whose index matches no sample (bcl2fastq's Undetermined file): ~2% on a good run.
UNDETERMINED_SHARE = 0.02
# Share of clusters that fail the chastity filter: in the BCL, never in a FASTQ.
NON_PF_SHARE = 0.04
# Adapter BCL Convert trims (Nextera); written to the sheet as a real one would be.
ADAPTER = "CTGTCTCTTATACACATCT"


@dataclass(frozen=True)
class RunLayout:
    """Names a simulated run uses, derived from the seed only."""

    run_id: str
    flowcell: str
    run_number: int
    experiment: str
    project: str
    sample_ids: list[str]
    indexes: list[tuple[str, str]]


@dataclass(frozen=True)
class Model:
    """What differs between the instruments simulated: names, metadata files, base-call files."""

    name: str                      # as SampleSheet's InstrumentType says it
    instrument: str                # instrument serial in run ids and read names
    flowcell: Callable[[int], str]
    run_info: Callable[[RunLayout, int], bytes]
    run_parameters: Callable[[RunLayout, int], bytes]
    rta_complete: bytes
    # base calls (cycles x clusters codes and qualities, PF flags) written under the lane's folder
    write_basecalls: Callable[[Path, np.ndarray, np.ndarray, np.ndarray], None]
    binning: Callable[[np.ndarray], np.ndarray] | None = None   # quality scores as RTA writes them
    tile_metrics: bool = True      # InterOp TileMetricsOut v2 (RTA 1.x)


def _miseq_flowcell(seed: int) -> str:
    return "000000000-" + ("DEMO1" if seed == 0 else f"S{seed % 10000:04d}")


def layout(seed: int = 0, samples: int = 3, model: str = "miseq") -> RunLayout:
    """The run id, sample ids and indexes ``make_illumina_run`` uses for ``seed``."""
    rng = np.random.default_rng([seed, 1])
    spec = MODELS[model]
    flowcell = spec.flowcell(seed)
    number = 42 + seed % 9000
    patients = rng.choice(np.arange(1000, 10000), size=samples, replace=False)
    tissue = ("T", "N", "B")
    sample_ids = [f"PT{p}-{tissue[i % 3]}{i // 3 + 1}" for i, p in enumerate(patients)]
    indexes: list[tuple[str, str]] = []
    seen: set[str] = set()
    while len(indexes) < samples:
        i7, i5 = (dna.codes_to_bytes(dna.random_codes(rng, INDEX_LEN)).decode() for _ in range(2))
        if i7 not in seen:
            seen.add(i7)
            indexes.append((i7, i5))
    return RunLayout(
        run_id=f"{RUN_DATE}_{spec.instrument}_{number:04d}_{flowcell}", flowcell=flowcell, run_number=number,
        experiment=f"ONC-Panel-{number:04d}", project=f"ONC_2025_{seed % 1000:03d}",
        sample_ids=sample_ids, indexes=indexes,
    )


def make_illumina_run(dest: Path, *, seed: int = 0, samples: int = 3, reads_per_sample: int = 2000,
                      read_len: int = 151, genome_len: int = 50_000, with_bcl: bool = True, model: str = "miseq",
                      with_bam: bool = False, variants: int = 0) -> Path:
    """Write a MiSeq- (or NovaSeq-) style run folder under ``dest`` and return its path; with
    ``variants``, a VCF of that many variant calls per sample (Alignment/, as MiSeq Reporter leaves)."""
    spec = MODELS[model]
    lay = layout(seed, samples, model)
    run = Path(dest) / lay.run_id
    calls = run / "Data" / "Intensities" / "BaseCalls"
    calls.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 2])

    genomes = [dna.random_codes(rng, genome_len) for _ in range(samples)]
    contaminant = dna.random_codes(rng, genome_len)  # PhiX-like spike-in: reads of no sample
    n_undet = max(1, int(samples * reads_per_sample * UNDETERMINED_SHARE))
    groups = [dna.sample_reads(rng, g, reads_per_sample, read_len) for g in genomes]
    groups.append(dna.sample_reads(rng, contaminant, n_undet, read_len))
    owner = np.repeat(np.arange(samples + 1), [reads_per_sample] * samples + [n_undet])
    n_pf = len(owner)
    n_nonpf = int(n_pf * NON_PF_SHARE)
    reads = np.concatenate(groups + [dna.random_codes(rng, n_nonpf * read_len).reshape(n_nonpf, read_len)])
    owner = np.concatenate([owner, np.full(n_nonpf, -1)])
    quals = dna.qualities(rng, reads)
    quals[n_pf:] = np.minimum(quals[n_pf:], rng.integers(2, 15, size=(n_nonpf, read_len)))
    if spec.binning is not None:
        quals = spec.binning(quals)

    order = rng.permutation(len(owner))  # clusters sit on the tile in no particular order
    reads, quals, owner = reads[order], quals[order], owner[order]
    passed = owner >= 0
    idx_codes = _index_codes(rng, lay, owner)
    idx_quals = dna.qualities(rng, idx_codes)
    if spec.binning is not None:
        idx_quals = spec.binning(idx_quals)
    x = rng.integers(1000, 29000, size=len(owner))
    y = rng.integers(1000, 29000, size=len(owner))

    _write(run / "RunInfo.xml", spec.run_info(lay, read_len))
    _write(run / "RunParameters.xml", spec.run_parameters(lay, read_len))
    _write(run / "SampleSheet.csv", _sample_sheet(lay, read_len, spec.name))
    _write(run / "RTAComplete.txt", spec.rta_complete)
    if spec.tile_metrics:
        _write(run / "InterOp" / "TileMetricsOut.bin",
               basecalls.tile_metrics_bytes(LANE, TILE, len(owner), int(passed.sum())))

    prefix = f"@{spec.instrument}:{lay.run_number}:{lay.flowcell}:{LANE}:{TILE}"
    for s in range(samples + 1):
        rows = np.flatnonzero(owner == s)
        name, num = (lay.sample_ids[s], s + 1) if s < samples else ("Undetermined", 0)
        headers = []
        for r in rows:
            bar = dna.codes_to_bytes(idx_codes[r]).decode()
            headers.append(f"{prefix}:{x[r]}:{y[r]} 1:N:0:{bar[:INDEX_LEN]}+{bar[INDEX_LEN:]}".encode())
        text = dna.fastq(headers, reads[rows], quals[rows])
        _write(calls / f"{name}_S{num}_L{LANE:03d}_R1_001.fastq.gz", dna.gzip_bytes(text))
        if with_bam and s < samples:
            from .bam import write_unaligned_bam

            write_unaligned_bam(calls / "uBAM" / f"{name}_S{num}.bam", name, "ILLUMINA", headers, reads[rows],
                                quals[rows])

    for s in range(samples if variants else 0):     # a generator of its own: the other files stay as they were
        name = lay.sample_ids[s]
        _write(calls / "Alignment" / f"{name}_S{s + 1}.vcf",
               _vcf(np.random.default_rng([seed, 3, s]), genomes[s], variants, name))

    if with_bcl:
        spec.write_basecalls(calls / f"L{LANE:03d}", np.concatenate([reads, idx_codes], axis=1),
                             np.concatenate([quals, idx_quals], axis=1), passed)
    return run


def _vcf(rng: np.random.Generator, genome: np.ndarray, count: int, sample: str) -> bytes:
    """A VCF of ``count`` SNPs of one sample on its genome (contig "1"): the reference base as it is,
    another as the alternate, heterozygous or homozygous."""
    positions = np.sort(rng.choice(len(genome), min(count, len(genome)), replace=False)) + 1
    letters = b"ACGT"
    lines = [b"##fileformat=VCFv4.2", b"##contig=<ID=1,length=%d>" % len(genome),
             b'##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + sample.encode()]
    for pos, shift, hom in zip(positions.tolist(), rng.integers(1, 4, len(positions)).tolist(),
                               (rng.random(len(positions)) < 0.3).tolist(), strict=True):
        ref = int(genome[pos - 1])
        lines.append(b"1\t%d\t.\t%c\t%c\t60\tPASS\t.\tGT\t%s" % (pos, letters[ref], letters[(ref + shift) % 4],
                                                                    b"1/1" if hom else b"0/1"))
    return b"\n".join(lines) + b"\n"


def _write_bcls(lane_dir: Path, cycles: np.ndarray, cycle_q: np.ndarray, passed: np.ndarray) -> None:
    """RTA 1.x (MiSeq): one BCL per cycle, all clusters, and the tile's filter file."""
    for c in range(cycles.shape[1]):
        _write(lane_dir / f"C{c + 1}.1" / f"s_{LANE}_{TILE}.bcl", basecalls.bcl_bytes(cycles[:, c], cycle_q[:, c]))
    _write(lane_dir / f"s_{LANE}_{TILE}.filter", basecalls.filter_bytes(passed))


def _index_codes(rng: np.random.Generator, lay: RunLayout, owner: np.ndarray) -> np.ndarray:
    """i7+i5 index cycles per cluster: the sample's barcodes, random ones for the rest."""
    table = np.array([[b"ACGT".index(ch) for ch in (i7 + i5).encode()] for i7, i5 in lay.indexes], dtype=np.uint8)
    codes = dna.random_codes(rng, len(owner) * 2 * INDEX_LEN).reshape(len(owner), 2 * INDEX_LEN)
    known = (owner >= 0) & (owner < len(lay.indexes))
    codes[known] = table[owner[known]]
    return codes


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _miseq_run_info(lay: RunLayout, read_len: int) -> bytes:
    return f"""<?xml version="1.0"?>
<RunInfo xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" Version="2">
  <Run Id="{lay.run_id}" Number="{lay.run_number}">
    <Flowcell>{lay.flowcell}</Flowcell>
    <Instrument>{MISEQ}</Instrument>
    <Date>{RUN_DATE}</Date>
    <Reads>
      <Read NumCycles="{read_len}" Number="1" IsIndexedRead="N" />
      <Read NumCycles="{INDEX_LEN}" Number="2" IsIndexedRead="Y" />
      <Read NumCycles="{INDEX_LEN}" Number="3" IsIndexedRead="Y" />
    </Reads>
    <FlowcellLayout LaneCount="1" SurfaceCount="2" SwathCount="1" TileCount="1" />
  </Run>
</RunInfo>
""".replace("\n", "\r\n").encode()


def _miseq_run_parameters(lay: RunLayout, read_len: int) -> bytes:
    return f"""<?xml version="1.0"?>
<RunParameters xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <RunParametersVersion>MiSeq_1_2</RunParametersVersion>
  <FlowcellRFIDTag>
    <SerialNumber>{lay.flowcell}</SerialNumber>
    <PartNumber>15028382</PartNumber>
    <ExpirationDate>2026-06-15T00:00:00</ExpirationDate>
    <LotNumber>20871120</LotNumber>
  </FlowcellRFIDTag>
  <ReagentKitRFIDTag>
    <SerialNumber>MS{lay.run_number:07d}-300V2</SerialNumber>
    <PartNumber>15033572</PartNumber>
    <LotNumber>20870331</LotNumber>
  </ReagentKitRFIDTag>
  <Setup>
    <ApplicationName>MiSeq Control Software</ApplicationName>
    <ApplicationVersion>4.0.0.1769</ApplicationVersion>
    <NumTilesPerSwath>1</NumTilesPerSwath>
    <NumLanes>1</NumLanes>
  </Setup>
  <RunID>{lay.run_id}</RunID>
  <ScannerID>{MISEQ}</ScannerID>
  <RunNumber>{lay.run_number}</RunNumber>
  <RTAVersion>1.18.54.4</RTAVersion>
  <Barcode>{lay.flowcell}</Barcode>
  <ExperimentName>{lay.experiment}</ExperimentName>
  <Chemistry>Amplicon</Chemistry>
  <Username>bench.operator@lab.example</Username>
  <Reads>
    <RunInfoRead Number="1" NumCycles="{read_len}" IsIndexedRead="N" />
    <RunInfoRead Number="2" NumCycles="{INDEX_LEN}" IsIndexedRead="Y" />
    <RunInfoRead Number="3" NumCycles="{INDEX_LEN}" IsIndexedRead="Y" />
  </Reads>
  <RunStartDate>{RUN_DATE}</RunStartDate>
</RunParameters>
""".replace("\n", "\r\n").encode()


def _sample_sheet(lay: RunLayout, read_len: int, instrument_type: str = "MiSeq") -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerows([
        ["[Header]"], ["FileFormatVersion", "2"], ["RunName", lay.experiment],
        ["InstrumentPlatform", "NovaSeq" if instrument_type.startswith("NovaSeq") else "MiSeq"],
        ["InstrumentType", instrument_type], [],
        ["[Reads]"], ["Read1Cycles", read_len], ["Index1Cycles", INDEX_LEN], ["Index2Cycles", INDEX_LEN], [],
        ["[BCLConvert_Settings]"], ["SoftwareVersion", "3.9.3"], ["AdapterRead1", ADAPTER],
        ["FastqCompressionFormat", "gzip"], [],
        ["[BCLConvert_Data]"], ["Sample_ID", "index", "index2", "Sample_Project"],
    ])
    for sid, (i7, i5) in zip(lay.sample_ids, lay.indexes, strict=True):
        w.writerow([sid, i7, i5, lay.project])
    return buf.getvalue().encode()


# Instruments by name; ``sandbox.simulate.novaseq`` adds "novaseq" when imported.
MODELS: dict[str, Model] = {
    "miseq": Model("MiSeq", MISEQ, _miseq_flowcell, _miseq_run_info, _miseq_run_parameters,
                   b"11/23/2025,14:02:31.412,Illumina RTA 1.18.54\r\n", _write_bcls),
}


def sample_fastqs(run: Path) -> dict[str, Path]:
    """FASTQ.gz of each sample of a simulated run, keyed by Sample_ID, in sheet order."""
    calls = Path(run) / "Data" / "Intensities" / "BaseCalls"
    out: dict[str, Path] = {}
    for path in sorted(calls.glob("*_S*_L001_R1_001.fastq.gz")):
        name, _, rest = path.name.rpartition("_S")
        num = int(rest.split("_", 1)[0])
        if num > 0:
            out[name] = path
    return dict(sorted(out.items(), key=lambda kv: int(kv[1].name.rpartition("_S")[2].split("_")[0])))

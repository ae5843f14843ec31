"""Generated Illumina-style run folders (random genome, 150 bp reads, FASTQ.gz, sample sheet v1).

Vectorised with numpy so the benchmark's ~1M-read folder takes seconds; tests use a few thousand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from isal import igzip

READ_LEN = 150
_BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
_QUAL = np.frombuffer(b"#,:FFFFFFFFFFF", dtype=np.uint8)  # NovaSeq-like binned qualities, mostly F
_COMP = bytes.maketrans(b"ACGT", b"TGCA")

RUN_ID = "240101_M09999_0042_000000000-ZQX7K"
FLOWCELL = "000000000-ZQX7K"
INSTRUMENT = "M09999"


def revcomp(seq: bytes) -> bytes:
    return seq.translate(_COMP)[::-1]


def random_genome(size: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return _BASES[rng.integers(0, 4, size)].tobytes()


@dataclass
class GeneratedRun:
    path: Path
    genomes: dict[str, bytes]  # sample id -> genome its reads came from
    reads: dict[str, list[bytes]] = field(default_factory=dict)  # first reads per sample (for tests)
    fastq: dict[str, str] = field(default_factory=dict)  # sample id -> rel path of its FASTQ.gz


def _fastq_block(genome: np.ndarray, n: int, rng: np.random.Generator, sample_no: int, first: int) -> bytes:
    starts = rng.integers(0, len(genome) - READ_LEN, n)
    seqs = genome[starts[:, None] + np.arange(READ_LEN)]
    flip = rng.random(n) < 0.5
    comp = np.zeros(256, dtype=np.uint8)
    comp[np.frombuffer(b"ACGT", np.uint8)] = np.frombuffer(b"TGCA", np.uint8)
    seqs[flip] = comp[seqs[flip][:, ::-1]]
    quals = _QUAL[rng.integers(0, len(_QUAL), (n, READ_LEN))]
    heads = [f"@{INSTRUMENT}:42:{FLOWCELL}:1:{1101 + (first + i) // 100000}:{(first + i) % 100000:05d}:1000 "
             f"1:N:0:{sample_no}".encode() for i in range(n)]
    width = max(map(len, heads))
    head_arr = np.full((n, width), ord(" "), dtype=np.uint8)
    for i, h in enumerate(heads):
        head_arr[i, : len(h)] = np.frombuffer(h, np.uint8)
    nl = np.full((n, 1), ord("\n"), np.uint8)
    plus = np.tile(np.frombuffer(b"\n+\n", np.uint8), (n, 1))
    return np.hstack([head_arr, nl, seqs, plus, quals, nl]).tobytes()


def make_run(root: Path, samples: int = 2, reads_per_sample: int = 2000, genome_size: int = 50_000,
             seed: int = 7, keep_reads: int = 50) -> GeneratedRun:
    """A run folder with RunInfo.xml, SampleSheet.csv and one R1 FASTQ.gz per sample."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    run = GeneratedRun(root, {})
    (root / "RunInfo.xml").write_text(
        f'<?xml version="1.0"?>\n<RunInfo Version="2">\n  <Run Id="{RUN_ID}" Number="42">\n'
        f"    <Flowcell>{FLOWCELL}</Flowcell>\n    <Instrument>{INSTRUMENT}</Instrument>\n"
        '    <Date>240101</Date>\n    <Reads>\n      <Read Number="1" NumCycles="150" IsIndexedRead="N" />\n'
        '    </Reads>\n    <FlowcellLayout LaneCount="1" SurfaceCount="1" SwathCount="1" TileCount="2" />\n'
        "  </Run>\n</RunInfo>\n")
    rows = []
    for i in range(samples):
        sid = f"PT{1000 + i}-Biopsy"
        rows.append(f"{sid},Patient_{chr(65 + i)}x{seed},,,D70{i},ATTACTC{'GT'[i % 2]},ProjOncoZeta,")
    (root / "SampleSheet.csv").write_text(
        "[Header]\nIOMFileVersion,1\nInvestigator Name,Dr Quill\nExperiment Name,ZetaTrial-Batch7\n"
        "Date,2024-01-01\nWorkflow,GenerateFASTQ\n\n[Reads]\n150\n\n[Data]\n"
        "Sample_ID,Sample_Name,Sample_Plate,Sample_Well,I7_Index_ID,index,Sample_Project,Description\n"
        + "\n".join(rows) + "\n")
    fq_dir = root / "Data" / "Intensities" / "BaseCalls"
    fq_dir.mkdir(parents=True, exist_ok=True)
    for i in range(samples):
        sid = f"PT{1000 + i}-Biopsy"
        genome = np.frombuffer(random_genome(genome_size, seed * 1000 + i), dtype=np.uint8)
        run.genomes[sid] = genome.tobytes()
        rel = f"Data/Intensities/BaseCalls/{sid}_S{i + 1}_L001_R1_001.fastq.gz"
        run.fastq[sid] = rel
        done = 0
        with igzip.open(root / rel, "wb", compresslevel=1) as fh:
            while done < reads_per_sample:
                n = min(100_000, reads_per_sample - done)
                block = _fastq_block(genome, n, rng, i + 1, done)
                if done == 0:
                    lines = block.split(b"\n")
                    run.reads[sid] = lines[1: 4 * keep_reads: 4]
                fh.write(block)
                done += n
    return run


# GRCh37 chromosome lengths (Mb): generated variants are spread over them as a whole genome's are.
_CHROMOSOME_MB = (249, 243, 198, 191, 181, 171, 159, 146, 141, 136, 135, 134, 115, 107, 103, 90, 81, 78, 59,
                  63, 48, 51)


def random_variants(count: int, seed: int) -> list[tuple[str, int, str, str]]:
    """(chromosome, position, ref, alt) of ``count`` SNPs (about 1 in 8 a short indel), sorted."""
    rng = np.random.default_rng(seed)
    sizes = np.array(_CHROMOSOME_MB, dtype=np.int64) * 1_000_000
    chrom = np.sort(rng.choice(len(sizes), count, p=sizes / sizes.sum()))
    pos = rng.integers(10_000, sizes[chrom] - 10_000)
    ref = rng.integers(0, 4, count)
    alt = (ref + rng.integers(1, 4, count)) % 4
    indel = rng.random(count) < 0.125
    letters = "ACGT"
    out = []
    for c, p, r, a, i in zip(chrom.tolist(), pos.tolist(), ref.tolist(), alt.tolist(), indel.tolist(), strict=True):
        ref_allele = letters[r] + (letters[a] * 2 if i else "")
        out.append((str(c + 1), p, ref_allele, letters[a] if i else letters[a]))
    out.sort(key=lambda v: (int(v[0]), v[1]))
    return out


def write_vcf(path: Path, variants: list[tuple[str, int, str, str]], sample: str) -> None:
    """A VCF 4.2 of the variants, one sample heterozygous at each."""
    with open(path, "w") as fh:
        fh.write("##fileformat=VCFv4.2\n")
        for c, mb in enumerate(_CHROMOSOME_MB):
            fh.write(f"##contig=<ID={c + 1},length={mb * 1_000_000}>\n")
        fh.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
        fh.write(f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{sample}\n")
        fh.writelines(f"{c}\t{p}\t.\t{r}\t{a}\t50\tPASS\t.\tGT\t0/1\n" for c, p, r, a in variants)

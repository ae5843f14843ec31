"""The NovaSeq 6000 variant of the simulated Illumina run: RTA 3 metadata and CBCL base calls.

CBCL (BCL Convert / bcl2fastq v2.20 docs): per cycle and surface one file of gzip'd tile blocks
behind a header of struct layouts (below); 2 bits a base, 2 bits a quality bin, a cluster a nibble
(first cluster in the low nibble); non-PF clusters excluded, as RTA 3 writes them.  Qualities are
binned to the four scores RTA 3 reports (2, 12, 23, 37).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from .dna import N_CODE, gzip_bytes
from .runfolder import INDEX_LEN, LANE, MODELS, RUN_DATE, TILE, Model, RunLayout, make_illumina_run

INSTRUMENT = "A01234"
RTA_COMPLETE = b"RTA 3.4.4 completed on 11/23/2025 2:02:31 PM\r\n"
CBCL_VERSION = 1
CBCL_FIXED = struct.Struct("<HIBBI")     # version, header size, bits per call, bits per q-score, bins
CBCL_BIN = struct.Struct("<II")          # q-bin -> q-score
CBCL_TILE = struct.Struct("<IIIIB")      # tile, clusters, uncompressed, compressed, non-PF excluded
Q_BINS = (2, 12, 23, 37)                 # RTA 3's reported scores, bin 0..3
Q_EDGES = np.array([3, 15, 31])          # a score below 3 is bin 0, below 15 bin 1, below 31 bin 2
SURFACE = 1


def flowcell(seed: int) -> str:
    return f"H{seed % 100000:05d}DSX5"


def binned(quals: np.ndarray) -> np.ndarray:
    """Phred scores as RTA 3 reports them (four bins)."""
    return np.asarray(Q_BINS, dtype=np.uint8)[np.digitize(quals, Q_EDGES)]


def cbcl_bytes(bases: np.ndarray, quals: np.ndarray, tile: int) -> bytes:
    """One cycle's CBCL for one tile: ``bases`` codes (N = 4) and binned ``quals`` of its PF clusters."""
    qbin = np.digitize(quals, Q_EDGES).astype(np.uint8)
    nib = ((qbin << 2) | (bases & 3)).astype(np.uint8)
    nib[bases == N_CODE] = 0
    if len(nib) % 2:
        nib = np.append(nib, 0)
    packed = (nib[0::2] | (nib[1::2] << 4)).astype(np.uint8).tobytes()
    block = gzip_bytes(packed)
    header_size = CBCL_FIXED.size + len(Q_BINS) * CBCL_BIN.size + 4 + CBCL_TILE.size
    head = CBCL_FIXED.pack(CBCL_VERSION, header_size, 2, 2, len(Q_BINS))
    head += b"".join(CBCL_BIN.pack(i, q) for i, q in enumerate(Q_BINS))
    head += struct.pack("<I", 1) + CBCL_TILE.pack(tile, len(bases), len(packed), len(block), 1)
    return head + block


def write_cbcls(lane_dir: Path, cycles: np.ndarray, cycle_q: np.ndarray, passed: np.ndarray) -> None:
    """Every cycle's CBCL (PF clusters only) and the tile's filter file."""
    from .basecalls import filter_bytes

    for c in range(cycles.shape[1]):
        path = lane_dir / f"C{c + 1}.1" / f"L{LANE:03d}_{SURFACE}.cbcl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(cbcl_bytes(cycles[passed, c], cycle_q[passed, c], TILE))
    (lane_dir / f"s_{LANE}_{TILE}.filter").write_bytes(filter_bytes(passed))


def run_info(lay: RunLayout, read_len: int) -> bytes:
    return f"""<?xml version="1.0"?>
<RunInfo Version="5">
  <Run Id="{lay.run_id}" Number="{lay.run_number}">
    <Flowcell>{lay.flowcell}</Flowcell>
    <Instrument>{INSTRUMENT}</Instrument>
    <Date>11/23/2025 10:00:00 AM</Date>
    <Reads>
      <Read Number="1" NumCycles="{read_len}" IsIndexedRead="N" />
      <Read Number="2" NumCycles="{INDEX_LEN}" IsIndexedRead="Y" />
      <Read Number="3" NumCycles="{INDEX_LEN}" IsIndexedRead="Y" />
    </Reads>
    <FlowcellLayout LaneCount="1" SurfaceCount="1" SwathCount="1" TileCount="1" FlowcellSide="A">
      <TileSet TileNamingConvention="FourDigit">
        <Tiles>
          <Tile>{LANE}_{TILE}</Tile>
        </Tiles>
      </TileSet>
    </FlowcellLayout>
    <ImageDimensions Width="3200" Height="3200" />
    <ImageChannels>
      <Name>green</Name>
      <Name>red</Name>
    </ImageChannels>
  </Run>
</RunInfo>
""".replace("\n", "\r\n").encode()


def run_parameters(lay: RunLayout, read_len: int) -> bytes:
    return f"""<?xml version="1.0"?>
<RunParameters xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <Side>A</Side>
  <Application>NovaSeq Control Software</Application>
  <ApplicationVersion>1.7.5</ApplicationVersion>
  <RunId>{lay.run_id}</RunId>
  <RunNumber>{lay.run_number}</RunNumber>
  <RtaVersion>v3.4.4</RtaVersion>
  <InstrumentName>{INSTRUMENT}</InstrumentName>
  <ExperimentName>{lay.experiment}</ExperimentName>
  <Read1NumberOfCycles>{read_len}</Read1NumberOfCycles>
  <IndexRead1NumberOfCycles>{INDEX_LEN}</IndexRead1NumberOfCycles>
  <IndexRead2NumberOfCycles>{INDEX_LEN}</IndexRead2NumberOfCycles>
  <RfidsInfo>
    <FlowCellSerialBarcode>{lay.flowcell}</FlowCellSerialBarcode>
    <FlowCellMode>SP</FlowCellMode>
    <SbsSerialBarcode>NV{lay.run_number:07d}-RGSBS</SbsSerialBarcode>
    <LibraryTubeSerialBarcode>NV{lay.run_number:07d}-LIB</LibraryTubeSerialBarcode>
  </RfidsInfo>
  <Username>bench.operator@lab.example</Username>
  <RunStartDate>{RUN_DATE}</RunStartDate>
</RunParameters>
""".replace("\n", "\r\n").encode()


MODELS["novaseq"] = Model("NovaSeq6000", INSTRUMENT, flowcell, run_info, run_parameters, RTA_COMPLETE, write_cbcls,
                          binning=binned, tile_metrics=False)


def make_novaseq_run(dest: Path, *, seed: int = 0, samples: int = 3, reads_per_sample: int = 2000,
                     read_len: int = 151, with_bam: bool = False, variants: int = 0) -> Path:
    """A NovaSeq 6000 run folder under ``dest``; its path."""
    return make_illumina_run(dest, seed=seed, samples=samples, reads_per_sample=reads_per_sample, read_len=read_len,
                             model="novaseq", with_bam=with_bam, variants=variants)

"""Binary run files RTA writes: per-cycle BCL, the tile's filter file and InterOp tile metrics.

Formats are described as struct layouts (Illumina's BCL / filter / InterOp documentation):
- BCL: uint32 cluster count, then one byte per cluster: base code in bits 0-1 (A,C,G,T), quality in
  bits 2-7; byte 0 means no call (N).
- filter: uint32 0, uint32 version 3, uint32 cluster count, then one byte per cluster (1 = passed).
- TileMetricsOut.bin v2: uint8 version 2, uint8 record size 10, records of
  (uint16 lane, uint16 tile, uint16 metric code, float32 value).
"""

from __future__ import annotations

import struct

import numpy as np

from .dna import N_CODE

BCL_HEADER = struct.Struct("<I")
FILTER_HEADER = struct.Struct("<III")
FILTER_VERSION = 3
TILE_METRICS_HEADER = struct.Struct("<BB")
TILE_METRICS_RECORD = np.dtype([("lane", "<u2"), ("tile", "<u2"), ("code", "<u2"), ("value", "<f4")])
TILE_METRICS_VERSION = 2
# Metric codes of TileMetricsOut v2: cluster density, PF density, cluster count, PF cluster count.
CODE_DENSITY, CODE_DENSITY_PF, CODE_CLUSTERS, CODE_CLUSTERS_PF = 100, 101, 102, 103
# MiSeq tile area in mm^2, for densities (clusters per mm^2) that look like a real run's.
MISEQ_TILE_AREA_MM2 = 0.96


def bcl_bytes(bases: np.ndarray, quals: np.ndarray) -> bytes:
    """One cycle's BCL: ``bases`` and ``quals`` are 1-D per-cluster arrays (codes 0..4, phred)."""
    calls = ((np.minimum(quals, 63).astype(np.uint8) << 2) | (bases & 3)).astype(np.uint8)
    calls[bases == N_CODE] = 0
    return BCL_HEADER.pack(len(calls)) + calls.tobytes()


def filter_bytes(passed: np.ndarray) -> bytes:
    return FILTER_HEADER.pack(0, FILTER_VERSION, len(passed)) + passed.astype(np.uint8).tobytes()


def tile_metrics_bytes(lane: int, tile: int, clusters: int, clusters_pf: int) -> bytes:
    density = clusters / MISEQ_TILE_AREA_MM2
    records = np.array([
        (lane, tile, CODE_DENSITY, density),
        (lane, tile, CODE_DENSITY_PF, density * clusters_pf / max(clusters, 1)),
        (lane, tile, CODE_CLUSTERS, clusters),
        (lane, tile, CODE_CLUSTERS_PF, clusters_pf),
    ], dtype=TILE_METRICS_RECORD)
    return TILE_METRICS_HEADER.pack(TILE_METRICS_VERSION, TILE_METRICS_RECORD.itemsize) + records.tobytes()

"""Oxford Nanopore run metadata shared by POD5, FAST5, FASTQ headers and BAM: tracking-id keys."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .base import Identifier, RunMeta, Sample

# MinKNOW tracking_id / context_tags / run_info keys that identify the run, sample, flow cell or device.
TRACKING_KINDS = {
    "run_id": "run_id", "acquisition_id": "run_id", "protocol_run_id": "run_id",
    "sample_id": "sample", "flow_cell_id": "flowcell", "asic_id_eeprom": "flowcell",
    "device_id": "instrument", "host_product_serial_number": "instrument", "hostname": "instrument",
    "protocol_group_id": "experiment", "experiment_name": "experiment", "exp_script_name": "protocol",
}
# MinKNOW's placeholders for "not set": not evidence of anything.
PLACEHOLDERS = {"", "no_sample", "unknown", "0", "none", "n/a"}
# Read ids kept as identifiers per file: a MinION run has millions; a leak of a few hundred
# thousand read ids is still found, and the index's identifier automaton stays small.
MAX_READ_IDS = 100_000


def tracking_identifiers(pairs: Iterable[tuple[str, str]], samples: tuple[str, ...] = ()) -> Iterator[Identifier]:
    seen = set()
    for key, value in pairs:
        kind = TRACKING_KINDS.get(key)
        value = str(value).strip()
        if kind and value.lower() not in PLACEHOLDERS and (value, kind) not in seen:
            seen.add((value, kind))
            yield Identifier(value, kind, samples)


def contribute_tracking(meta: RunMeta, tags: dict[str, str]) -> None:
    """Fill a nanopore run's meta from one read's tracking tags (first file seen wins for run id)."""
    meta.platform = meta.platform or "nanopore"
    clean = {k: str(v).strip() for k, v in tags.items() if str(v).strip().lower() not in PLACEHOLDERS}
    meta.run_id = meta.run_id or clean.get("run_id") or clean.get("acquisition_id", "")
    meta.flowcell = meta.flowcell or clean.get("flow_cell_id", "")
    meta.instrument = meta.instrument or clean.get("host_product_serial_number") or clean.get("device_id", "")
    meta.experiment = meta.experiment or clean.get("protocol_group_id") or clean.get("experiment_name", "")
    for ident in tracking_identifiers(clean.items()):
        meta.add_identifier(ident.value, ident.kind)
    sample = clean.get("sample_id", "")
    if sample and not any(s.index for s in meta.samples):  # a barcode sheet's aliases win
        meta.add_sample(Sample(sample, sample))

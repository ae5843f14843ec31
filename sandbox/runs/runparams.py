"""Illumina RunParameters.xml / runParameters.xml: experiment, consumable RFIDs, run and library ids."""

from __future__ import annotations

import re
from typing import ClassVar

from .base import RunFile, RunMeta
from .xmlmeta import load_xml, text

# Element names whose text identifies the run, its consumables or its people (all instrument families:
# MiSeq FlowcellRFIDTag/SerialNumber, NovaSeq RfidsInfo/*SerialBarcode, HiSeq Barcode/ScannerID).
_KINDS = (
    (re.compile(r"^(?:ExperimentName|RunName|RunDescription)$"), "experiment"),
    (re.compile(r"^(?:RunId|RunID|BaseSpaceRunId|CloudRunId|UcsRunId|MAPRunId)$"), "run_id"),
    (re.compile(r"^(?:ScannerID|InstrumentName|InstrumentSerialNumber|InstrumentID|ComputerName)$"), "instrument"),
    (re.compile(r"(?:SerialBarcode|SerialNumber|Barcode|LotNumber|ReagentKitBarcode)$"), "consumable"),
    (re.compile(r"^(?:LibraryName|LibraryID|LibraryTubeID|LibraryPrepKit|PoolID|PoolName)$"), "library"),
    (re.compile(r"^(?:Username|BaseSpaceUserName|CloudUsername|DxUserName|OutputFolder|OutputRunFolder)$"),
     "user"),
)
# Values too generic to say who was sequenced (booleans, single letters, small counters).
_TRIVIAL = re.compile(r"^(?:true|false|none|null|n/?a|custom|\d{1,4}|[A-Za-z])$", re.I)


class RunParametersFile(RunFile):
    kind = "runparameters"
    platform: ClassVar[str] = "illumina"
    meta_order: ClassVar[int] = 20

    @staticmethod
    def claim(rel: str, head: bytes) -> bool:
        return rel.rsplit("/", 1)[-1].lower() == "runparameters.xml"

    def contribute(self, meta: RunMeta) -> None:
        root = load_xml(self.path)
        meta.platform = meta.platform or "illumina"
        meta.experiment = meta.experiment or text(root, ".//ExperimentName")
        meta.run_id = meta.run_id or text(root, ".//RunId", ".//RunID")
        meta.instrument = meta.instrument or text(root, ".//InstrumentName", ".//ScannerID")
        meta.flowcell = meta.flowcell or text(root, ".//FlowCellSerialBarcode", ".//FlowcellRFIDTag/SerialNumber",
                                              ".//Barcode")
        for el in root.iter():
            value = (el.text or "").strip()
            if not value or _TRIVIAL.match(value) or len(value) > 200:
                continue
            for pattern, kind in _KINDS:
                if pattern.search(el.tag):
                    meta.add_identifier(value, kind)
                    break

    def assign_samples(self, meta: RunMeta) -> tuple[str, ...]:
        return tuple(meta.sample_ids())  # run-level metadata: it describes every sample

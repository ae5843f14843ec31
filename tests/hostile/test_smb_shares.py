"""Reads written to the allowed LIMS's file share through SMB 3.1.1's compression.

A Windows control PC compresses SMB messages when both ends allow it (LZ77 by default; LZNT1,
LZ77+Huffman, LZ4 and chains with Pattern_V1 runs too).  40 kB of reads written to the LIMS's share
so replayed CLEAN: the flow was raw bytes, the compressed messages matched nothing and were under the
opaque-volume threshold.  Now the messages are expanded and the file is named in the finding; one of
an algorithm the rig does not know is said in ``not_examined`` (inconclusive, never clean).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.decode import msxca
from sandbox.replay import replay
from sandbox.simulate import wire
from tests.hostile.uploads import ALLOWED
from tests.protocols import smb_messages as m


def _share_upload(path: Path, conversation: list[tuple[str, bytes]]) -> None:
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 49800), (ALLOWED, 445), t0=1.0)
        for direction, data in conversation:
            c.send(data, from_client=direction == "out")
        c.close()


def _replay(tmp: Path, run: Path, name: str, conversation: list[tuple[str, bytes]]) -> dict:
    capture = tmp / f"{name}.pcap"
    _share_upload(capture, conversation)
    return replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report


def _packed(algorithm: int):
    if algorithm == msxca.PATTERN_V1:   # a chain: the header as it is, the data LZ77, a run of zeros at the end
        return lambda msg: m.chained([(msxca.NONE, msg[:112]), (msxca.LZ77, msg[112:-512])]
                                     + [(msxca.PATTERN_V1 if len(set(msg[-512:])) == 1 else msxca.LZ77, msg[-512:])])
    return lambda msg: m.compressed(msg, algorithm, keep=112 if algorithm == msxca.LZNT1 else 0)


@pytest.mark.parametrize("algorithm", [msxca.LZ77, msxca.LZNT1, msxca.LZ77_HUFFMAN, msxca.LZ4, msxca.PATTERN_V1],
                         ids=msxca.name)
def test_reads_written_through_compression_are_a_leak_naming_the_file(reads, algorithm: int) -> None:
    tmp, run, fastq = reads
    data = fastq + bytes(512)
    report = _replay(tmp, run, f"smb-{algorithm}", wire.smb_upload("Run42\\reads.fastq", data, piece=16384,
                                                            pack=_packed(algorithm)))
    assert report["verdict"] == "leak"
    leaks = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert leaks and all(e["chain"] == ["tcp", r"smb2 WRITE \\lims.lab.example\runs\Run42\reads.fastq"]
                         for f in leaks for e in f["evidence"])


def test_a_compression_the_rig_does_not_know_is_said(reads) -> None:
    tmp, run, fastq = reads

    def unknown(msg: bytes) -> bytes:
        packed = bytearray(m.compressed(msg, msxca.LZ77))
        packed[8:10] = (0x0007).to_bytes(2, "little")
        return bytes(packed)
    conversation = wire.smb_upload("reads.fastq", fastq, piece=16384, pack=unknown)
    report = _replay(tmp, run, "smb-unknown", conversation)
    assert report["verdict"] != "clean"
    (row,) = report["not_examined"]
    assert row["what"] == "an SMB message compressed with algorithm 7"
    assert row["bytes"] == sum(len(data) - 4 for d, data in conversation if data[4:8] == b"\xfcSMB")

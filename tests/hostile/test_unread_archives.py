"""An archive the rig finds and cannot read makes the verdict inconclusive, never clean.

Reads in a 7z folder coded with BCJ2 (7-Zip's four-stream filter, any user may ask for it), in a
cabinet's LZX folder (makecab's other method), in a zip member of a method the rig does not
decompress (WavPack, Implode), in an lzop or ARJ file (as their tools write them), in a RAR archive
after a self-extractor's stub, in a zstd frame compressed with a dictionary, uploaded to the allowed LIMS: each replayed CLEAN, because the
archive's bytes look like ciphertext and were under the opaque-volume threshold.  What the rig knows
it could not read is said in ``not_examined`` (the part's size, the method by name).
"""

from __future__ import annotations

import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest
import zstandard

from sandbox.replay import replay
from tests.hostile.uploads import ALLOWED, http_upload


def _7z(fastq: bytes, *switches: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "run.fastq").write_bytes(fastq)
        subprocess.run(["7zz", "a", "-bd", "-bso0", *switches, "out.7z", "run.fastq"], cwd=tmp, check=True)
        return (Path(tmp) / "out.7z").read_bytes()


def _bcj2(fastq: bytes) -> bytes:
    return _7z(fastq, "-m0=BCJ2", "-m1=LZMA", "-m2=LZMA", "-m3=LZMA", "-mb0:1", "-mb0s1:2", "-mb0s2:3")


def _lzx_cabinet(fastq: bytes) -> bytes:
    """A cabinet whose folder says LZX (gcab writes MSZIP only: its blocks are then noise to a reader
    of LZX, as an LZX folder's are to the rig)."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "InstrumentLogs.txt").write_bytes(fastq)
        subprocess.run(["gcab", "-c", "-z", "report.cab", "InstrumentLogs.txt"], cwd=tmp, check=True)
        data = bytearray((Path(tmp) / "report.cab").read_bytes())
    struct.pack_into("<H", data, 36 + 6, 0x1503)  # typeCompress: LZX, window 2^21
    return bytes(data)


def _implode_zip(fastq: bytes) -> bytes:
    """A zip whose member says Implode (method 6), its bytes PPMd's in fact (no decoder finds those on
    their own)."""
    data = bytearray(_7z(fastq, "-tzip", "-mm=PPMd"))
    for signature, at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = data.find(signature)
        data[start + at: start + at + 2] = (6).to_bytes(2, "little")
    return bytes(data)


def _tool(command: list[str], fastq: bytes, out: str | None = None) -> bytes:
    """What a tool writes of the reads (``run.fastq``), to its standard output or to ``out``."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "run.fastq").write_bytes(fastq)
        written = subprocess.run(command, cwd=tmp, capture_output=True, check=True).stdout
        return (Path(tmp) / out).read_bytes() if out else written


def _rar_self_extractor(fastq: bytes) -> bytes:
    """A RAR 5 archive after an executable's stub (no RAR writer here: the signature and main header
    of the format's specification, then what compressed members look like)."""
    main = bytes([3, 1, 0, 0])  # the main header: its size (3), its type (1), header and archive flags
    block = struct.pack("<I", zlib.crc32(main)) + main
    packed = _7z(fastq, "-m0=PPMd")[32:]
    return b"MZ" + bytes(510) + b"Rar!\x1a\x07\x01\x00" + block + packed


def _zstd_with_dictionary(fastq: bytes, write_dict_id: bool = True) -> bytes:
    """The reads compressed with a dictionary trained on them (zstd's own way for small messages),
    its id in the frame's header or not (``zstd -D dict --no-dictID``)."""
    pieces = [fastq[i: i + 400] for i in range(0, len(fastq), 400)]
    dictionary = zstandard.train_dictionary(2048, pieces)
    return zstandard.ZstdCompressor(dict_data=dictionary, write_dict_id=write_dict_id).compress(fastq)


UNREAD = {
    "7z folder of bcj2": (_bcj2, "7z folder coded with BCJ2 LZMA LZMA LZMA, which the rig does not read"),
    "cabinet of lzx": (_lzx_cabinet, "cabinet folder compressed with LZX, which the rig does not read"),
    "zip member imploded": (_implode_zip, "zip member compressed with Implode, which the rig does not read"),
    "lzop file": (lambda fq: _tool(["lzop", "-c", "run.fastq"], fq), "lzop file (LZO), which the rig does not read"),
    "arj archive": (lambda fq: _tool(["arj", "a", "-y", "out.arj", "run.fastq"], fq, "out.arj"),
                    "ARJ archive, which the rig does not read"),
    "rar self-extractor": (_rar_self_extractor, "RAR 5 archive, which the rig does not read"),
    "zstd with a dictionary": (_zstd_with_dictionary, "zstd frame compressed with a dictionary the rig does not have"),
    "zstd with a dictionary, its id left out": (lambda fq: _zstd_with_dictionary(fq, write_dict_id=False),
                                                "zstd frame the rig could not decode (a dictionary it does not "
                                                "have, or damaged)"),
}


@pytest.mark.parametrize("name", UNREAD)
def test_an_archive_the_rig_cannot_read_is_inconclusive(reads, name):
    tmp, run, fastq = reads
    make, what = UNREAD[name]
    body = make(fastq)
    capture = tmp / f"{name}.pcap"
    http_upload(capture, body)
    report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "inconclusive", name
    (row,) = [r for r in report["not_examined"] if r["what"] == what]
    assert 0 < row["bytes"] <= len(body) and row["packets"] == 1

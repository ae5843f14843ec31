"""tar special cases: tar.gz by recursion, GNU long names, truncated archives."""

from __future__ import annotations

import io
import os
import tarfile

from sandbox.decode import expand
from sandbox.decode.tar import TarDecoder

CHAIN = ("tcp",)
A = b"@r1\nACGT\n+\nFFFF\n" * 2000
B = os.urandom(5000)


def _views(data: bytes) -> dict[tuple[str, ...], bytes]:
    return {v.chain: v.data for v in expand(data, CHAIN).views}


def test_tar_gz_by_recursion():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in (("run/a.fastq", A), ("run/b.bin", B)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    views = _views(buf.getvalue())
    assert views[CHAIN + ("gzip", "tar:run/a.fastq")] == A
    assert views[CHAIN + ("gzip", "tar:run/b.bin")] == B


def test_gnu_long_names_and_truncation():
    buf = io.BytesIO()
    name = "run/" + "x" * 150 + ".fastq"
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        info = tarfile.TarInfo(name)
        info.size = len(A)
        tf.addfile(info, io.BytesIO(A))
    data = buf.getvalue()
    assert _views(data)[CHAIN + (f"tar:{name}",)] == A
    cut = _views(data[:3000])
    assert any(chain[-1] == f"tar:{name}(truncated)" and A.startswith(d) for chain, d in cut.items())


def test_v7_header_by_checksum():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo("a.fastq")
        info.size = len(A)
        tf.addfile(info, io.BytesIO(A))
    data = bytearray(buf.getvalue())
    data[257:265] = bytes(8)  # drop the ustar magic and version: a v7 header, checksum still valid
    data[148:156] = b"%06o\x00 " % (sum(data[:148]) + 256 + sum(data[156:512]))
    assert TarDecoder.sniff(bytes(data))
    assert dict(TarDecoder.decode(bytes(data), _budget())) == {"tar:a.fastq": A}


def test_not_tar():
    assert not TarDecoder.sniff(os.urandom(1024))
    assert not TarDecoder.sniff(b"a" * 1024)


def _budget():
    from sandbox.decode import Budget

    return Budget(1 << 26, "test")

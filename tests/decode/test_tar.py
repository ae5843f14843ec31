"""tar special cases: tar.gz by recursion, GNU long names, truncated archives."""

from __future__ import annotations

import base64
import gzip
import io
import os
import subprocess
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


STREAM = gzip.compress(b"@r9\nGATTACAGATTACA\n+\nFFFFFFFFFFFFFF\n" * 300)


def _tar(pax: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("run/a.fastq")
        info.size = len(A)
        info.pax_headers = pax or {}
        tf.addfile(info, io.BytesIO(A))
    return buf.getvalue()


def test_an_archive_as_tar_writes_it_has_nothing_outside(tmp_path):
    (tmp_path / "a.fastq").write_bytes(A)
    subprocess.run(["tar", "-cf", "out.tar", "a.fastq"], cwd=tmp_path, check=True)
    for data in ((tmp_path / "out.tar").read_bytes(), _tar()):
        assert not [v.chain for v in expand(data, CHAIN).views if v.chain[-1] == "outside tar"]


def test_what_pax_headers_and_padding_carry_is_read():
    """A pax header's value or a member's padding hold what the writer put there: the tar took the view
    apart, so a base64 of a gzip in a pax record, or a gzip in the padding, was searched nowhere."""
    reads = gzip.decompress(STREAM)
    views = _views(_tar(pax={"comment": base64.b64encode(STREAM).decode()}))
    assert [chain for chain, data in views.items() if data == reads and chain[1] == "outside tar"], list(views)
    data = _tar()
    start = 512 + len(A)              # the member's data ends 256 bytes into its last block
    padded = data[:start] + STREAM[:256] + data[start + 256:]
    assert tarfile.open(fileobj=io.BytesIO(padded)).extractfile("run/a.fastq").read() == A
    assert STREAM[:256].rstrip(b"\0") in _views(padded)[CHAIN + ("outside tar",)]

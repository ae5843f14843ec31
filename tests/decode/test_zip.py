"""zip special cases: member labels, methods, truncated and streamed archives, zips inside other bytes."""

from __future__ import annotations

import gzip
import io
import os
import random
import struct
import subprocess
import zipfile
import zlib

import pytest

from sandbox.decode import expand
from sandbox.decode.zip import ZipDecoder

CHAIN = ("tcp",)
A = b"@r1\nACGT\n+\nFFFF\n" * 2000
B = os.urandom(5000)


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        zf.mkdir("run")
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _views(data: bytes) -> dict[tuple[str, ...], bytes]:
    return {v.chain: v.data for v in expand(data, CHAIN).views}


def test_every_zip_member():
    views = _views(_zip({"run/a.fastq": A, "run/b.bin": B}))
    assert views[CHAIN + ("zip:run/a.fastq",)] == A
    assert views[CHAIN + ("zip:run/b.bin",)] == B


def test_stored_and_bzip2_members():
    assert _views(_zip({"a": A}, zipfile.ZIP_STORED))[CHAIN + ("zip:a",)] == A
    assert _views(_zip({"a": A}, zipfile.ZIP_BZIP2))[CHAIN + ("zip:a",)] == A


def test_truncated_zip_walks_local_headers():
    data = _zip({"run/a.fastq": A, "run/b.bin": B * 20})
    cut = data[: data.index(b"run/b.bin") + 2000]  # directory gone, second member cut
    views = _views(cut)
    assert views[CHAIN + ("zip:run/a.fastq",)] == A
    assert any(chain[-1] == "zip:run/b.bin(truncated)" for chain in views)


def test_streamed_zip_with_data_descriptors():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("a.fastq", "w", force_zip64=False) as f:
            f.write(A)
    raw = buf.getvalue()
    unseekable = raw[: raw.index(b"PK\x01\x02")]  # only the local part, as a stream would send it
    got = dict(ZipDecoder.decode(unseekable, _budget()))
    assert any(v == A for v in got.values()), list(got)


def _budget():
    from sandbox.decode import Budget

    return Budget(1 << 26, "test")


def test_zip_inside_other_bytes():
    data = os.urandom(40) + _zip({"run/a.fastq": A}) + os.urandom(40)
    assert _views(data)[CHAIN + ("zip:run/a.fastq",)] == A


def test_chance_signature_in_random_bytes_is_not_a_member():
    data = os.urandom(200) + b"PK\x03\x04\x14\x00\x00\x00\x00\x00" + os.urandom(400)
    assert list(ZipDecoder.decode(data, _budget())) == []


def test_an_lzma_member_is_read_whole_and_cut(tmp_path):
    """Method 14 (7-Zip's `-tzip -mm=LZMA`): a raw LZMA stream after its properties; its bytes look
    like ciphertext, so before it was weighed as opaque volume, and clean below the threshold."""
    rng = random.Random(14)
    reads = "".join(f"@r{i}\n{''.join(rng.choice('ACGT') for _ in range(150))}\n" for i in range(1500)).encode()
    (tmp_path / "reads.fastq").write_bytes(reads)
    (tmp_path / "note.txt").write_bytes(b"run 42 ok\n")
    subprocess.run(["7zz", "a", "-bd", "-bso0", "-tzip", "-mm=LZMA", "out.zip", "reads.fastq", "note.txt"],
                   cwd=tmp_path, check=True)
    data = (tmp_path / "out.zip").read_bytes()
    views = {v.chain[-1]: v.data for v in expand(data, ("tcp",)).views}
    assert views["zip:reads.fastq"] == reads and views["zip:note.txt"] == b"run 42 ok\n"
    cut = {v.chain[-1]: v.data for v in expand(data[: len(data) // 2], ("tcp",)).views}
    assert reads.startswith(cut["zip:reads.fastq(truncated)"]) and len(cut["zip:reads.fastq(truncated)"]) > 1000


def _7zip(tmp_path, method: str, *switches: str, stream: bool = False) -> bytes:
    """A zip of READS and a note, its members compressed with ``method`` by 7-Zip; ``stream``: written
    to a pipe, as a streamed upload is (sizes in data descriptors after each member)."""
    (tmp_path / "reads.fastq").write_bytes(READS)
    (tmp_path / "note.txt").write_bytes(b"run 42 ok\n")
    command = ["7zz", "a", "-bd", "-tzip", f"-mm={method}", *switches]
    if stream:
        return subprocess.run([*command, "-so", "x.zip", "reads.fastq", "note.txt"], cwd=tmp_path, check=True,
                              capture_output=True).stdout
    (tmp_path / "out.zip").unlink(missing_ok=True)
    subprocess.run([*command, "-bso0", "out.zip", "reads.fastq", "note.txt"], cwd=tmp_path, check=True)
    return (tmp_path / "out.zip").read_bytes()


RNG = random.Random(9)
READS = "".join(f"@r{i}\n{''.join(RNG.choice('ACGT') for _ in range(150))}\n+\n{'F:,'[i % 3] * 150}\n"
                for i in range(1500)).encode()


@pytest.mark.parametrize("method", ["Deflate64", "PPMd", "XZ", "Deflate"])
@pytest.mark.parametrize("stream", [False, True])
def test_deflate64_ppmd_and_xz_members_whole_cut_and_streamed(tmp_path, method, stream):
    """Deflate64 (what Windows' zip writes for large files) and PPMd (7-Zip's method for text) kept
    their raw bytes, which look like ciphertext: clean below the opaque-volume threshold."""
    data = _7zip(tmp_path, method, stream=stream)
    views = {v.chain[-1]: v.data for v in expand(data, CHAIN).views}
    assert views["zip:reads.fastq"] == READS and views["zip:note.txt"] == b"run 42 ok\n"
    cut = {v.chain[-1]: v.data for v in expand(data[: len(data) // 2], CHAIN).views}
    (got,) = [data for label, data in cut.items() if label.startswith("zip:reads.fastq")]
    assert READS.startswith(got) and len(got) > len(READS) // 4


def _with_method(data: bytes, method: int) -> bytes:
    """``data`` (a zip) with every header's method made ``method``."""
    out = bytearray(data)
    for signature, at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = out.find(signature)
        while start >= 0:
            out[start + at: start + at + 2] = method.to_bytes(2, "little")
            start = out.find(signature, start + 4)
    return bytes(out)


def test_a_member_of_a_method_the_rig_does_not_read_is_said_not_read():
    """WavPack (97), and a method no one registered (in a complete archive): no view, said not read,
    from the directory and from the local headers of an archive cut before it."""
    stored = _zip({"a.fastq": A}, zipfile.ZIP_STORED)
    for method, name in ((97, "WavPack"), (4242, "method 4242")):
        data = _with_method(stored, method)
        exp = expand(data, CHAIN)
        assert len(exp.views) == 1 or all(not v.chain[-1].startswith("zip:a.fastq") for v in exp.views)
        assert [(u.what, u.decoder, u.chain, u.size) for u in exp.unread] == [
            (f"zip member compressed with {name}, which the rig does not read", "zip", CHAIN, len(A))]
    cut = _with_method(stored, 97)[: len(stored) - 60]
    assert [u.what for u in expand(cut, CHAIN).unread] == ["zip member compressed with WavPack, which the rig "
                                                            "does not read"]


def test_an_encrypted_member_is_not_said_unread(tmp_path):
    """AES (99) and ZipCrypto members are sealed content, weighed as opaque volume as TLS is."""
    for switches in (("-pSECRET", "-mem=AES256"), ("-pSECRET",)):
        data = _7zip(tmp_path, "Deflate", *switches)
        exp = expand(data, CHAIN)
        assert exp.unread == [] and not [v for v in exp.views if v.chain[-1].startswith("zip:")]


class _Pipe(io.RawIOBase):
    """A sink that cannot seek: zipfile writes each member's sizes in a data descriptor after it."""

    def __init__(self) -> None:
        self.written = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.written += data
        return len(data)


def _outside(data: bytes) -> bytes | None:
    return _views(data).get(CHAIN + ("outside zip",))


def test_an_archive_as_its_writers_make_it_has_nothing_outside(tmp_path):
    """zipfile's (seekable and streamed, with data descriptors), Info-ZIP's (whose extra fields, the
    writer's own bytes, are outside: a few dozen bytes of times and ids)."""
    assert _outside(_zip({"run/a.fastq": A, "run/b.bin": B})) is None
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.fastq", A)
        zf.writestr("b.bin", B)
    assert _outside(bytes(pipe.written)) is None and _views(bytes(pipe.written))[CHAIN + ("zip:a.fastq",)] == A
    (tmp_path / "a.fastq").write_bytes(A)
    subprocess.run(["zip", "-q", "out.zip", "a.fastq"], cwd=tmp_path, check=True)
    outside = _outside((tmp_path / "out.zip").read_bytes())
    assert outside is not None and len(outside) < 64


STREAM = gzip.compress(b"@r9\nGATTACAGATTACA\n+\nFFFFFFFFFFFFFF\n" * 300)


def _between_members() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.fastq", A)
        buf.write(STREAM)         # the directory still lists the members where they are
        zf.start_dir = buf.tell()
        zf.writestr("b.bin", B)
    return buf.getvalue()


def _in_an_extra_field() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("a.fastq")
        info.extra = struct.pack("<HH", 0x6666, len(STREAM[:4000])) + STREAM[:4000]
        zf.writestr(info, A)
    return buf.getvalue()


def _after_a_members_stream() -> bytes:
    """A member whose compressed size holds its deflate stream and a gzip after it (no directory: the
    local header says the size)."""
    body = zlib.compress(A)[2:-4] + STREAM
    return struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, zlib.crc32(A), len(body), len(A), 7, 0) \
        + b"a.fastq" + body


def _commented() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.fastq", A)
        zf.comment = STREAM[:4000]
    return buf.getvalue()


@pytest.mark.parametrize("archive", [_between_members, _in_an_extra_field, _after_a_members_stream, _commented,
                                     lambda: _zip({"a.fastq": A}) + STREAM, lambda: STREAM + _zip({"a.fastq": A})])
def test_bytes_the_archive_does_not_hold_are_read(archive):
    """Between members, in an extra field or the archive's comment, after a member's stream within its
    size, after or before the archive: bytes no member holds were searched nowhere (the zip took the
    view apart).  They are a view of their own, where the gzip is found."""
    views = _views(archive())
    assert views[CHAIN + ("zip:a.fastq",)] == A
    assert STREAM[:4000] in views[CHAIN + ("outside zip",)]
    assert any(chain[:2] == CHAIN + ("outside zip",) and chain[2].startswith("gzip") for chain in views if len(chain) == 3), \
        list(views)

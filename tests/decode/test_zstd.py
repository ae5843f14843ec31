"""zstd: concatenated and skippable frames, oversized windows, frames compressed with a dictionary."""

from __future__ import annotations

import json
import random
import struct

import zstandard

from sandbox.decode import expand
from sandbox.decode.zstd import ZstdDecoder

CHAIN = ("tcp",)
READS = b"".join(b"@r%d\nACGTTGCAACGTTGCA\n+\nFFFFFFFFFFFFFFFF\n" % i for i in range(3000))


def _views(data: bytes) -> dict[tuple[str, ...], bytes]:
    return {v.chain: v.data for v in expand(data, CHAIN).views}


def test_zstd_frames_and_skippable_frame():
    skippable = struct.pack("<II", 0x184D2A50, 4) + b"meta"
    data = zstandard.compress(READS[:50000]) + skippable + zstandard.compress(READS[50000:])
    assert _views(data)[CHAIN + ("zstd",)] == READS


def test_zstd_oversized_window_is_refused_not_allocated():
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=30, write_content_size=False)
    stream = zstandard.ZstdCompressor(compression_params=params).compressobj()
    data = stream.compress(READS) + stream.flush()
    assert zstandard.get_frame_parameters(data).window_size == 1 << 30
    assert ZstdDecoder.sniff(data)
    assert list(ZstdDecoder.decode(data, _budget())) == []


def _budget():
    from sandbox.decode import Budget

    return Budget(1 << 26, "test")


def test_zstd_inside_a_binary_frame():
    """Found mid-view like gzip and zip: "zstd@<offset>"."""
    header = b"\x00\x00\x10\x00" + b"telemetry-v2\x00" + bytes(7)
    views = _views(header + zstandard.compress(READS) + b"\x00\x01")
    assert views[CHAIN + (f"zstd@{len(header)}",)] == READS


def test_random_bytes_around_a_chance_magic_are_not_decoded():
    import os

    data = os.urandom(5000) + b"\x28\xb5\x2f\xfd" + os.urandom(5000)
    assert len(expand(data, CHAIN).views) == 1


def test_a_frame_compressed_with_a_dictionary_is_said_not_read():
    """A vendor's telemetry, message by message with a trained dictionary (its ID in each frame's
    header): the rig has no dictionary, so the frames are said not read; a frame without one is not."""
    rng = random.Random(5)
    messages = [json.dumps({"run": "A00123", "seq": "".join(rng.choice("ACGT") for _ in range(150)), "i": i}).encode()
                for i in range(400)]
    dictionary = zstandard.train_dictionary(4096, messages)
    sealed = zstandard.ZstdCompressor(dict_data=dictionary).compress(b"".join(messages[:50]))
    for data, at in ((sealed, 0), (b"HDR!" + bytes(12) + sealed, 16)):
        exp = expand(data, ("tcp",))
        assert [v.chain for v in exp.views] == [("tcp",)]
        assert [(u.what, u.size) for u in exp.unread] == [
            ("zstd frame compressed with a dictionary the rig does not have", len(data) - at)]
    assert expand(zstandard.compress(b"".join(messages)), ("tcp",)).unread == []


def test_a_frame_that_does_not_decode_is_said_not_read():
    """A frame compressed with a dictionary whose id its header leaves out (``zstd --no-dictID``) reads
    as damaged without it: said from the frame to the view's end, once, after the frames before it."""
    rng = random.Random(6)
    messages = [json.dumps({"seq": "".join(rng.choice("ACGT") for _ in range(150)), "i": i}).encode()
                for i in range(400)]
    dictionary = zstandard.train_dictionary(4096, messages)
    hidden = zstandard.ZstdCompressor(dict_data=dictionary, write_dict_id=False).compress(b"".join(messages[:50]))
    assert zstandard.get_frame_parameters(hidden).dict_id == 0
    plain = zstandard.compress(READS[:20000])
    exp = expand(plain + hidden, CHAIN)
    assert {v.chain: v.data for v in exp.views}[CHAIN + ("zstd(corrupt)",)].startswith(READS[:20000])
    assert [(u.what, u.size) for u in exp.unread] == [
        ("zstd frame the rig could not decode (a dictionary it does not have, or damaged)", len(hidden))]
    damaged = bytearray(zstandard.compress(READS))
    damaged[len(damaged) // 2: len(damaged) // 2 + 64] = bytes(64)
    assert len(expand(bytes(damaged), CHAIN).unread) == 1


def test_a_chance_magic_whose_header_no_compressor_writes_is_not_said():
    rng = random.Random(8)
    noise = rng.randbytes(200)
    reserved = b"\x28\xb5\x2f\xfd" + bytes([0x08]) + noise      # the reserved bit set
    huge_block = b"\x28\xb5\x2f\xfd" + bytes([0x00, 0x00]) + (0xFFFFF8).to_bytes(3, "little") + noise
    for data in (reserved, huge_block):
        assert expand(rng.randbytes(300) + data, CHAIN).unread == []

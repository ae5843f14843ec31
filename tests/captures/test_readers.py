"""Conformance suite: every capture reader and every link type, on real and generated captures."""

from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.captures import LINKTYPES, READERS, CaptureError, open_capture
from sandbox.captures.writer import (
    PcapngWriter,
    PcapWriter,
    TcpConversation,
    ip_packet,
    link_frame,
    udp,
    udp_datagram,
)

# IP link types that carry both families (228/229 are one family each: tested on their own below)
IP_LINKTYPES = sorted(lt for lt, mod in LINKTYPES.items() if hasattr(mod, "network") and lt not in (228, 229))


def _real_captures(shared_data: Path) -> list[Path]:
    # public-traces (other projects' test suites: damaged files, exotic link types) has its own tests
    files = sorted(p for p in (shared_data / "captures").rglob("*")
                   if p.is_file() and "keylog" not in p.name and "public-traces" not in p.parts)
    assert files, "no real captures found"
    return files


def _tshark_count(path: Path) -> int:
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.number"],
                         capture_output=True, text=True, check=True).stdout
    return len(out.split())


def _write_sample(path: Path, fmt: str, linktype: int = 1, **kw) -> list[bytes]:
    """A small capture of the given format; returns the UDP payloads written."""
    payloads = [bytes([i]) * (i + 1) for i in range(5)]
    writer = PcapWriter(path, linktype, **kw) if fmt == "pcap" else PcapngWriter(path, linktype, **kw)
    with writer as w:
        conv = TcpConversation(w, ("10.0.0.2", 40000), ("10.0.0.9", 80), t0=10.0)
        conv.send(b"hello " * 100)
        conv.close()
        for i, p in enumerate(payloads):
            udp(w, ("10.0.0.2", 5000 + i), ("10.0.0.9", 53), p, t=20.0 + i)
    return payloads


# ---- real captures ---------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_real_captures_read_fully_with_tshark_frame_counts(shared_data):
    for path in _real_captures(shared_data):
        cap = open_capture(path)
        segments = list(cap)
        assert cap.stats.packets == _tshark_count(path), path.name
        assert cap.errors == [], (path.name, cap.errors)
        assert not cap.stats.unknown_linktypes, path.name
        assert segments, path.name
        frames = [s.frame for s in segments]
        assert frames == sorted(frames) and frames[-1] <= cap.stats.packets


def test_real_captures_truncated_read_up_to_the_damage(shared_data, tmp_path):
    for path in _real_captures(shared_data):
        full = open_capture(path)
        whole = list(full)
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        cut = tmp_path / (path.stem + ".cut")
        cut.write_bytes(data[: len(data) * 2 // 3 + 3])      # +3: never on a record boundary
        cap = open_capture(cut)
        part = list(cap)
        assert len(cap.errors) >= 1, path.name
        assert "truncated at byte" in cap.errors[0] and "(frame " in cap.errors[0], cap.errors
        assert 0 < cap.stats.packets < full.stats.packets, path.name
        assert [s.data for s in part] == [s.data for s in whole[: len(part)]], path.name


def test_tls_secrets_from_pcapng_dsb_before_iteration(tmp_path):
    keylog = b"CLIENT_RANDOM 00112233 44556677\nSERVER_HANDSHAKE_TRAFFIC_SECRET aa bb\n"
    path = tmp_path / "s.pcapng"
    with PcapngWriter(path, tls_secrets=keylog) as w:
        w.add_secrets(b"CLIENT_RANDOM ccdd eeff")   # no trailing newline: the reader adds one
        w.write(link_frame(1, ip_packet("10.0.0.1", "10.0.0.2", 17, udp_datagram("10.0.0.1", "10.0.0.2",
                                                                                   1, 2, b"x"))), 1.0)
    cap = open_capture(path)
    assert cap.tls_secrets == keylog + b"CLIENT_RANDOM ccdd eeff\n"
    assert len(list(cap)) == 1
    assert cap.tls_secrets == keylog + b"CLIENT_RANDOM ccdd eeff\n"


# ---- every reader x every IP link type -------------------------------------------------------

@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
@pytest.mark.parametrize("linktype", IP_LINKTYPES)
def test_every_reader_and_link_type_round_trips(tmp_path, fmt, linktype):
    path = tmp_path / f"c.{fmt}"
    payloads = _write_sample(path, fmt, linktype)
    cap = open_capture(path)
    segs = list(cap)
    assert cap.errors == []
    assert cap.stats.packets == len(segs)
    assert [s.data for s in segs if s.transport == "udp"] == payloads
    tcp = b"".join(s.data for s in segs if s.transport == "tcp" and s.src == "10.0.0.2")
    assert tcp == b"hello " * 100
    assert [s.frame for s in segs] == list(range(1, len(segs) + 1))
    assert segs[-1].t == pytest.approx(24.0)
    assert list(cap) == segs and cap.stats.packets == len(segs)     # a second pass re-reads the file


def test_ipv4_and_ipv6_only_link_types(tmp_path):
    for lt, src, dst in ((228, "10.1.1.1", "10.1.1.2"), (229, "2001:db8::1", "2001:db8::2")):
        path = tmp_path / f"{lt}.pcap"
        with PcapWriter(path, lt) as w:
            udp(w, (src, 1000), (dst, 2000), b"payload", t=5.0)
        (seg,) = list(open_capture(path))
        assert (seg.src, seg.dst, seg.data) == (src, dst, b"payload")


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("nanosecond", [False, True])
def test_pcap_byte_orders_and_resolutions(tmp_path, big_endian, nanosecond):
    path = tmp_path / "c.pcap"
    with PcapWriter(path, nanosecond=nanosecond, big_endian=big_endian) as w:
        udp(w, ("10.0.0.1", 1), ("10.0.0.2", 2), b"a", t=1_700_000_000.123456789)
    (seg,) = list(open_capture(path))
    assert seg.t == pytest.approx(1_700_000_000.123456789, abs=1e-9 if nanosecond else 1e-6)
    assert seg.data == b"a"


def test_pcapng_interfaces_resolutions_and_block_kinds(tmp_path):
    path = tmp_path / "m.pcapng"
    frame_v4 = link_frame(1, ip_packet("10.0.0.1", "10.0.0.2", 17, udp_datagram("10.0.0.1", "10.0.0.2", 1, 2, b"eth")))
    raw_v6 = ip_packet("2001:db8::1", "2001:db8::2", 17, udp_datagram("2001:db8::1", "2001:db8::2", 3, 4, b"raw"))
    with PcapngWriter(path, interfaces=[(1, 6), (101, 9), (113, 0x80 | 20)]) as w:
        w.write(frame_v4, 100.5)
        w.write(raw_v6, 200.123456789, interface=1)
        w.write(link_frame(113, raw_v6), 300.25, interface=2)
        w.write_simple(frame_v4)
        w.write_obsolete(frame_v4, 400.5)
    cap = open_capture(path)
    segs = list(cap)
    assert cap.errors == []
    assert [s.data for s in segs] == [b"eth", b"raw", b"raw", b"eth", b"eth"]
    assert [s.frame for s in segs] == [1, 2, 3, 4, 5]
    assert segs[0].t == pytest.approx(100.5)
    assert segs[1].t == pytest.approx(200.123456789, abs=1e-9)
    assert segs[2].t == pytest.approx(300.25, abs=1e-5)
    assert segs[4].t == pytest.approx(400.5)
    assert cap.format == "pcapng"


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_gzip_compressed_capture(tmp_path, fmt):
    plain = tmp_path / f"c.{fmt}"
    payloads = _write_sample(plain, fmt)
    gz = tmp_path / f"c.{fmt}.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    cap = open_capture(gz)
    assert cap.format == f"{fmt}+gzip"
    assert [s.data for s in cap if s.transport == "udp"] == payloads
    assert cap.position == gz.stat().st_size
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gz.read_bytes()[:-40])
    cap = open_capture(cut)
    got = list(cap)
    assert got and cap.errors and "truncated at byte" in cap.errors[0]


def test_unknown_link_type_is_counted_not_fatal(tmp_path):
    path = tmp_path / "u.pcapng"
    with PcapngWriter(path, interfaces=[(147, 6), (1, 6)]) as w:
        w.write(b"\x01\x02\x03", 1.0)
        w.write(link_frame(1, ip_packet("10.0.0.1", "10.0.0.2", 17, udp_datagram("10.0.0.1", "10.0.0.2", 1, 2, b"z"))),
                2.0, interface=1)
    cap = open_capture(path)
    segs = list(cap)
    assert [s.data for s in segs] == [b"z"] and segs[0].frame == 2
    assert cap.stats.unknown_linktypes == {147: 1}
    assert cap.errors == []           # not an error: not examined, and the report says so once
    assert cap.stats.not_examined("u") == [{"where": "u", "what": "unknown link type 147", "packets": 1, "bytes": 3}]


def test_open_errors_are_typed_one_liners(tmp_path):
    cases = {"missing.pcap": None, "empty.pcap": b"", "text.pcap": b"hello world, not a capture\n",
             "badgz.pcap.gz": b"\x1f\x8b\x08\x00garbage", "short.pcap": struct.pack("<I", 0xA1B2C3D4),
             "ngnomagic.pcapng": struct.pack("<II", 0x0A0D0D0A, 28) + b"\0" * 20}
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(CaptureError) as info:
            open_capture(path)
        assert "\n" not in str(info.value) and name in str(info.value)


def test_corrupt_record_length_stops_with_error(tmp_path):
    path = tmp_path / "c.pcap"
    _write_sample(path, "pcap")
    data = bytearray(path.read_bytes())
    first_len = struct.unpack_from("<I", data, 24 + 8)[0]
    second = 24 + 16 + first_len
    struct.pack_into("<I", data, second + 8, 0xFFFFFFF0)
    path.write_bytes(bytes(data))
    cap = open_capture(path)
    segs = list(cap)
    assert len(segs) == 1
    assert cap.errors == [f"corrupt record header at byte {second} (frame 2): captured length {0xFFFFFFF0}"]


def test_readers_registry_claims_by_magic():
    assert [r.name for r in READERS] == ["pcap", "pcapng"]
    assert READERS[0].claim(struct.pack("<I", 0xA1B2C3D4)) and not READERS[1].claim(b"\xd4\xc3\xb2\xa1")


# ---- fuzzing: damage never escapes iteration -------------------------------------------------

def _valid(fmt: str) -> bytes:
    import io

    buf = io.BytesIO()
    writer = PcapWriter(buf) if fmt == "pcap" else PcapngWriter(buf, tls_secrets=b"CLIENT_RANDOM 1 2\n")
    conv = TcpConversation(writer, ("10.0.0.2", 40000), ("10.0.0.9", 80), t0=1.0)
    conv.send(b"x" * 3000)
    conv.close()
    return buf.getvalue()


SAMPLES = {fmt: _valid(fmt) for fmt in ("pcap", "pcapng")}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(["pcap", "pcapng"]), cut=st.integers(0, 20000),
       flips=st.lists(st.tuples(st.integers(0, 20000), st.integers(0, 255)), max_size=8),
       tail=st.binary(max_size=200), gz=st.booleans())
def test_fuzzed_captures_never_raise_after_open(tmp_path, fmt, cut, flips, tail, gz):
    data = bytearray(SAMPLES[fmt][:cut] + tail)
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    blob = gzip.compress(bytes(data)) if gz else bytes(data)
    path = tmp_path / "f.bin"
    path.write_bytes(blob)
    try:
        cap = open_capture(path)
    except CaptureError:
        return
    segs = list(cap)
    assert cap.stats.packets >= len({s.frame for s in segs})
    assert all(isinstance(e, str) and "\n" not in e for e in cap.errors)
    assert isinstance(cap.tls_secrets, bytes)


def test_pcapng_big_endian_and_several_sections(tmp_path):
    parts = []
    for i, big in enumerate((True, False)):
        part = tmp_path / f"s{i}.pcapng"
        with PcapngWriter(part, interfaces=[(101, 9)] if big else [(1, 6)], big_endian=big) as w:
            ip = ip_packet("10.0.0.1", "10.0.0.2", 17, udp_datagram("10.0.0.1", "10.0.0.2", 1, 2, b"s%d" % i))
            w.write(ip if big else link_frame(1, ip), 10.0 + i)
        parts.append(part.read_bytes())
    path = tmp_path / "both.pcapng"
    path.write_bytes(b"".join(parts))   # interface ids restart in the second section
    cap = open_capture(path)
    segs = list(cap)
    assert cap.errors == []
    assert [(s.data, s.frame, s.t) for s in segs] == [(b"s0", 1, 10.0), (b"s1", 2, 11.0)]

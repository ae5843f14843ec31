"""Frame byte offsets agree with the capture readers' frame numbers, in every file layout."""

import gzip
from pathlib import Path

import pytest

from sandbox.captures import open_capture
from sandbox.captures.writer import PcapngWriter, PcapWriter
from sandbox.report.locate import frame_records

DEMO = Path(__file__).resolve().parents[2] / "captures" / "demo" / "demo.pcapng"
PACKETS = [bytes([i]) * (60 + i) for i in range(1, 40)]


def _check(path: Path, data_at: int) -> None:
    packets = list(open_capture(path).packets())
    found = frame_records(path, [p.frame for p in packets])
    assert sorted(found) == [p.frame for p in packets]
    raw = path.read_bytes()
    for p in packets:
        off, length = found[p.frame]
        assert raw[off + data_at: off + data_at + len(p.data)] == p.data
        assert off + length <= len(raw)


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("nanosecond", [False, True])
def test_pcap_records(tmp_path, big_endian, nanosecond):
    path = tmp_path / "c.pcap"
    with PcapWriter(path, big_endian=big_endian, nanosecond=nanosecond) as w:
        for i, data in enumerate(PACKETS):
            w.write(data, 1000.0 + i)
    _check(path, 16)


@pytest.mark.parametrize("big_endian", [False, True])
def test_pcapng_blocks_with_secrets_and_statistics_between_packets(tmp_path, big_endian):
    path = tmp_path / "c.pcapng"
    with PcapngWriter(path, tls_secrets=b"CLIENT_RANDOM a b\n", big_endian=big_endian) as w:
        for i, data in enumerate(PACKETS):
            w.write(data, 1000.0 + i)
            if i == 10:
                w.add_statistics(1010.5, ifdrop=0)
    _check(path, 28)


def test_simple_and_obsolete_packet_blocks_take_frame_numbers(tmp_path):
    path = tmp_path / "c.pcapng"
    with PcapngWriter(path) as w:
        w.write(PACKETS[0], 1.0)
        w.write_simple(PACKETS[1])
        w.write_obsolete(PACKETS[2], 2.0)
        w.write(PACKETS[3], 3.0)
    found = frame_records(path, [1, 2, 3, 4])
    assert sorted(found) == [1, 2, 3, 4] and path.read_bytes()[found[4][0] + 28:].startswith(PACKETS[3])


def test_demo_capture():
    if not DEMO.is_file():
        pytest.skip("captures/demo not generated")
    _check(DEMO, 28)


def test_only_wanted_frames_and_nothing_past_damage_or_in_compressed_files(tmp_path):
    path = tmp_path / "c.pcap"
    with PcapWriter(path) as w:
        for i, data in enumerate(PACKETS):
            w.write(data, 1000.0 + i)
    assert sorted(frame_records(path, [3, 7, 0, -1])) == [3, 7]
    assert frame_records(path, [len(PACKETS) + 5]) == {}
    cut = tmp_path / "cut.pcap"
    raw = path.read_bytes()
    off = frame_records(path, [10])[10][0]
    cut.write_bytes(raw[: off + 20])             # frame 10 cut short
    assert sorted(frame_records(cut, range(1, 12))) == list(range(1, 10))
    zipped = tmp_path / "c.pcap.gz"
    zipped.write_bytes(gzip.compress(raw))
    assert frame_records(zipped, [1]) == {}
    (tmp_path / "empty.pcap").write_bytes(b"")
    assert frame_records(tmp_path / "empty.pcap", [1]) == {} and frame_records(tmp_path / "none", [1]) == {}

"""Following a live recording: a pcapng another process is still writing."""

from __future__ import annotations

import pytest

from sandbox.captures import CaptureError, open_capture
from sandbox.captures.writer import PcapngWriter, PcapWriter, TcpConversation


def _segments_until_caught_up(it) -> list:
    out = []
    for seg in it:
        if seg is None:
            return out
        out.append(seg)
    return out


def test_follow_yields_what_is_written_and_waits_for_more(tmp_path):
    path = tmp_path / "live.pcapng"
    w = PcapngWriter(path)
    conv = TcpConversation(w, client=("10.0.0.2", 40000), server=("192.0.2.9", 80), t0=1.0)
    conv.send(b"A" * 3000)
    w.flush()
    cap = open_capture(path, follow=True)
    it = iter(cap)
    first = _segments_until_caught_up(it)
    assert sum(len(s.data) for s in first) == 3000
    assert _segments_until_caught_up(it) == []          # nothing new: caught up again
    conv.send(b"B" * 2000)
    w.f.write(b"\x06\x00\x00\x00")                        # half a block header: still being written
    w.flush()
    more = _segments_until_caught_up(it)
    assert b"".join(s.data for s in more) == b"B" * 2000
    w.f.truncate(w.f.tell() - 4)                          # the writer completes its block
    w.f.seek(0, 2)
    conv.close()
    w.add_statistics(9.0, ifdrop=3, osdrop=4)
    w.close()
    cap.finish_follow()
    rest = list(it)
    assert None not in rest and all(not s.data for s in rest)   # FIN/ACK segments only
    assert cap.errors == [] and cap.stats.drops == 7
    assert cap.stats.packets == len(first) + len(more) + len(rest)   # every frame, handshake included


def test_following_a_classic_pcap_is_refused(tmp_path):
    path = tmp_path / "live.pcap"
    with PcapWriter(path):
        pass
    with pytest.raises(CaptureError, match="must be pcapng"):
        open_capture(path, follow=True)


def test_drops_from_statistics_blocks_in_replay(tmp_path):
    path = tmp_path / "d.pcapng"
    with PcapngWriter(path) as w:
        TcpConversation(w, client=("10.0.0.2", 40000), server=("192.0.2.9", 80), t0=1.0).send(b"x")
        w.add_statistics(2.0, ifdrop=1)
        w.add_statistics(3.0, ifdrop=5)                   # cumulative: the newest counts
    cap = open_capture(path)
    list(cap)
    assert cap.stats.drops == 5


def test_a_damaged_first_record_is_unreadable_but_an_unknown_link_type_is_not(tmp_path, shared_data):
    path = tmp_path / "bad.pcap"
    with PcapWriter(path) as w:
        TcpConversation(w, client=("10.0.0.2", 40000), server=("192.0.2.9", 80), t0=1.0).send(b"x")
    data = bytearray(path.read_bytes())
    data[24 + 8:24 + 12] = (1 << 30).to_bytes(4, "little")       # first record: absurd captured length
    path.write_bytes(bytes(data))
    assert "corrupt record header" in open_capture(path).unreadable()
    wifi = shared_data / "captures" / "public-traces" / "tcpdump__ieee802.11_exthdr.pcap"
    assert open_capture(wifi).unreadable() is None
    cap = open_capture(wifi)
    assert cap.unreadable() is None and list(cap) == [] and cap.stats.packets == 26   # iterates afresh


def test_packets_the_capture_dropped_are_not_examined(tmp_path):
    path = tmp_path / "d.pcapng"
    with PcapngWriter(path) as w:
        TcpConversation(w, client=("10.0.0.2", 40000), server=("192.0.2.9", 80), t0=1.0).send(b"x")
        w.add_statistics(2.0, ifdrop=3, osdrop=2)
    cap = open_capture(path)
    list(cap)
    (row,) = cap.stats.not_examined("d.pcapng")
    assert row["packets"] == 5 and "dropped" in row["what"]

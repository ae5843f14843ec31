"""Which captures go together: ring-buffer files of one prefix and folder, the rest alone."""

from __future__ import annotations

import math

from sandbox.archive.groups import expand, group_captures, probe_start


def test_ring_files_of_one_prefix_and_folder_form_one_group_in_archive_order(tmp_path):
    (tmp_path / "x").mkdir()
    names = ["net_00002_20250101120500.pcapng", "a.pcapng", "net_00001_20250101120000.pcapng",
             "usb_00001_20250101120000.pcapng.gz", "x/net_00003_20250101121000.pcapng"]
    paths = [tmp_path / n for n in names]
    groups = group_captures(paths)
    assert [g.names for g in groups] == [
        (str(paths[0]), str(paths[2])),          # one ring: the archive's order, the merge sorts by time
        (str(paths[1]),), (str(paths[3]),),      # another prefix is another ring
        (str(paths[4]),),                        # the same prefix in another folder is another session
    ]
    assert groups[0].ranks == (0, 2) and all(p.is_absolute() for g in groups for p in g.captures)
    joined = groups[2].joined(groups[0])
    assert joined.ranks == (0, 2, 3) and joined.names == (str(paths[0]), str(paths[2]), str(paths[3]))


def test_a_folder_means_the_captures_directly_in_it(tmp_path):
    for name in ("b.pcapng", "a.pcap.gz", "notes.txt", "feed/proxied.pcapng"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert expand([tmp_path, tmp_path / "notes.txt"]) == [tmp_path / "a.pcap.gz", tmp_path / "b.pcapng",
                                                           tmp_path / "notes.txt"]


def test_probe_finds_where_a_group_starts(sessions):
    ring = group_captures(sessions["ring"])
    assert len(ring) == 1
    start = probe_start(ring[0])
    assert math.isfinite(start) and start == probe_start(group_captures(sessions["ring"][:1])[0])
    assert start - probe_start(group_captures(sessions["a"])[0]) == 7200

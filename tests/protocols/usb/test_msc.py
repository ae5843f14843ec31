"""Mass storage (Bulk-Only Transport): SCSI WRITE 6/10/12/16 put their data at the LBA they name;
written data waits for a name at most until the device goes quiet or MAX_HELD_BYTES; a stick with no
file system the rig reads is named by block; other commands' OUT data and stray bytes go raw."""

from __future__ import annotations

import struct

import pytest

from sandbox.model import Payload
from sandbox.protocols.usb import msc
from sandbox.protocols.usb.function import Transfer
from sandbox.protocols.usb.msc import MassStorageFunction, command_extent
from tests.protocols.usb.ethernet import context

CDBS = {
    "WRITE(6)": (bytes([0x0A, 0x01, 0x02, 0x03, 4, 0]), (0x010203, 4)),
    "WRITE(10)": (struct.pack(">BBIBHB", 0x2A, 0, 0x12345, 0, 8, 0), (0x12345, 8)),
    "WRITE(12)": (struct.pack(">BBIIBB", 0xAA, 0, 77, 3, 0, 0), (77, 3)),
    "WRITE(16)": (struct.pack(">BBQIBB", 0x8A, 0, 1 << 33, 2, 0, 0), (1 << 33, 2)),
    "WRITE(6) of 256": (bytes([0x0A, 0, 0, 9, 0, 0]), (9, 256)),
}


@pytest.mark.parametrize("name", CDBS)
def test_command_extents(name):
    cdb, extent = CDBS[name]
    assert command_extent(cdb) == extent


def test_short_or_unknown_cdbs_have_no_extent():
    assert command_extent(b"") is None and command_extent(b"\x2a\x00") is None and command_extent(b"\x12") is None


def cbw(tag: int, cdb: bytes, length: int, data_in: bool = False) -> bytes:
    return struct.pack("<4sIIBBB16s", b"USBC", tag, length, 0x80 if data_in else 0, 0, len(cdb), cdb)


def csw(tag: int) -> bytes:
    return struct.pack("<4sIIB", b"USBS", tag, 0, 0)


def write(fn: MassStorageFunction, tag: int, cdb: bytes, data: bytes, t: float) -> list:
    out = fn.transfer(Transfer("out", 0x02, "bulk", cbw(tag, cdb, len(data)), t))
    out += fn.transfer(Transfer("out", 0x02, "bulk", data, t))
    return out + fn.transfer(Transfer("in", 0x81, "bulk", csw(tag), t))


@pytest.mark.parametrize("name", ["WRITE(6)", "WRITE(10)", "WRITE(12)", "WRITE(16)"])
def test_a_write_without_a_file_system_is_named_by_its_block(name):
    cdb, (lba, blocks) = CDBS[name]
    ctx = context("msc")
    fn = MassStorageFunction(ctx)
    data = bytes(range(256)) * 2 * blocks
    out = write(fn, 1, cdb, data, 1.0) + fn.idle(5.0)
    (payload,) = [p for p in out if isinstance(p, Payload)]
    assert payload.data == data and payload.chain == ("usb 1.6", "msc", "scsi WRITE", f"lba {lba}")


def test_held_data_past_the_limit_goes_out_by_block_at_once(monkeypatch):
    monkeypatch.setattr(msc, "MAX_HELD_BYTES", 4096)
    fn = MassStorageFunction(context("msc"))
    out = []
    for i in range(4):        # far from LBA 0 (no boot sector there): held, waiting for a name
        out += write(fn, i + 1, struct.pack(">BBIBHB", 0x2A, 0, 1000 + 4 * i, 0, 4, 0), bytes([i + 1]) * 2048, 1.0)
    assert [p.chain[-1] for p in out if isinstance(p, Payload)] == ["lba 1000", "lba 1004"]


def test_other_commands_and_stray_bytes_go_raw():
    fn = MassStorageFunction(context("msc"))
    out = write(fn, 1, bytes([0x3B, 0, 0, 0, 0, 0, 0, 0, 64, 0]), b"W" * 64, 1.0)   # WRITE BUFFER
    out += fn.transfer(Transfer("out", 0x02, "bulk", b"stray bytes between commands", 2.0))
    out += fn.close(3.0)
    assert b"".join(p.data for p in out if isinstance(p, Payload)) == b"W" * 64 + b"stray bytes between commands"


def test_a_copy_of_many_small_files_names_every_one(tmp_path):
    from sandbox.captures import open_capture
    from sandbox.protocols import Dissector
    from sandbox.simulate.usb import open_writer, stick_session

    capture = tmp_path / "sbx-usb-many.pcapng"
    files = {f"RUN/L001/C{i // 40}.1/s_{i}.bcl": bytes([i % 251]) * (4096 + i) for i in range(300)}
    with open_writer(capture) as w:
        stick_session(w, files)
    dissector, named = Dissector(), {}
    for seg in open_capture(capture):
        for item in dissector.feed(seg):
            if isinstance(item, Payload) and item.chain[-1].startswith("fat:"):
                named[item.chain[-1][4:]] = named.get(item.chain[-1][4:], b"") + item.data
    for item in dissector.close():
        if isinstance(item, Payload) and item.chain[-1].startswith("fat:"):
            named[item.chain[-1][4:]] = named.get(item.chain[-1][4:], b"") + item.data
    assert {path: data for path, data in named.items() if not path.endswith("/")} == {
        "/" + path: data for path, data in files.items()}

"""USB mass storage: Bulk-Only Transport (USB MSC BOT 1.0) carrying SCSI block commands.

A 31-byte Command Block Wrapper ("USBC") on the bulk OUT endpoint starts each command, its data
follows (OUT for writes, IN for reads), a 13-byte Command Status Wrapper ("USBS") on bulk IN ends it.
What WRITE(6/10/12/16) commands put on the disk is assembled by LBA; where the capture shows a FAT
or exFAT volume (the host reads its boot sector, FAT and directories when it mounts the stick:
context, like every IN transfer), written bytes are named by the file they belong to and go to the
correlator as that file (``usb 1.4 > msc > scsi WRITE > fat:/RUN/reads.fastq.gz``).

Written data is held until a directory entry and the FAT name it (hosts write file data before
the metadata that points at it), at most until the device goes quiet or ``MAX_HELD_BYTES`` are
held; what is still nameless then goes out labelled with its block number.  Every byte written
goes to the correlator exactly once; OUT data of any other command goes raw.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, ClassVar

from sandbox.protocols.context import FlowContext
from sandbox.protocols.raw import RawParser
from sandbox.protocols.usb.descriptors import Interface
from sandbox.protocols.usb.disk import Disk, FileMap, Run, Volume
from sandbox.protocols.usb.function import Items, Transfer
from sandbox.protocols.usb.volumes import find_volume
from sandbox.safetext import safe_text

MASS_STORAGE, BULK_ONLY = 0x08, 0x50
CBW = struct.Struct("<4sIIBBB16s")      # signature, tag, data length, flags, LUN, CB length, CB
CSW = struct.Struct("<4sIIB")           # signature, tag, residue, status
DATA_IN = 0x80
WRITES = {0x0A: "WRITE(6)", 0x2A: "WRITE(10)", 0xAA: "WRITE(12)", 0x8A: "WRITE(16)", 0x2E: "WRITE AND VERIFY(10)",
          0xAE: "WRITE AND VERIFY(12)", 0x8E: "WRITE AND VERIFY(16)"}
READS = frozenset((0x08, 0x28, 0xA8, 0x88))
INQUIRY, READ_CAPACITY_10, SERVICE_ACTION_IN = 0x12, 0x25, 0x9E
# Bytes of written data held for a name: a few seconds of a fast stick; past it the oldest goes out
# by block number (a live finding must not wait for a sync that never comes).
MAX_HELD_BYTES = 64 << 20
# Capture seconds between rebuilds of a volume's file map while its directories keep changing, and
# the held bytes that rebuild it at once: names land within a second, and a copy of thousands of
# small files costs a rebuild a second, not one per file.
REMAP_S = 1.0
REMAP_BYTES = 16 << 20
# Named bytes of one file gathered into one Payload: decoders peel a whole compressed piece at once.
FILE_PIECE = 1 << 20
# Files listed in the flow's meta (the dashboard shows them); later ones are still named.
MAX_FILES_LISTED = 20
# Logical units tracked per device (BOT allows 16).
MAX_LUNS = 16
# Block sizes accepted from READ CAPACITY: 512-byte and 4 KiB sectors, and the CD/DVD 2048.
BLOCK_SIZES = frozenset((512, 1024, 2048, 4096))


def command_extent(cdb: bytes) -> tuple[int, int] | None:
    """(LBA, blocks) of a READ or WRITE command descriptor block, or None."""
    op = cdb[0] if cdb else -1
    try:
        if op in (0x08, 0x0A):
            return ((cdb[1] & 0x1F) << 16) | (cdb[2] << 8) | cdb[3], cdb[4] or 256
        if op in (0x28, 0x2A, 0x2E):
            return struct.unpack_from(">I", cdb, 2)[0], struct.unpack_from(">H", cdb, 7)[0]
        if op in (0xA8, 0xAA, 0xAE):
            return struct.unpack_from(">II", cdb, 2)
        if op in (0x88, 0x8A, 0x8E):
            return struct.unpack_from(">QI", cdb, 2)
    except struct.error:
        return None
    return None


@dataclass(slots=True)
class _Command:
    op: int
    lun: int
    length: int          # dCBWDataTransferLength
    data_in: bool
    extent: tuple[int, int] | None
    done: int = 0        # data-phase bytes seen so far


@dataclass(slots=True)
class _Held:
    offset: int          # disk byte offset
    data: bytes
    t: float


class _Piece:
    """Named bytes of one file gathered for one Payload."""

    __slots__ = ("run", "start", "buf", "t_first", "t_last")

    def __init__(self, run: Run, start: int, t: float) -> None:
        self.run, self.start, self.buf, self.t_first, self.t_last = run, start, bytearray(), t, t


class _Unit:
    """One logical unit: its blocks, its volume once seen, the written bytes waiting for a name."""

    def __init__(self) -> None:
        self.disk = Disk()
        self.volume: Volume | None = None
        self.probed = -1          # disk version the volume was last looked for at
        self.map: FileMap | None = None
        self.mapped = -1          # disk version the file map was built at
        self.mapped_at = 0.0      # ...and when (capture time)
        self.tried = 0            # held pieces before this index found no name in the current map
        self.tried_bytes = 0      # ...and their bytes
        self.held: list[_Held] = []
        self.held_bytes = 0
        self.pieces: dict[str, _Piece] = {}


class MassStorageFunction:
    name: ClassVar[str] = "msc"

    @staticmethod
    def claims(interface: Interface) -> bool:
        return interface.cls == MASS_STORAGE

    @staticmethod
    def detect(data: bytes) -> bool:
        return len(data) == CBW.size and data[:4] == b"USBC" and 1 <= data[14] <= 16

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.raw = RawParser(ctx)
        self.command: _Command | None = None
        self.units: dict[int, _Unit] = {}
        self.written = 0

    # -- transfers -------------------------------------------------------------------------------
    def transfer(self, tr: Transfer) -> Items:
        out: Items = []
        if tr.kind != "bulk":
            if tr.direction == "out" and tr.data:      # class requests (reset, max LUN) carry no data
                out += self.raw.feed("out", tr.data, tr.t)
            return out
        cmd = self.command
        if tr.direction == "out":
            if cmd is not None and not cmd.data_in and cmd.done < cmd.length:
                self._data_out(cmd, tr, out)
            elif self.detect(tr.data):
                self._begin(tr.data)
            elif tr.data:
                out += self.raw.feed("out", tr.data, tr.t)     # stray bytes: still examined
            return out
        if len(tr.data) == CSW.size and tr.data[:4] == b"USBS":
            self.command = None
            if cmd is not None and cmd.extent is not None and cmd.op in WRITES:
                self._name_held(self.units[cmd.lun], tr.t, out)
            return out
        if cmd is not None and cmd.data_in:
            self._data_in(cmd, tr)
        return out

    def _begin(self, data: bytes) -> None:
        _, _, length, flags, lun, cb_length, cb = CBW.unpack(data)
        cdb = cb[:max(1, min(cb_length, 16))]
        lun &= 0x0F
        if lun not in self.units and len(self.units) < MAX_LUNS:
            self.units[lun] = _Unit()
        self.command = _Command(cdb[0], lun if lun in self.units else next(iter(self.units)), length,
                                bool(flags & DATA_IN), command_extent(cdb))

    def _data_out(self, cmd: _Command, tr: Transfer, out: Items) -> None:
        data = tr.data[:cmd.length - cmd.done]
        at = cmd.done
        cmd.done += len(tr.data)
        if cmd.op not in WRITES or cmd.extent is None:
            out += self.raw.feed("out", data, tr.t)       # MODE SELECT, WRITE BUFFER, vendor commands
            return
        label = self.ctx.info
        label.app = label.app if label.app not in ("", "raw") else "msc"
        unit = self.units[cmd.lun]
        offset = cmd.extent[0] * unit.disk.block + at
        self.written += len(data)
        self._written(unit, offset, data, tr.t, out)
        if tr.cut:          # the capture kept only part of this transfer: its place moves on regardless
            cmd.done += tr.cut

    def _data_in(self, cmd: _Command, tr: Transfer) -> None:
        unit = self.units[cmd.lun]
        at = cmd.done
        cmd.done += tr.length
        if cmd.op in READS and cmd.extent is not None:
            offset = cmd.extent[0] * unit.disk.block + at
            volume = unit.volume
            if volume is None or not volume.in_data(offset) or _looks_like_directory(tr.data, volume.kind):
                unit.disk.put(offset // unit.disk.block, tr.data)
        elif cmd.op == INQUIRY and len(tr.data) >= 32:
            ident = b" ".join(part.strip() for part in (tr.data[8:16], tr.data[16:32], tr.data[32:36]))
            self.ctx.info.meta["scsi"] = safe_text(ident.decode("ascii", "replace"))
        elif cmd.op == READ_CAPACITY_10 and len(tr.data) >= 8:
            self._capacity(unit, *struct.unpack_from(">II", tr.data))
        elif cmd.op == SERVICE_ACTION_IN and len(tr.data) >= 12:
            self._capacity(unit, *struct.unpack_from(">QI", tr.data))

    def _capacity(self, unit: _Unit, last_lba: int, block: int) -> None:
        if block in BLOCK_SIZES and not unit.disk.blocks:
            unit.disk.block = block
        self.ctx.info.meta["capacity"] = (last_lba + 1) * block

    # -- written bytes ---------------------------------------------------------------------------
    def _written(self, unit: _Unit, offset: int, data: bytes, t: float, out: Items) -> None:
        volume = self._volume(unit, offset, data)
        block = unit.disk.block
        if volume is not None and not volume.in_data(offset) and not volume.in_data(offset + len(data) - 1):
            unit.disk.put(offset // block, data)          # metadata: FAT, root directory, boot area
            self._emit_lba(unit, offset, data, t, out)
            return
        if offset < 64 * block or _looks_like_directory(data[:block], volume.kind if volume else ""):
            unit.disk.put(offset // block, data)          # may be a boot sector or a directory
        unit.held.append(_Held(offset, data, t))
        unit.held_bytes += len(data)
        while unit.held_bytes > MAX_HELD_BYTES and unit.held:
            oldest = unit.held.pop(0)
            if unit.tried:
                unit.tried -= 1
                unit.tried_bytes -= len(oldest.data)
            self._emit_held(unit, oldest, out)

    def _volume(self, unit: _Unit, offset: int = -1, data: bytes = b"") -> Volume | None:
        if unit.volume is None and unit.probed != unit.disk.version:
            unit.probed = unit.disk.version
            unit.volume = find_volume(unit.disk)
            if unit.volume is not None:
                self.ctx.info.meta["filesystem"] = unit.volume.kind
        return unit.volume

    def _name_held(self, unit: _Unit, t: float, out: Items, force: bool = False) -> None:
        """Name what is held, if the volume's directories now say whose it is.

        The file map is rebuilt from the directories when they changed, at most once per ``REMAP_S``
        of capture time unless ``REMAP_BYTES`` wait for a name (or ``force``: the device went
        quiet): a copy of thousands of small files changes them with every file, and rebuilding
        each time would be quadratic.  Pieces already tried against the current map are not
        looked up again."""
        if not unit.held or self._volume(unit) is None:
            return
        stale = unit.map is None or unit.mapped != unit.disk.version
        if stale and (force or unit.map is None or t - unit.mapped_at >= REMAP_S or unit.held_bytes >= REMAP_BYTES):
            unit.mapped, unit.mapped_at = unit.disk.version, t
            unit.map = unit.volume.files(unit.disk)
            unit.tried = unit.tried_bytes = 0
        keep: list[_Held] = []
        for held in unit.held[unit.tried:]:
            pieces = unit.map.pieces(held.offset, held.data)
            if all(run is None for run, _, _ in pieces):
                keep.append(held)
                continue
            for run, at, data in pieces:
                if run is None:
                    keep.append(_Held(at, data, held.t))
                else:
                    self._file_bytes(unit, run, at, data, held.t, out)
        unit.held[unit.tried:] = keep
        unit.tried = len(unit.held)
        unit.tried_bytes += sum(len(h.data) for h in keep)
        unit.held_bytes = unit.tried_bytes

    def _file_bytes(self, unit: _Unit, run: Run, at: int, data: bytes, t: float, out: Items) -> None:
        piece = unit.pieces.get(run.path)
        if piece is not None and piece.start + len(piece.buf) != at:
            self._emit_piece(unit, piece, out)
            piece = None
        if piece is None:
            piece = unit.pieces[run.path] = _Piece(run, at, t)
            self._list_file(unit, run)
        piece.buf += data
        piece.t_last = t
        while len(piece.buf) >= FILE_PIECE:
            self._emit_piece(unit, piece, out, FILE_PIECE)

    def _list_file(self, unit: _Unit, run: Run) -> None:
        listing: list[dict[str, Any]] = self.ctx.info.meta.setdefault("files", [])
        if len(listing) < MAX_FILES_LISTED and not any(f.get("name") == run.path for f in listing):
            listing.append({"name": run.path, "protocol": unit.volume.kind, "size": run.size})

    def _emit_piece(self, unit: _Unit, piece: _Piece, out: Items, size: int | None = None) -> None:
        size = len(piece.buf) if size is None else size
        if not size:
            return
        data = bytes(piece.buf[:size])
        del piece.buf[:size]
        out.append(self.ctx.payload(data, ("scsi WRITE", f"{unit.volume.kind}:{piece.run.path}"), "out",
                                    piece.t_first, piece.t_last,
                                    meta={"filename": piece.run.path, "file_offset": piece.start}))
        piece.start += len(data)
        piece.t_first = piece.t_last

    def _emit_held(self, unit: _Unit, held: _Held, out: Items) -> None:
        unit.held_bytes -= len(held.data)
        self._emit_lba(unit, held.offset, held.data, held.t, out)

    def _emit_lba(self, unit: _Unit, offset: int, data: bytes, t: float, out: Items) -> None:
        lba = offset // unit.disk.block
        out.append(self.ctx.payload(data, ("scsi WRITE", f"lba {lba}"), "out", t, meta={"lba": lba}))

    def _flush(self, t: float, out: Items) -> None:
        for unit in self.units.values():
            self._name_held(unit, t, out, force=True)
            for piece in list(unit.pieces.values()):
                self._emit_piece(unit, piece, out)
            unit.pieces.clear()
            for held in unit.held:
                self._emit_lba(unit, held.offset, held.data, held.t, out)
            unit.held, unit.held_bytes, unit.tried, unit.tried_bytes = [], 0, 0, 0

    def idle(self, t: float) -> Items:
        out: Items = []
        self._flush(t, out)
        out += self.raw.idle(t)
        return out

    def close(self, t: float) -> Items:
        out: Items = []
        self._flush(t, out)
        out += self.raw.close(t)
        return out


def _looks_like_directory(block: bytes, kind: str) -> bool:
    """Does this sector read as directory entries (so a reader may need it later)?"""
    if len(block) < 64:
        return False
    if kind == "exfat":
        return block[0] in (0x81, 0x82, 0x83, 0x85, 0xA0, 0xA1, 0xA2) and block[32] in (
            0x81, 0x82, 0x83, 0x85, 0xC0, 0x00, 0x05)
    if block[:11] == b".          " and block[11] & 0x10:
        return True
    valid = 0
    for off in range(0, len(block) - 31, 32):
        first, attr = block[off], block[off + 11]
        if first == 0:
            break
        if first == 0xE5:
            continue
        if attr & 0xC0 or (attr != 0x0F and any(b < 0x20 for b in block[off:off + 11])):
            return False
        valid += 1
    return valid > 0

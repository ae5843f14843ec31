"""One suite for every registered serial transfer decoder (``sandbox.protocols.serial.TRANSFERS``):
real lrzsz sessions decode to the exact files, whatever way the bytes are split, cut short,
corrupted or surrounded by garbage; nothing the decoder does not verify is dropped.

A decoder registered without sessions here fails ``test_every_registered_decoder_has_sessions``.
"""

from __future__ import annotations

import random

import pytest

from sandbox.model import Payload, Segment
from sandbox.protocols import Dissector
from sandbox.protocols.serial import TRANSFERS
from sandbox.protocols.serial.transfer import FileData, FileEnd, FileStart, Unclaimed
from tests.protocols.serial.lrzsz import session, streams
from tests.protocols.serial.steps import cut_after, fed_in_steps, from_its_start

RNG_FILE = random.Random(8)
BINARY = bytes(RNG_FILE.randrange(256) for _ in range(9000)) + b"end"   # every byte value, not ^Z-ended
READS = "".join(f"@r{i}\n{''.join(RNG_FILE.choice('ACGT') for _ in range(60))}\n+\n{'I' * 60}\n"
                for i in range(40)).encode()
SMALL = bytes(range(256)) + b"\x18*\x18B\x01\x02\x04\x11\x13" * 8 + b"tail"   # escapes, marks

# protocol -> (label, sender argv, receiver argv); the sender gets the files, ``rx`` its output name.
SESSIONS: dict[str, list[tuple[str, list[str], list[str]]]] = {
    "zmodem": [("sz crc32", ["sz", "-q"], ["rz", "-q", "-y"]),
               ("sz escape-all", ["sz", "-q", "-e"], ["rz", "-q", "-y"]),
               ("sz crc16", ["sz", "-q", "-o"], ["rz", "-q", "-y"]),
               ("sz 8k blocks", ["sz", "-q", "-8"], ["rz", "-q", "-y"]),
               ("sz through rz --errors", ["sz", "-q"], ["rz", "-q", "-y", "--errors", "3000"])],
    "xmodem": [("sx checksum", ["sx", "-q"], ["rx", "-q"]),
               ("sx crc", ["sx", "-q"], ["rx", "-q", "-c"]),
               ("sx 1k", ["sx", "-q", "-k"], ["rx", "-q", "-c"]),
               ("sb ymodem batch", ["sb", "-q"], ["rb", "-q", "-y"]),
               ("sb ymodem 1k batch", ["sb", "-q", "-k"], ["rb", "-q", "-y"])],
}
CASES = [(cls, label) for cls in TRANSFERS for label, _, _ in SESSIONS.get(cls.name, [])]


def _files_for(sender: list[str]) -> dict[str, bytes]:
    batch = sender[0] in ("sz", "sb")
    return {"binary.bin": BINARY, "reads.fastq": READS} if batch else {"binary.bin": BINARY}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> dict[str, tuple[list[tuple[str, bytes]], dict[str, bytes]]]:
    """Every session of SESSIONS, recorded once: label -> (chunks, files sent)."""
    out = {}
    for specs in SESSIONS.values():
        for label, sender, receiver in specs:
            work = tmp_path_factory.mktemp("sbx-serial-lrzsz")
            files = _files_for(sender)
            for name, data in files.items():
                (work / name).write_bytes(data)
            argv_r = receiver + (list(files) if receiver[0] == "rx" else [])
            out[label] = (session(sender + list(files), argv_r, work), files)
            for name, data in files.items():    # the real receiver got them: the session is sound
                assert (work / "rx" / name).read_bytes()[:len(data)] == data, label
    return out


def assembled(events: list) -> dict[str, bytes]:
    """Files by name (XMODEM: its protocol name) from FileStart/FileData, first copy of a byte wins."""
    files: dict[str, bytearray] = {}
    current: dict[str, str] = {}
    for ev in events:
        if isinstance(ev, FileStart):
            current[ev.direction] = ev.name or ev.protocol
            files[current[ev.direction]] = bytearray()
        elif isinstance(ev, FileData):
            buf = files.setdefault(current.get(ev.direction, "?"), bytearray())
            if ev.offset >= len(buf):
                buf.extend(b"\0" * (ev.offset - len(buf)) + ev.data)
            else:
                buf.extend(ev.data[len(buf) - ev.offset:])
    return {k: bytes(v) for k, v in files.items()}


def consistent(events: list, files: dict[str, bytes]) -> None:
    """Every file byte handed out is the sent file's byte at that offset (only verified data);
    a transfer picked up midway (its start lost to noise) says so, and its bytes are the file's."""
    current: dict[str, FileStart] = {}
    for ev in events:
        if isinstance(ev, FileStart):
            current[ev.direction] = ev
        elif isinstance(ev, FileData):
            start = current.get(ev.direction)
            ref = files.get(start.name if start else "", BINARY)
            if start is not None and start.note:
                assert ev.data in ref
            else:
                assert ev.data == ref[ev.offset:ev.offset + len(ev.data)], (start, ev.offset)


def expected(cls: type, files: dict[str, bytes]) -> dict[str, bytes]:
    if len(files) == 1 and cls.name == "xmodem":
        return {"xmodem": next(iter(files.values()))}
    return files


def test_every_registered_decoder_has_sessions():
    assert {cls.name for cls in TRANSFERS} <= set(SESSIONS)


@pytest.mark.parametrize(("cls", "label"), CASES, ids=[label for _, label in CASES])
def test_real_sessions_decode_to_the_exact_files(recorded, cls, label):
    chunks, files = recorded[label]
    events = from_its_start(cls, chunks)
    assert assembled(events) == expected(cls, files)
    ends = [ev for ev in events if isinstance(ev, FileEnd)]
    assert len(ends) == len(files) and all(ev.complete for ev in ends), ends


@pytest.mark.parametrize("cls", TRANSFERS, ids=lambda c: c.name)
def test_split_at_every_byte(recorded, cls, tmp_path):
    label, sender, receiver = SESSIONS[cls.name][0]
    (tmp_path / "small.bin").write_bytes(SMALL)
    chunks = session(sender + ["small.bin"], receiver + (["small.bin"] if receiver[0] == "rx" else []), tmp_path)
    want = expected(cls, {"small.bin": SMALL})
    out_stream, _ = streams(chunks)
    replies = [c for c in chunks if c[0] == "in"]
    for cut in range(len(out_stream) + 1):
        split = [("out", out_stream[:cut]), *replies[:1], ("out", out_stream[cut:]), *replies[1:]]
        assert assembled(from_its_start(cls, [c for c in split if c[1]])) == want, cut
    one_by_one = [("out", out_stream[i:i + 1]) for i in range(len(out_stream))] + replies
    assert assembled(from_its_start(cls, one_by_one)) == want


@pytest.mark.parametrize("cls", TRANSFERS, ids=lambda c: c.name)
def test_the_start_is_held_back_until_it_can_be_judged(recorded, cls):
    chunks, _ = recorded[SESSIONS[cls.name][0][0]]
    stream = b"text before " + streams(chunks)[0]
    start, _ = cls.find(stream)
    for cut in range(start, min(len(stream), start + 1100)):
        found, hold = cls.find(stream[:cut])
        assert found in (-1, start) and (found == start or hold <= start), cut


@pytest.mark.parametrize(("cls", "label"), CASES, ids=[label for _, label in CASES])
def test_cut_short_anywhere_hands_out_only_true_bytes(recorded, cls, label):
    chunks, files = recorded[label]
    out_stream, _ = streams(chunks)
    for cut in range(0, len(out_stream), max(1, len(out_stream) // 60)):
        kept = cut_after(chunks, cut)
        if cls.find(streams(kept)[0])[0] < 0:
            continue
        events = from_its_start(cls, kept)
        consistent(events, files)
        whole = assembled(events)
        names = [ev.name or ev.protocol for ev in events if isinstance(ev, FileStart)]
        for name, end in zip(names, [ev for ev in events if isinstance(ev, FileEnd)], strict=False):
            if end.complete:    # never claimed for a file cut short
                assert whole[name] == (files.get(name) or BINARY), (cut, name)


@pytest.mark.parametrize(("cls", "label"), CASES, ids=[label for _, label in CASES])
def test_line_noise_never_corrupts_a_file(recorded, cls, label):
    chunks, files = recorded[label]
    rng = random.Random(label)
    noisy = []
    for direction, data in chunks:
        data = bytearray(data)
        for _ in range(len(data) // 700):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        noisy.append((direction, bytes(data)))
    if cls.find(streams(noisy)[0])[0] < 0:
        return
    consistent(from_its_start(cls, noisy), files)


@pytest.mark.parametrize("cls", TRANSFERS, ids=lambda c: c.name)
@pytest.mark.parametrize("seed", range(6))
def test_garbage_is_handed_back_whole(cls, seed):
    rng = random.Random(seed)
    marks = [b"\x01\x01\xfe", b"\x02\x00\xff", b"**\x18B", b"*\x18C", b"\x04", b"\x18\x18", b"\x18k"]
    garbage = b"".join(rng.choice(marks) if rng.random() < 0.05 else bytes([rng.randrange(256)])
                       for _ in range(20000))
    assert cls.find(garbage)[0] == -1
    for direction in ("out", "in"):
        events, fed = fed_in_steps(cls, direction, garbage)
        assert not [ev for ev in events if isinstance(ev, FileData)]
        unclaimed = sum(len(ev.data) for ev in events if isinstance(ev, Unclaimed))
        framing = sum(garbage[:fed].count(b) for b in cls.framing)
        assert unclaimed >= 0.98 * (fed - framing), direction


def _line(chunks: list[tuple[str, bytes]]) -> list[Payload]:
    dis = Dissector()
    items, t = [], 1000.0
    for direction, data in chunks:
        t += 0.001
        items += dis.feed(Segment(t, "serial", "serial", "/dev/ttyS1", 0, "/dev/ttyUSB0", 0, data,
                                  meta={"direction": direction}))
    items += dis.close()
    return [p for p in items if isinstance(p, Payload)]


@pytest.mark.parametrize(("cls", "label"), CASES, ids=[label for _, label in CASES])
def test_the_line_parser_labels_files_and_scans_the_text_around_them(recorded, cls, label):
    chunks, files = recorded[label]
    before, after = b"$ send reads\r\nPT9936-T1 ACGTTGCA\r\n", b"\r\ndone PT5698-N1\r\n$ "
    payloads = _line([("out", before), *chunks, ("out", after)])
    got: dict[str, bytearray] = {}
    for p in payloads:
        if p.chain[1:]:
            assert p.chain[0] == "serial" and p.direction == "out"
            got.setdefault(p.chain[1], bytearray()).extend(p.data)
    want = {(k if k == "xmodem" else f"{_protocol(label)}:{k}"): v for k, v in expected(cls, files).items()}
    assert {k: bytes(v) for k, v in got.items()} == want
    text = b"".join(p.data for p in payloads if not p.chain[1:] and p.direction == "out")
    assert before in text and after in text


def _protocol(label: str) -> str:
    return {"sz": "zmodem", "sx": "xmodem", "sb": "ymodem"}[label.split()[0]]

"""The serial line parser through the flow table: text scanned raw around transfers, file pieces
labelled with their names, stalls, quiet lines between files, the flow's name and books."""

from __future__ import annotations

from sandbox.model import Observation, Payload, Segment
from sandbox.protocols import Dissector
from sandbox.protocols.serial import line as line_mod
from sandbox.protocols.serial.transfer import FILE_STALL_S
from tests.protocols.serial.test_xmodem import block
from tests.protocols.serial.test_zmodem import BODY, hexh, session

HOST, INSTRUMENT = "/dev/ttyS1", "/dev/ttyUSB0"


def seg(t: float, data: bytes, direction: str = "out", **meta) -> Segment:
    return Segment(t, "serial", "serial", HOST, 0, INSTRUMENT, 0, data, meta={"direction": direction, **meta})


def run(segments: list[Segment], dis: Dissector | None = None) -> tuple[Dissector, list[Payload]]:
    dis = dis or Dissector()
    items: list[Payload | Observation] = []
    for s in segments:
        items += dis.feed(s)
    items += dis.close()
    return dis, [p for p in items if isinstance(p, Payload)]


def test_one_flow_per_line_named_after_its_ports_with_the_host_port_as_destination():
    dis, payloads = run([seg(1.0, b"hello\r\n"), seg(1.1, b"OK\r\n", "in")])
    (info,) = dis.flows.values()
    assert info.flow == f"serial {INSTRUMENT} > {HOST}" and info.destination == f"serial {HOST}"
    assert (info.bytes_out, info.bytes_in, info.app) == (7, 4, "raw")
    assert [(p.chain, p.direction, p.data) for p in payloads] == [(("serial",), "out", b"hello\r\n"),
                                                                 (("serial",), "in", b"OK\r\n")]


def test_text_around_a_transfer_is_raw_and_the_file_is_labelled():
    before, after = b"sending PT9936-T1 now\r\n", b"\r\nPT9936-T1 sent\r\n"
    stream = before + session(b"reads.fastq", BODY) + b"OO" + after
    segments = [seg(2.0 + i * 0.001, stream[i:i + 50]) for i in range(0, len(stream), 50)]
    segments.insert(3, seg(2.0015, hexh(1, 0x23), "in"))          # the receiver's ZRINIT
    segments.insert(-1, seg(2.9, hexh(8), "in"))                   # and its ZFIN
    dis, payloads = run(segments)
    files = [p for p in payloads if p.chain == ("serial", "zmodem:reads.fastq")]
    assert b"".join(p.data for p in files) == BODY
    assert files[0].meta == {"filename": "reads.fastq", "protocol": "zmodem", "file_offset": 0}
    text = b"".join(p.data for p in payloads if p.chain == ("serial",) and p.direction == "out")
    assert before in text and after in text and BODY[:100] not in text
    (info,) = dis.flows.values()
    assert info.app == "zmodem" and info.meta["files"] == [
        {"name": "reads.fastq", "protocol": "zmodem", "direction": "out", "size": len(BODY), "bytes": len(BODY),
         "complete": True}]


def test_big_files_come_in_pieces_and_a_quiet_line_hands_over_what_it_has(monkeypatch):
    monkeypatch.setattr(line_mod, "FILE_PIECE", 256)
    body = bytes(range(256)) * 4
    blocks = b"".join(block(i + 1, body[i * 128:(i + 1) * 128]) for i in range(8))
    dis, payloads = run([seg(1.0, blocks[:133 * 3]), seg(1.01, blocks[133 * 3:]), seg(9.0, b"\x04"),
                         seg(9.5, b"$ ")])
    pieces = [(p.meta["file_offset"], len(p.data)) for p in payloads if p.chain == ("serial", "xmodem")]
    assert pieces == [(0, 256), (256, 256), (512, 256), (768, 128), (896, 128)]   # the last held for ^Z
    assert [p.data for p in payloads if p.chain == ("serial",)] == [b"$ "]


def test_a_stalled_transfer_is_given_up_and_the_line_is_raw_again():
    half = block(1, b"a" * 128) + block(2, b"b" * 128)
    dis, payloads = run([seg(1.0, half), seg(1.0 + FILE_STALL_S + 1, b"login: ")])
    assert b"".join(p.data for p in payloads if p.chain == ("serial", "xmodem")) == b"a" * 128 + b"b" * 128
    assert [p.data for p in payloads if p.chain == ("serial",)] == [b"login: "]
    (info,) = dis.flows.values()
    assert info.meta["files"][0]["complete"] is False


def test_line_events_reach_the_flow_books_and_other_channels_stay_raw():
    line = {"host": HOST, "instrument": INSTRUMENT, "settings": "9600 8N1", "baud": 9600, "lines": "CTS"}
    dis, _ = run([seg(1.0, b"", "out", line={**line, "event": "opened", "side": "line"}),
                  seg(2.0, b"", "in", line={**line, "event": "unplugged", "side": "host", "note": "hung up"}),
                  seg(3.5, b"", "in", line={**line, "event": "replugged", "side": "host"})])
    (info,) = dis.flows.values()
    assert (info.meta["baud"], info.meta["gap_count"], info.meta["gap_seconds"]) == (9600, 1, 1.5)
    usb = Segment(1.0, "usb", "usb", "1.4", 2, "host", 0, b"\x55" * 40, meta={"direction": "out"})
    dis, payloads = run([usb])
    # a USB device has parsers of its own: bytes nothing describes go raw, named by the device
    assert [p.chain for p in payloads] == [("usb 1.4", "raw")] and dis.flows["usb host > 1.4"].app == "usb"

"""SMB 2/3: Samba's smbclient -> smbd on lo (files put and got, an encrypted session), and messages
written from MS-SMB2 for what Samba does not send (SMB 3.1.1 compression, compounds, hostile fields)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.decode import msxca
from sandbox.decode.limits import DECODE_LIMIT
from sandbox.model import NOT_EXAMINED_KIND, Observation, Payload
from sandbox.protocols.smb import FILE_PIECE, SmbParser
from sandbox.simulate import wire
from tests.loopback import record_lo
from tests.protocols import smb_messages as m
from tests.protocols.test_integration import dissect
from tests.protocols.test_stream_parsers_conformance import make_ctx, run, tcp_streams
from tests.samba import SECRET, USER, samba_server

HOST, PORT = "127.0.0.1", 4455
READS = b"".join(b"@read%d\nACGTTGCA%sTTAG\n+\n%s\n" % (i, b"ACGT" * 10, b"I" * 52) for i in range(30000))


@pytest.fixture(scope="module")
def samba(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A Samba server of the module's own on HOST:PORT; its share's folder."""
    with samba_server(tmp_path_factory.mktemp("samba"), HOST, PORT) as share:
        yield share


def smbclient(tmp: Path, commands: str, *options: str) -> None:
    subprocess.run(["smbclient", f"//{HOST}/share", "-p", str(PORT), "-N", *options, "-c", commands],
                   cwd=tmp, check=True, capture_output=True, timeout=60)


def file_bytes(items: list, label: str, direction: str = "out") -> bytes:
    """The file rebuilt from the pieces labelled ``label``, each at its offset."""
    out = bytearray()
    for p in items:
        if isinstance(p, Payload) and p.direction == direction and p.chain[-1] == label:
            at = p.meta["file_offset"]
            out.extend(bytes(max(0, at - len(out))))
            out[at: at + len(p.data)] = p.data
    return bytes(out)


def other_bytes(items: list, direction: str = "out") -> bytes:
    return b"".join(p.data for p in items if isinstance(p, Payload) and p.direction == direction
                    and p.chain[-1] == "smb2")


# --------------------------------------------------------------------------- Samba


def test_a_file_put_on_a_share_is_its_named_bytes(tmp_path: Path, samba: Path) -> None:
    (tmp_path / "reads.fastq").write_bytes(READS)
    with record_lo(tmp_path / "put.pcapng", f"host {HOST} and tcp port {PORT}") as rec:
        smbclient(tmp_path, r"mkdir run_42; put reads.fastq run_42\reads.fastq")
    assert (samba / "run_42" / "reads.fastq").read_bytes() == READS
    items, d = dissect(rec.path)
    (flow,) = d.flows.values()
    assert flow.app == "smb" and not flow.errors and flow.destination == HOST
    label = rf"smb2 WRITE \\{HOST}\share\run_42\reads.fastq"
    assert file_bytes(items, label) == READS
    pieces = [p for p in items if isinstance(p, Payload) and p.chain[-1] == label]
    assert len(pieces) == -(-len(READS) // FILE_PIECE)      # smbclient's writes joined into pieces
    assert all(p.meta["filename"] == label[11:] for p in pieces)
    assert b"@read7\n" not in other_bytes(items)             # the file's bytes are not also in the rest
    # every byte the client sent but the session frames' four is in one payload or the other, once
    sent = sum(len(p.data) - p.repeated for p in items if isinstance(p, Payload) and p.direction == "out")
    stream = b"".join(data for direction, data in tcp_streams(rec.path)[0] if direction == "out")
    frames, at = 0, 0
    while at < len(stream):
        frames, at = frames + 1, at + 4 + int.from_bytes(stream[at + 1: at + 4], "big")
    assert sent == len(stream) - 4 * frames


def test_a_file_the_instrument_serves_is_its_named_bytes(tmp_path: Path, samba: Path) -> None:
    (samba / "served.fastq").write_bytes(READS)
    with record_lo(tmp_path / "get.pcapng", f"host {HOST} and tcp port {PORT}") as rec:
        smbclient(tmp_path, "get served.fastq got.fastq")
    assert (tmp_path / "got.fastq").read_bytes() == READS
    # the server's side as the instrument's (both ends are HOST here): its READ responses go out
    (conversation,) = tcp_streams(rec.path).values()
    flip = {"out": "in", "in": "out"}
    items = run(SmbParser, [(flip[d], data) for d, data in conversation], make_ctx(opener="in"))
    assert file_bytes(items, rf"smb2 READ \\{HOST}\share\served.fastq") == READS
    assert not file_bytes(items, rf"smb2 READ \\{HOST}\share\served.fastq", "in")


def test_an_encrypted_session_is_sealed_volume(tmp_path: Path, samba: Path) -> None:
    (tmp_path / "reads.fastq").write_bytes(READS)
    with record_lo(tmp_path / "sealed.pcapng", f"host {HOST} and tcp port {PORT}") as rec:
        subprocess.run(["smbclient", f"//{HOST}/share", "-p", str(PORT), "-U", f"{USER}%{SECRET}",
                        "--client-protection=encrypt", "-c", "put reads.fastq sealed.fastq"],
                       cwd=tmp_path, check=True, capture_output=True, timeout=60)
    assert (samba / "sealed.fastq").read_bytes() == READS
    items, d = dissect(rec.path)
    (flow,) = d.flows.values()
    assert flow.encrypted and flow.sealed == "smb3" and flow.sealed_out > len(READS)
    (sealed,) = [o for o in items if isinstance(o, Observation) and o.kind == "encrypted"]
    assert sealed.chain == ("tcp", "smb3") and sealed.bytes_out == flow.sealed_out
    assert not any(isinstance(p, Payload) and "WRITE" in p.chain[-1] for p in items)
    assert len(other_bytes(items)) >= flow.sealed_out          # ciphertext is still scanned as it is


def test_a_windows_client_s_file_is_read_whole_and_named(shared_data: Path) -> None:
    """Zeek's capture of a Windows client writing a PDF to a share: the file's bytes without SMB's
    headers between them (its Flate streams open), named, and the pipe's DCE/RPC too."""
    items, d = dissect(shared_data / "captures" / "public-traces" / "zeek__smb__smb2.pcap")
    pdf = file_bytes(items, r"smb2 WRITE \\10.0.0.12\smb2\WP_SMBPlugin.pdf")
    assert len(pdf) == 1508939 and pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    from sandbox.decode import expand
    views = expand(pdf, ("tcp",)).views
    assert sum(1 for v in views if "pdf" in " ".join(v.chain[1:])) >= 10
    assert file_bytes(items, r"smb2 WRITE \\10.0.0.12\IPC$\srvsvc")
    assert not any(f.errors for f in d.flows.values())


# --------------------------------------------------------------------------- written messages


def _parse(conversation: list[tuple[str, bytes]], opener: str = "out") -> list:
    """The conversation's messages as if they came within one second (pieces are not cut by time)."""
    parser = SmbParser(make_ctx(opener))
    items: list = []
    for direction, data in conversation:
        items += parser.feed(direction, data, 1.0)
    return items + parser.close(1.0)


@pytest.mark.parametrize("algorithm", [msxca.LZ77, msxca.LZNT1, msxca.LZ77_HUFFMAN, msxca.LZ4], ids=msxca.name)
@pytest.mark.parametrize("keep", [0, 112])
def test_compressed_writes_are_expanded(algorithm: int, keep: int) -> None:
    data = READS[:300000]
    items = _parse(wire.smb_upload("run\\reads.fastq", data, pack=lambda msg: m.compressed(msg, algorithm, keep)))
    assert file_bytes(items, r"smb2 WRITE \\lims.lab.example\runs\run\reads.fastq") == data
    assert not [o for o in items if isinstance(o, Observation)]


def test_chained_compression_is_expanded() -> None:
    data = READS[:200000]

    def pack(message: bytes) -> bytes:
        head, body = message[:112], message[112:]
        return m.chained([(msxca.NONE, head), (msxca.LZ77, body[:5000]), (msxca.LZ77_HUFFMAN, body[5000:])])
    items = _parse(wire.smb_upload("reads.fastq", data, pack=pack))
    assert file_bytes(items, r"smb2 WRITE \\lims.lab.example\runs\reads.fastq") == data


def test_a_run_of_one_byte_in_a_chain_is_expanded() -> None:
    data = b"N" * 4096 + READS[:8192]
    message = wire.smb_write(3, wire.SMB_FILE_ID, 0, data)
    packed = m.chained([(msxca.NONE, message[:112]), (msxca.PATTERN_V1, data[:4096]), (msxca.NONE, data[4096:])])
    conv = wire.smb_upload("x", b"")[:4] + [("out", wire.smb_frame(packed))]
    assert file_bytes(_parse(conv), r"smb2 WRITE \\lims.lab.example\runs\x") == data


@pytest.mark.parametrize("how", ["algorithm 9", "LZ77"])
def test_what_cannot_be_expanded_is_said_and_scanned_as_it_came(how: str) -> None:
    data = READS[:50000]
    message = wire.smb_write(3, wire.SMB_FILE_ID, 0, data)
    packed = bytearray(m.compressed(message, msxca.LZ77))
    if how == "algorithm 9":
        packed[8:10] = (9).to_bytes(2, "little")
    else:
        packed[16:20] = bytes.fromhex("00000080")   # a match before anything was written
    conv = wire.smb_upload("x", b"")[:4] + [("out", wire.smb_frame(bytes(packed)))]
    items = _parse(conv)
    (said,) = [o for o in items if isinstance(o, Observation)]
    assert said.kind == NOT_EXAMINED_KIND and said.detail["what"] == f"an SMB message compressed with {how}"
    assert said.bytes_out == len(packed)
    assert bytes(packed) in other_bytes(items)


def test_a_message_compressed_twice_is_said() -> None:
    data = READS[:20000]
    twice = m.compressed(m.compressed(wire.smb_write(3, wire.SMB_FILE_ID, 0, data), msxca.LZ77), msxca.LZNT1)
    items = _parse(wire.smb_upload("x", b"")[:4] + [("out", wire.smb_frame(twice))])
    (said,) = [o for o in items if isinstance(o, Observation)]
    assert said.detail["what"] == "an SMB message compressed inside a compressed one"
    assert m.compressed(wire.smb_write(3, wire.SMB_FILE_ID, 0, data), msxca.LZ77) in other_bytes(items)


def test_a_bomb_of_messages_is_expanded_within_the_flow_s_allowance() -> None:
    """Messages of a few dozen bytes each declaring 16 MiB of one letter: the first expands (the
    allowance's floor), the rest within 100 times what came compressed; each one stopped is a limit."""
    bomb = m.compressed(wire.smb_write(3, wire.SMB_FILE_ID, 0, b"A" * ((16 << 20) - 112)), msxca.LZ77)
    assert len(bomb) < 300
    parser = SmbParser(make_ctx())
    items = []
    for direction, data in wire.smb_upload("x", b"")[:4] + [("out", wire.smb_frame(bomb))] * 20:
        items += parser.feed(direction, data, 1.0)
    items += parser.close(1.0)
    limits = [o for o in items if isinstance(o, Observation)]
    assert len(limits) == 19 and {o.kind for o in limits} == {DECODE_LIMIT}
    assert all(o.detail["limit"] == "expansion ratio 100x" and o.bytes_out == len(bomb) for o in limits)
    assert parser.made["out"] <= (16 << 20) + 100 * 20 * len(bomb)


def test_a_compound_s_write_names_the_file_its_create_opened() -> None:
    data = READS[:5000]
    first = wire.smb_create(2, "compound.fastq", next_command=0)
    create = wire.smb_create(2, "compound.fastq", next_command=(len(first) + 7) // 8 * 8)
    create += bytes(-len(create) % 8)
    compound = create + wire.smb_write(3, b"\xff" * 16, 0, data, related=True)
    conv = [wire.smb_upload("x", b"")[0], wire.smb_upload("x", b"")[1], ("out", wire.smb_frame(compound))]
    assert file_bytes(_parse(conv), r"smb2 WRITE \\lims.lab.example\runs\compound.fastq") == data


def test_a_file_opened_on_one_connection_is_named_on_another_of_its_session() -> None:
    """SMB 3 multichannel: the client opens the file on one connection and writes it over another."""
    data = READS[:4000]
    shared: dict = {}
    first, second = make_ctx(), make_ctx()
    first.shared = second.shared = shared
    second.info.sport = 50001
    run(SmbParser, wire.smb_upload("multi.fastq", b"")[:4], first)
    items = run(SmbParser, [("out", wire.smb_frame(wire.smb_write(9, wire.SMB_FILE_ID, 0, data)))], second)
    assert file_bytes(items, r"smb2 WRITE \\lims.lab.example\runs\multi.fastq") == data
    other = make_ctx()      # another Dissector's flows do not share it
    items = run(SmbParser, [("out", wire.smb_frame(wire.smb_write(9, wire.SMB_FILE_ID, 0, data)))], other)
    assert file_bytes(items, "smb2 WRITE an unnamed file") == data


def test_writes_in_order_are_joined_and_others_are_apart() -> None:
    data = READS[:10000]
    conv = wire.smb_upload("f", b"")[:4]
    for n, at in enumerate((0, 4000, 8000, 2000)):          # the last goes back: a piece of its own
        conv.append(("out", wire.smb_frame(wire.smb_write(10 + n, wire.SMB_FILE_ID, at, data[at: at + 2000]))))
    pieces = [p for p in _parse(conv) if isinstance(p, Payload) and "WRITE" in p.chain[-1]]
    assert [(p.meta["file_offset"], len(p.data), p.repeated) for p in pieces] == \
        [(0, 2000, 0), (4000, 2000, 0), (8000, 2000, 0), (2000, 2000, 0)]
    conv = wire.smb_upload("f", b"")[:4] + [("out", wire.smb_frame(wire.smb_write(10 + n, wire.SMB_FILE_ID, at, data[at: at + 1000])))
                                     for n, at in enumerate(range(0, 10000, 1000))]
    (piece,) = [p for p in _parse(conv) if isinstance(p, Payload) and "WRITE" in p.chain[-1]]
    assert piece.data == data and piece.meta["file_offset"] == 0


@pytest.mark.parametrize("verb", ["WRITE", "READ"])
def test_a_large_message_is_handed_on_as_it_comes(verb: str) -> None:
    """A writer that stalls in the middle of an 8 MiB WRITE (or a server in a READ response) holds
    nothing back: what came is handed on when the flow goes quiet, and the rest once it comes."""
    data = (READS * 2)[: 8 << 20]
    if verb == "WRITE":
        conv = wire.smb_upload("big.fastq", b"")[:4]
        frame = wire.smb_frame(wire.smb_write(9, wire.SMB_FILE_ID, 4096, data))
    else:   # the instrument serves the file: its READ response goes out
        conv = [("in" if d == "out" else "out", b) for d, b in wire.smb_upload("big.fastq", b"")[:4]]
        conv.append(("in", wire.smb_frame(wire.smb_read(9, wire.SMB_FILE_ID, 4096, len(data)))))
        frame = wire.smb_frame(wire.smb_read_answer(9, data))
    parser = SmbParser(make_ctx("out" if verb == "WRITE" else "in"))
    for direction, part in conv:
        parser.feed(direction, part, 1.0)
    early = parser.feed("out", frame[:300_000], 1.0) + parser.idle(1.2)
    label = rf"smb2 {verb} \\lims.lab.example\runs\big.fastq"
    came = file_bytes(early, label)
    assert came and data.startswith(came[4096:]) and len(came) - 4096 >= 300_000 - 200
    items = early + parser.feed("out", frame[300_000:], 1.3) + parser.close(1.4)
    assert file_bytes(items, label)[4096:] == data
    assert sum(len(p.data) - p.repeated for p in items if isinstance(p, Payload) and p.chain[-1] == label) == len(data)


def test_a_compressed_file_longer_than_a_piece_is_followed_past_it() -> None:
    """A gzip'd file whose reads come after more than a piece of incompressible bytes: its stream is
    followed from piece to piece (each piece alone opens only its first)."""
    import gzip
    import random

    data = gzip.compress(random.Random(1).randbytes(FILE_PIECE + 50000) + READS[:100000])
    items = _parse(wire.smb_upload("run.fastq.gz", data, piece=1 << 16))
    followed = [p for p in items if isinstance(p, Payload) and p.chain[-1] == "gzip stream"]
    assert followed and READS[:100000] in b"".join(p.data for p in followed)
    assert followed[0].chain[-2] == r"smb2 WRITE \\lims.lab.example\runs\run.fastq.gz"


def test_a_compressed_file_written_out_of_order_is_said_where_its_stream_is_lost() -> None:
    import gzip
    import random

    data = gzip.compress(random.Random(1).randbytes(3 * FILE_PIECE))
    conv = wire.smb_upload("run.fastq.gz", b"")[:4]
    for n, at in enumerate((0, 2 * FILE_PIECE, FILE_PIECE)):     # the second piece comes last
        conv.append(("out", wire.smb_frame(wire.smb_write(10 + n, wire.SMB_FILE_ID, at, data[at: at + FILE_PIECE]))))
    (said,) = [o for o in _parse(conv) if isinstance(o, Observation)]
    assert said.kind == NOT_EXAMINED_KIND
    assert said.detail["what"] == r"the compressed stream of smb2 WRITE \\lims.lab.example\runs\run.fastq.gz, written out of order"


def test_a_file_longer_than_a_piece_overlaps_at_the_cut() -> None:
    data = READS[: FILE_PIECE + 5000]
    pieces = [p for p in _parse(wire.smb_upload("f", data, piece=1 << 16)) if isinstance(p, Payload) and
              "WRITE" in p.chain[-1]]
    assert [(p.meta["file_offset"], p.repeated) for p in pieces] == [(0, 0), (FILE_PIECE - 1024, 1024)]
    assert pieces[1].data == data[FILE_PIECE - 1024:]


def test_hostile_fields_never_raise_and_nothing_is_dropped() -> None:
    data = READS[:3000]
    bad = bytearray(wire.smb_write(3, wire.SMB_FILE_ID, 0, data))
    bad[66:68] = (0xFFFF).to_bytes(2, "little")          # DataOffset past the message
    odd = bytearray(wire.smb_create(2, "n"))
    odd[64 + 44: 64 + 48] = bytes.fromhex("ffff ffff".replace(" ", ""))
    conv = wire.smb_upload("x", b"")[:4] + [("out", wire.smb_frame(bytes(bad))), ("out", wire.smb_frame(bytes(odd)))]
    items = _parse(conv)
    assert data in other_bytes(items)


def test_a_broken_frame_sends_the_rest_of_the_side_raw() -> None:
    conv = wire.smb_upload("x", READS[:1000])[:6] + [("out", b"\x42garbage" + READS[:2000])]
    items = _parse(conv)
    raw = b"".join(p.data for p in items if isinstance(p, Payload) and p.chain == ("tcp",))
    assert raw == b"\x42garbage" + READS[:2000]
    assert file_bytes(items, r"smb2 WRITE \\lims.lab.example\runs\x") == READS[:1000]


def test_detected_by_its_frames_either_way_and_by_a_netbios_request_on_139() -> None:
    first = wire.smb_frame(wire.smb_tree_connect(1, r"\\h\s"))
    assert SmbParser.detect(first, b"", 50000, 4455) and SmbParser.detect(b"", first, 4455, 50000)
    request = b"\x81\x00\x00\x44" + bytes(68)
    assert SmbParser.detect(request, b"", 50000, 139) and SmbParser.detect(b"", request, 139, 50000)
    assert not SmbParser.detect(b"GET / HTTP/1.1\r\n", b"", 50000, 445)

"""PDF: filtered streams opened whatever their dictionary says about length; filters we do not undo
left alone;
a real document (the one Zeek's SMB2 trace writes) opened down to its image."""

from __future__ import annotations

import base64
import gzip
import io
import os
import subprocess
import zlib
from pathlib import Path

from PIL import Image

from sandbox.decode import expand
from sandbox.decode.pdf import PdfDecoder
from sandbox.decode.unopened import BLOCK, unopened_bytes
from tests.conftest import SHARED_DATA

CHAIN = ("tcp",)
TEXT = b"BT /F1 12 Tf 72 712 Td (Sample NA12878-blood, run 230825_M04034_0043, flowcell L6NVV) Tj ET\n" * 40
IMAGE = os.urandom(60_000)      # a JPEG's bytes are as random as these


def _obj(number: int, head: bytes, stream: bytes) -> bytes:
    return b"%d 0 obj\n<< %s >>\nstream\n%s\nendstream\nendobj\n" % (number, head, stream)


def _lzw(data: bytes) -> bytes:
    """LZWDecode's codes as libtiff writes them (TIFF's LZW is PDF's with /EarlyChange 1): the strip
    of a one-row image."""
    buf = io.BytesIO()
    Image.frombytes("L", (len(data), 1), data).save(buf, "TIFF", compression="tiff_lzw", tiffinfo={278: 1})
    tiff = buf.getvalue()
    tags = Image.open(io.BytesIO(tiff)).tag_v2
    (at,), (size,) = tags[273], tags[279]
    return tiff[at: at + size]


def _lzw_late(data: bytes) -> bytes:
    """LZW with /EarlyChange 0 (codes widen when the table needs it, not one entry before): a plain
    encoder of ISO 32000 7.4.4, as no library here writes that variant."""
    table = {bytes([i]): i for i in range(256)}
    codes, width, word = [256], 9, b""
    for byte in data:
        if word + bytes([byte]) in table:
            word += bytes([byte])
            continue
        codes.append((table[word], width))
        table[word + bytes([byte])] = len(table) + 2   # 256 and 257 are clear and end
        width = 9 + ((len(table) + 2) > 512) + ((len(table) + 2) > 1024) + ((len(table) + 2) > 2048)
        word = bytes([byte])
    codes += [(table[word], width), (257, width)]
    bits = "".join(format(code, f"0{w}b") for code, w in [(256, 9), *codes[1:]])
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def _views(data: bytes) -> dict[str, bytes]:
    return {v.chain[-1]: v.data for v in expand(data, CHAIN).views[1:]}


def test_filtered_streams_are_opened_and_other_filters_left_alone():
    flate = zlib.compress(TEXT)
    pdf = b"".join([
        b"%PDF-1.7\n",
        _obj(4, b"/Length 9 0 R /Filter /FlateDecode", flate),                    # indirect length
        _obj(5, b"/Length %d /Filter [/FlateDecode] /DecodeParms << /Predictor 1 >>" % len(flate), flate[::-1]),
        _obj(6, b"/Filter [ /FlateDecode ] /DecodeParms << /Predictor 1 >>", zlib.compress(TEXT[::-1])),
        _obj(7, b"/Type /XObject /Subtype /Image /Filter /DCTDecode", IMAGE),
        _obj(8, b"/Filter [/ASCII85Decode /FlateDecode]", base64.a85encode(zlib.compress(TEXT.lower()), wrapcol=72) + b"~>"),
        _obj(9, b"/Length 12", b"(plain text)"),
        b"trailer\n<< /Root 1 0 R >>\n%%EOF\n",
    ])
    views = _views(pdf)
    assert views["pdf:obj 4"] == TEXT and views["pdf:obj 6"] == TEXT[::-1] and views["pdf:obj 8"] == TEXT.lower()
    assert set(views) == {"pdf:obj 4", "pdf:obj 6", "pdf:obj 8", "outside pdf"}  # obj 5 is no zlib stream
    # what the streams read do not hold (the objects' syntax, obj 5, the image) is searched on its own
    assert views["outside pdf"].startswith(b"%PDF-1.7\n4 0 obj") and flate[::-1] in views["outside pdf"]
    assert IMAGE in views["outside pdf"] and flate not in views["outside pdf"]
    # what no decoder opened: the image (counted by the 8 KiB block); without it, nothing
    exp = expand(pdf, CHAIN)
    assert len(IMAGE) - 2 * BLOCK <= unopened_bytes([v.data for v in exp.views], exp.explained) <= len(pdf)
    exp = expand(pdf.replace(IMAGE, b"q Q\n" * 100), CHAIN)
    assert unopened_bytes([v.data for v in exp.views], exp.explained) == 0


def test_filter_chains():
    """PostScript-born PDFs: ASCII85 or ASCIIHex over Flate (which Flate alone left unread, a
    stream of reads replayed clean), RunLength, LZW; an unknown filter in the chain leaves it alone."""
    # texts of their own: the expander keeps one view of equal outputs
    one, two, three, four, five = TEXT, TEXT.lower(), TEXT.upper(), TEXT.swapcase(), TEXT.title()
    rl = b"".join(bytes([len(three[i: i + 100]) - 1]) + three[i: i + 100] for i in range(0, len(three), 100)) + b"\x80"
    pdf = b"".join([
        b"%PDF-1.3\n",
        _obj(3, b"/Filter [/A85 /Fl]", b"<~" + base64.a85encode(zlib.compress(one)) + b"~>"),
        _obj(4, b"/Filter [/ASCIIHexDecode /FlateDecode]", zlib.compress(two).hex().encode() + b">"),
        _obj(5, b"/Filter /RunLengthDecode", rl),
        _obj(6, b"/Filter [/ASCII85Decode /LZWDecode]", base64.a85encode(_lzw(four)) + b"~>"),
        _obj(7, b"/Filter /RL", b"\x81\x00" * 1000),  # 128 zeros per two bytes
        _obj(8, b"/Filter /LZWDecode /DecodeParms << /EarlyChange 0 >>", _lzw_late(five)),
        _obj(9, b"/Filter [/ASCII85Decode /JBIG2Decode]", base64.a85encode(b"jbig2 bits") + b"~>"),
    ])
    views = _views(pdf)
    assert (views["pdf:obj 3"], views["pdf:obj 4"], views["pdf:obj 5"]) == (one, two, three)
    assert (views["pdf:obj 6"], views["pdf:obj 8"]) == (four, five)
    assert "pdf:obj 9" not in views
    assert views["pdf:obj 7"] == bytes(128 * 1000)


def test_a_cut_document_yields_what_its_streams_had():
    flate = zlib.compress(TEXT)
    pdf = b"%PDF-1.4\n" + _obj(3, b"/Filter /FlateDecode", flate)
    cut = pdf[: pdf.index(flate) + len(flate) // 2]
    (label, out), = list(PdfDecoder.decode(cut, _budget()))
    assert label == "pdf:obj 3(truncated)" and TEXT.startswith(out) and out


def test_not_a_pdf():
    assert not PdfDecoder.sniff(b"%!PS-Adobe-3.0\n" + b"x" * 2000)
    assert not PdfDecoder.sniff(b"x" * 1100 + b"%PDF-1.7\n")
    assert list(PdfDecoder.decode(b"%PDF-1.7\nstream\n" + os.urandom(4000) + b"\nendstream", _budget())) == []


def test_the_pdf_zeeks_smb2_trace_writes(tmp_path: Path):
    """A real document (made by a real PDF writer): its Flate streams open, the image stays unread."""
    trace = SHARED_DATA / "captures" / "public-traces" / "zeek__smb__smb2.pcap"
    subprocess.run(["tshark", "-r", str(trace), "-q", "--export-objects", f"smb,{tmp_path}"], check=True,
                   capture_output=True)
    (pdf,) = [p for p in tmp_path.iterdir() if p.name.endswith(".pdf")]
    data = pdf.read_bytes()
    exp = expand(data, CHAIN)
    streams = [v for v in exp.views if len(v.chain) == 2 and v.chain[1].startswith("pdf:obj ")]
    assert len(streams) >= 30 and not exp.limits
    assert sum(len(v.data) for v in streams) > len(data)
    assert unopened_bytes([v.data for v in exp.views], exp.explained) < len(data) // 5    # its image, to a block


def _budget():
    from sandbox.decode import Budget

    return Budget(1 << 26, "test")


def test_what_no_stream_read_holds_is_searched():
    """A PDF whose streams were read stood for the whole file: a gzip between two objects, or after a
    Flate stream's end inside its stream, was searched nowhere."""
    stream = gzip.compress(TEXT.upper())
    text = IMAGE[:20000].hex().encode()                  # compresses to ~20 kB: half of it decodes
    flate = zlib.compress(text)
    broken = flate[:len(flate) // 2] + b"\xff" * 8       # a data error half way: the first half is read
    for pdf in (b"%PDF-1.7\n" + _obj(4, b"/Filter /FlateDecode", flate) + stream + b"\n%%EOF\n",
                b"%PDF-1.7\n" + _obj(4, b"/Filter /FlateDecode", flate + stream) + b"%%EOF\n",
                b"%PDF-1.7\n" + _obj(4, b"/Filter /FlateDecode", broken + stream) + b"%%EOF\n"):
        views = {v.chain: v.data for v in expand(pdf, CHAIN).views}
        assert text.startswith(views.get(CHAIN + ("pdf:obj 4",)) or views[CHAIN + ("pdf:obj 4(corrupt)",)])
        assert stream in views[CHAIN + ("outside pdf",)] and flate[:100] not in views[CHAIN + ("outside pdf",)]
        assert views[CHAIN + ("outside pdf", "gzip@" + str(views[CHAIN + ("outside pdf",)].index(stream)))] == \
            TEXT.upper()

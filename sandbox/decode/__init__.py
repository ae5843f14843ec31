"""Decoders: recursive, bounded views of a payload (gzip, zip, base64, JSON strings, PDF, PNG, ...).

``expand(data, chain)`` returns every reading of ``data`` that the registered decoders find,
nested within the budget in ``limits.py``, each as a ``View`` whose chain says how it was
reached ("tcp", "http/1.1 POST /x", "json:$.data", "base64", "gzip"), and the limits that
stopped it (``Expansion.limits``).  Compressed formats decompress through the one codec layer
(``codec.py``), which the protocols' content codings use too; MIME multipart has one
implementation (``multipart.py``) for HTTP uploads, mail and the decoders.

A new decoder is one module (a ``Decoder`` subclass with ``sniff`` and ``decode``) plus one
line below.  Order matters in two ways: structural decoders (JSON, multipart, form, protobuf,
tar, PDF, Parquet, Avro, ORC, cabinet, 7z, CRAM, zip) come before the decoders that search inside a view (zip and the compressed streams
at an offset, base64 and hex runs), which skip a view a structural decoder has taken apart, so content is
reached through its part ("multipart:file=x.gz" > "gzip") rather than at an offset of the whole;
and when two decoders produce identical bytes the first one's label is kept.
"""

from __future__ import annotations

from sandbox.decode.alphabet import AlphabetDecoder
from sandbox.decode.avro import AvroDecoder
from sandbox.decode.base import Budget, Decoder
from sandbox.decode.base32 import Base32Decoder
from sandbox.decode.base45 import Base45Decoder
from sandbox.decode.base58 import Base58Decoder
from sandbox.decode.base62 import Base36Decoder, Base62Decoder
from sandbox.decode.base64 import Base64Decoder
from sandbox.decode.base85 import Base85Decoder
from sandbox.decode.base91 import Base91Decoder
from sandbox.decode.bcf import BcfDecoder
from sandbox.decode.bmp import BmpDecoder
from sandbox.decode.brotli import BrotliDecoder
from sandbox.decode.bz2 import Bz2Decoder
from sandbox.decode.cab import CabDecoder
from sandbox.decode.characters import CharactersDecoder
from sandbox.decode.codes import CodesDecoder
from sandbox.decode.cram import CramDecoder
from sandbox.decode.deflate import DeflateDecoder
from sandbox.decode.disguised import DisguisedDecoder
from sandbox.decode.entities import EntitiesDecoder
from sandbox.decode.escapes import EscapesDecoder
from sandbox.decode.expand import Expansion, run
from sandbox.decode.gif import GifDecoder
from sandbox.decode.gzip import GzipDecoder
from sandbox.decode.headerless import HeaderlessDecoder
from sandbox.decode.hex import HexDecoder
from sandbox.decode.hexdump import HexdumpDecoder
from sandbox.decode.json import JsonDecoder
from sandbox.decode.limits import DEFAULT_LIMITS, LimitHit, Limits
from sandbox.decode.lowbits import LowBitsDecoder
from sandbox.decode.lz4 import Lz4Decoder
from sandbox.decode.lzip import LzipDecoder
from sandbox.decode.lzw import LzwDecoder
from sandbox.decode.multipart import MultipartDecoder
from sandbox.decode.numbers import NumbersDecoder
from sandbox.decode.orc import OrcDecoder
from sandbox.decode.pairs import PairsDecoder
from sandbox.decode.parquet import ParquetDecoder
from sandbox.decode.pdf import PdfDecoder
from sandbox.decode.png import PngDecoder
from sandbox.decode.protobuf import ProtobufDecoder
from sandbox.decode.qp import QuotedPrintableDecoder
from sandbox.decode.runlength import RunLengthDecoder
from sandbox.decode.sevenzip import SevenZipDecoder
from sandbox.decode.snappy import SnappyDecoder
from sandbox.decode.strided import StridedDecoder
from sandbox.decode.tar import TarDecoder
from sandbox.decode.target import TargetDecoder
from sandbox.decode.textbits import TextBitsDecoder
from sandbox.decode.tiff import TiffDecoder
from sandbox.decode.transposed import TransposedDecoder
from sandbox.decode.unreadable import UnreadableDecoder
from sandbox.decode.url import UrlDecoder
from sandbox.decode.utf16 import Utf16Decoder
from sandbox.decode.uu import UuDecoder
from sandbox.decode.words import WordsDecoder
from sandbox.decode.xor import XorDecoder
from sandbox.decode.xz import XzDecoder
from sandbox.decode.yenc import YencDecoder
from sandbox.decode.zip import ZipDecoder
from sandbox.decode.zlib import ZlibDecoder
from sandbox.decode.zstd import ZstdDecoder

# Registry: one line per decoder.
DECODERS: list[type[Decoder]] = [
    JsonDecoder,  # { or [ ... } or ] ; NDJSON
    MultipartDecoder,  # "--boundary" line, or MIME headers naming a multipart boundary
    UrlDecoder,  # a=b&c=d form, or dense %XX escapes
    TargetDecoder,  # a request line's or HTTP/2 :path's target: each query value, the long path segments joined
    ProtobufDecoder,  # parses to the last byte with valid wire types
    TarDecoder,  # "ustar" at 257, or a valid v7 header checksum
    PdfDecoder,  # "%PDF-" in the first KiB: its Flate streams
    PngDecoder,  # the PNG signature: image data inflated, compressed text chunks
    TiffDecoder,  # "II*\0" / "MM\0*": each image's strips or tiles (none, LZW, Deflate, PackBits), predictor undone
    BmpDecoder,  # "BM" and a header of a known size: the pixels' rows from the top, without their padding
    GifDecoder,  # "GIF87a" / "GIF89a": each image's pixels (LZW), comments
    ParquetDecoder,  # "PAR1": each column's pages decompressed (snappy, LZ4, gzip, zstd, brotli)
    AvroDecoder,  # "Obj" 1: every block's records decompressed (deflate, snappy, zstandard, bzip2, xz)
    OrcDecoder,  # "ORC": every compressed chunk decoded (zlib, snappy, LZ4, zstd)
    CabDecoder,  # "MSCF": every file of the MSZIP and stored folders (LZX, Quantum: said not read)
    SevenZipDecoder,  # "7z" signature: every file of the LZMA(2), PPMd, Deflate(64), BZip2, stored folders
    CramDecoder,  # "CRAM" 2-3: each series' blocks (raw, gzip, bzip2, xz, rANS 4x8 and Nx16) joined
    BcfDecoder,  # "BCF" 2: each record's position and alleles as a text line
    YencDecoder,  # "=ybegin" lines, then yEnc lines (each byte plus 42, four escaped) to "=yend"
    ZipDecoder,  # "PK\3\4", at the start or inside other bytes
    GzipDecoder,  # 1f 8b 08, at the start or inside other bytes; multi-member, BGZF
    ZstdDecoder,  # 28 b5 2f fd (+ skippable frames), at the start or inside other bytes
    XzDecoder,  # fd 37 7a 58 5a 00 at the start or inside other bytes, or an LZMA-alone header
    Bz2Decoder,  # "BZh" 1-9 + block magic, at the start or inside other bytes
    Lz4Decoder,  # 04 22 4d 18 (+ skippable frames), at the start or inside other bytes
    SnappyDecoder,  # "sNaPpY" or xerial framing, at the start or inside other bytes; a raw block at the start
    LzwDecoder,  # 1f 9d + a header byte (compress), at the start or inside other bytes
    LzipDecoder,  # "LZIP" 1 + a dictionary size, at the start or inside other bytes; members in a row
    ZlibDecoder,  # 78 xx header check
    UnreadableDecoder,  # RAR (also inside other bytes), lzop, ARJ, LHA, ACE, WIM: said not read, no view
    Utf16Decoder,  # a fifth of the bytes zero: runs of ASCII characters in UTF-16 (LE or BE), a byte each
    QuotedPrintableDecoder,  # =XX and soft line breaks, lines <= 76
    UuDecoder,  # "begin <mode> <name>" lines, then uuencoded lines to "end"
    HexdumpDecoder,  # xxd / hexdump -C / hexdump / od lines: offset, hex bytes, ASCII column
    Base32Decoder,  # whole view of A-Z2-7, base32hex, Crockford's or z-base-32
    Base58Decoder,  # whole view of base58 tokens (Bitcoin's alphabet), each a big number
    Base62Decoder,  # whole view of base62 tokens (both cases, a digit, one of 0OIl), each a big number, both orders
    Base36Decoder,  # whole view of base36 tokens (one case, past hex's letters and base32's digits), each a big number
    Base85Decoder,  # whole view of Ascii85, RFC 1924 or Z85; Adobe's <~ ~> runs inside text
    Base91Decoder,  # whole view of basE91's 91 symbols (86 or more of them in its first KiB)
    Base45Decoder,  # whole view of base45 (RFC 9285: digits, capitals, space, $%*+-./:), evenly
    Base64Decoder,  # whole view, or runs inside text
    HexDecoder,  # whole view, or runs inside text
    AlphabetDecoder,  # whole view of 16, 32 or 64 symbols not a standard alphabet: read in their byte order
    NumbersDecoder,  # lists of 16 byte values or more: decimal, signed, 0x.., eight bits; inside text too
    EscapesDecoder,  # 16 byte escapes or more (\xHH, octal, \u00HH): the view with every escape undone
    EntitiesDecoder,  # 16 numeric character references or more (&#NNN; &#xHH;): the view with every reference undone
    BrotliDecoder,  # no magic: trial decode
    DeflateDecoder,  # no magic: trial inflate
    HeaderlessDecoder,  # no magic: xz, LZMA(2), bzip2, zstd, LZ4 with their magic or header cut, or raw: put back
    XorDecoder,  # bytes agreeing with themselves one key length on (2-4,096): the key undone, if text is left
    DisguisedDecoder,  # a stream's or archive's magic under a byte map, a short key, or reversal: undone
    PairsDecoder,  # bytes of sixteen values: each its two base-4 digits (bases two to a symbol)
    RunLengthDecoder,  # bases and digits: each count the length of a run of the base beside it
    LowBitsDecoder,  # text or a stream's magic in the low bits of bytes (an image's pixels): those bits
    TextBitsDecoder,  # prose whose letters' case, lines' trailing blanks or gaps' widths vary as bits do: those bits
    TransposedDecoder,  # bases alone, a column a line or flat: put back read by read (each read length that divides)
    StridedDecoder,  # text at some positions a stride of 2-8 apart, random filler at the others: the text
    CharactersDecoder,  # UTF-8 with a run of four multi-byte characters: one byte a character
    WordsDecoder,  # text with a run of four words: one byte a word
    CodesDecoder,  # text of few byte values in 16 codes or fewer (Morse, pairs of punctuation): one byte a code
]


def expand(data: bytes, chain: tuple[str, ...], limits: Limits = DEFAULT_LIMITS) -> Expansion:
    """Every decodable view of ``data``; the first view is ``data`` itself with ``chain``.

    Never raises on bad input and never exceeds ``limits``: what a limit cut off is in
    ``Expansion.limits`` (which limit, in which decoder, at which chain, how many bytes it left).
    """
    return run(DECODERS, data, chain, limits)


__all__ = ["DECODERS", "DEFAULT_LIMITS", "Budget", "Decoder", "Expansion", "LimitHit", "Limits", "expand"]

from dashboards.fmt import (
    PREVIEW_MAX_BYTES,
    clock,
    duration,
    hexdump,
    human_bytes,
    preview_bytes,
    short_clock,
)


def test_human_bytes_and_duration():
    assert human_bytes(0) == "0 B" and human_bytes(1536) == "1.5 KB" and human_bytes(3 * 1024**3) == "3.0 GB"
    assert human_bytes(None) == "-"
    assert duration(5) == "5s" and duration(65) == "1m 05s" and duration(3725) == "1h 02m 05s"
    assert duration(None) == "-" and duration(-1) == "-"


def test_clock_is_utc():
    assert clock(0) == "1970-01-01 00:00:00.000"
    assert clock(1_705_312_801.25) == "2024-01-15 10:00:01.250"
    assert short_clock(1_705_312_801.25) == "01-15 10:00:01"


def test_hexdump_shows_offsets_hex_and_printable_text():
    lines = hexdump(b"GET /x\r\n\x00\xff" + b"A" * 10, base=0x1000).splitlines()
    assert lines[0].startswith("00001000  47 45 54 20 2f 78 0d 0a 00 ff 41")
    assert lines[0].endswith("GET /x....AAAAAA")
    assert lines[1].startswith("00001010  41 41 41 41") and lines[1].endswith("AAAA")


def test_preview_is_capped_whatever_the_key():
    assert preview_bytes({"preview_hex": "41" * 500}) == b"A" * PREVIEW_MAX_BYTES
    assert preview_bytes({"hex": "4142 43"}) == b"ABC"
    assert preview_bytes({"preview": "x" * 500}) == b"x" * PREVIEW_MAX_BYTES
    assert preview_bytes({"preview_hex": "zz"}) == b"zz"  # not hex: shown as text, never an error
    assert preview_bytes({"offset": 3}) == b""

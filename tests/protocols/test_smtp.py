"""SMTP parser: DATA, BDAT, dot-unstuffing, STARTTLS; MIME parts through the one multipart
implementation the decoders share with HTTP uploads; smtplib -> aiosmtpd on lo."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path

import pytest

from sandbox.captures import open_capture
from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.decode import expand
from sandbox.model import FlowInfo, Observation, Payload
from sandbox.protocols import Dissector
from sandbox.protocols.context import FlowContext
from sandbox.protocols.smtp import SmtpParser, unstuff
from tests.loopback import record_lo
from tests.protocols.tls_pair import self_signed

CSV = b"Sample_ID,Sample_Name,Index\nS1,patient-0042,ACGTACGT\nS2,patient-0043,TTGGCCAA\n" * 30
VCF = "BEGIN:VCARD\r\nFN:Dr. Müller = lab lead\r\nEND:VCARD\r\n".encode()
TEXT = "Run finished.\n.hidden line that starts with a dot\nbye\n"


def message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "seq@lab.test", "vendor@vendor.test", "Run 230825_M04034"
    msg.set_content(TEXT)
    msg.add_attachment(CSV, maintype="text", subtype="csv", filename="samples.csv", cte="base64")
    msg.add_attachment(VCF, maintype="text", subtype="vcard", filename="x.vcf", cte="quoted-printable")
    return msg


def ctx() -> FlowContext:
    info = FlowInfo(flow="tcp s", channel="net", transport="tcp", src="10.0.0.2", sport=5000,
                    dst="10.0.0.25", dport=25)
    return FlowContext(flow="tcp s", info=info, shared={})


def run(conv: list[tuple[str, bytes]]) -> tuple[list, FlowContext]:
    c = ctx()
    p = SmtpParser(c)
    out: list = []
    for i, (d, data) in enumerate(conv):
        out += p.feed(d, data, float(i))
    return out + p.close(99.0), c


def by_label(items: list, label: str) -> list[Payload]:
    return [p for p in items if isinstance(p, Payload) and label in p.chain]


def check_parts(items: list, verb: str = "smtp DATA") -> None:
    """One Payload per message; its parts are read with the labels an HTTP upload's parts get."""
    (msg,) = [p for p in items if isinstance(p, Payload) and p.chain == ("tcp", verb)]
    assert b"Subject: Run 230825_M04034" in msg.data and msg.direction == "out"
    views = {v.chain: v.data for v in expand(msg.data, msg.chain).views}
    assert views[("tcp", verb, "multipart:file=samples.csv", "base64")] == CSV
    assert views[("tcp", verb, "multipart:file=x.vcf", "qp")] == VCF
    text = views[("tcp", verb, "multipart:part=1")]
    assert text.replace(b"\r\n", b"\n") == TEXT.encode()   # dot-stuffing undone


def test_unstuff() -> None:
    assert unstuff(b"..a\r\n..b\r\n.c\r\n") == b".a\r\n.b\r\n.c\r\n"


def test_a_plain_message_is_one_payload() -> None:
    client = b"HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: hi\r\n\r\nhello\r\n.\r\n"
    items, _ = run([("in", b"220 mx\r\n"), ("out", client), ("in", b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n")])
    assert [p.data for p in items if p.chain == ("tcp", "smtp DATA")] == [b"Subject: hi\r\n\r\nhello\r\n"]


def _stuffed(msg: EmailMessage) -> bytes:
    raw = msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return raw.replace(b"\r\n.", b"\r\n..")


def test_data_pipelined_and_split_anywhere() -> None:
    body = _stuffed(message())
    client = (b"EHLO sequencer.lab\r\nMAIL FROM:<seq@lab.test>\r\nRCPT TO:<vendor@vendor.test>\r\nDATA\r\n"
              + body + b"\r\n.\r\nQUIT\r\n")
    server = b"220 mx ESMTP\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n221 bye\r\n"
    items, c = run([("in", server[:14]), ("out", client), ("in", server[14:])])
    check_parts(items)
    assert [p.data for p in by_label(items, "smtp MAIL")] == [b"FROM:<seq@lab.test>"]
    assert [p.data for p in by_label(items, "smtp RCPT")] == [b"TO:<vendor@vendor.test>"]
    assert c.info.meta["smtp_helo"] == "sequencer.lab" and not c.info.errors
    whole = [(p.chain, p.data) for p in items]
    for cut in range(1, len(client), 97):     # the terminator and lines straddle feeds
        split, _ = run([("in", server[:14]), ("out", client[:cut]), ("out", client[cut:]), ("in", server[14:])])
        assert [(p.chain, p.data) for p in split] == whole, cut


def test_refused_data_and_pipelined_rcpt_failure() -> None:
    body = _stuffed(message()) + b"\r\n.\r\n"
    items, c = run([
        ("in", b"220 mx\r\n"), ("out", b"EHLO x\r\n"), ("in", b"250-mx\r\n250 PIPELINING\r\n"),
        ("out", b"MAIL FROM:<a@b>\r\nRCPT TO:<nobody@x>\r\nDATA\r\n"),
        ("in", b"250 ok\r\n550 no such user\r\n554 no valid recipients\r\n"),   # DATA refused
        ("out", b"RSET\r\n"), ("in", b"250 ok\r\n"),
        ("out", b"MAIL FROM:<a@b>\r\nRCPT TO:<bad@x>\r\nRCPT TO:<v@vendor.test>\r\nDATA\r\n"),
        ("in", b"250 ok\r\n550 no\r\n250 ok\r\n354 go\r\n"),   # one RCPT fails, DATA accepted
        ("out", body), ("in", b"250 queued\r\n")])
    check_parts(items)
    assert [p.data for p in by_label(items, "smtp RCPT")] == [b"TO:<nobody@x>", b"TO:<bad@x>", b"TO:<v@vendor.test>"]


def test_bdat_chunks() -> None:
    raw = message().as_bytes()
    a, b = raw[:1000], raw[1000:]
    client = (b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n" + b"BDAT %d\r\n" % len(a) + a
              + b"BDAT %d LAST\r\n" % len(b) + b + b"QUIT\r\n")
    items, c = run([("in", b"220 mx\r\n"), ("out", client)])
    check_parts(items, "smtp BDAT")
    assert c.info.meta["smtp_chunking"] is True


def test_auth_is_read_with_the_commands_and_garbage_is_total() -> None:
    items, c = run([("in", b"220 mx\r\n"), ("out", b"EHLO x\r\nAUTH LOGIN\r\n"), ("in", b"334 VXNlcm5hbWU6\r\n"),
                    ("out", b"c2VjcmV0dXNlcg==\r\n"), ("in", b"334 UGFzc3dvcmQ6\r\n"), ("out", b"aHVudGVyMg==\r\n"),
                    ("in", b"235 ok\r\n"), ("out", b"MAIL FROM:<a@b>\r\n" + b"\xff" * 70000)])
    # credentials only in the stream of command lines (the instrument's to fill: never a payload of their own)
    assert {p.chain[-1] for p in items if b"c2VjcmV0" in p.data} == {"smtp commands"}
    assert [p.data for p in by_label(items, "smtp MAIL")] == [b"FROM:<a@b>"]
    assert c.info.errors and sum(len(p.data) for p in by_label(items, "smtp commands")) >= 70000


def test_every_command_line_is_read():
    """Verbs nobody knows, NOOP's argument, AUTH's lines: the client's command lines go on as sent
    (``smtp commands``), a stream of their own, and their arguments a line each (``smtp arguments``)."""
    hidden = b"".join(b"XDATA %d 'reads line %d'\r\n" % (n, n) for n in range(200))
    long_auth = b"AUTH LOGIN\r\n" + b"".join(b"QUFBQUFBQUFBQUFB%04d\r\n" % n for n in range(600)) + b"*\r\n"
    items, _ = run([("in", b"220 mx\r\n"), ("out", b"EHLO x\r\n" + hidden + b"NOOP reads\r\n"),
                    ("out", long_auth), ("out", b"QUIT\r\n")])
    sent = b"".join(p.data for p in by_label(items, "smtp commands"))
    assert hidden in sent and b"NOOP reads\r\n" in sent and sent.endswith(b"QUIT\r\n")
    assert b"QUFBQUFBQUFBQUFB0599" in sent and b"QUFBQUFBQUFBQUFB0001" in sent
    args = b"".join(p.data for p in by_label(items, "smtp arguments"))
    assert b"".join(b"%d 'reads line %d'\n" % (n, n) for n in range(200)) in args


def test_written_pcap_through_the_dissector(tmp_path: Path) -> None:
    pcap = tmp_path / "smtp.pcap"
    with PcapWriter(pcap) as w:
        conv = TcpConversation(w, ("10.0.0.2", 40000), ("10.0.0.25", 25), t0=1.0)
        conv.send(b"220 mx.vendor.test ESMTP\r\n", from_client=False)
        conv.send(b"EHLO sequencer\r\nMAIL FROM:<seq@lab.test>\r\nRCPT TO:<v@vendor.test>\r\nDATA\r\n")
        conv.send(b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n", from_client=False)
        conv.send(_stuffed(message()) + b"\r\n.\r\n")
        conv.send(b"250 queued\r\n", from_client=False)
        conv.close()
    d = Dissector()
    items: list = []
    for seg in open_capture(pcap):
        items += d.feed(seg)
    items += d.close()
    check_parts(items)
    assert next(iter(d.flows.values())).app == "smtp"


# --------------------------------------------------------------------------- live: smtplib -> aiosmtpd


HOST = "127.0.25.25"   # a loopback address of our own: the capture filter sees only this test


def _tls_context(tmp: Path) -> ssl.SSLContext:
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(*self_signed(tmp, ["mx.vendor.test"]))
    return sctx


@pytest.mark.e2e
def test_live_smtplib_to_aiosmtpd(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    controller = Controller(Sink(), hostname=HOST, port=8025, tls_context=_tls_context(tmp_path),
                            require_starttls=False)
    controller.start()
    pcap = tmp_path / "smtp.pcapng"
    try:
        with record_lo(pcap, f"host {HOST} and tcp port 8025"):
            with smtplib.SMTP(HOST, 8025, timeout=10) as s:
                s.send_message(message())
            with smtplib.SMTP(HOST, 8025, timeout=10) as s:
                s.starttls(context=ssl._create_unverified_context())   # noqa: S323 (self-signed test cert)
                s.send_message(message())
    finally:
        controller.stop()
    d = Dissector()
    items: list = []
    for seg in open_capture(pcap):
        items += d.feed(seg)
    items += d.close()
    check_parts(items)                       # only the plain session's message is readable
    flows = sorted(d.flows.values(), key=lambda f: f.t_first)
    assert [f.app for f in flows] == ["smtp", "smtp"] and not any(f.errors for f in flows)
    assert flows[1].meta["smtp_starttls"] and flows[1].encrypted and not flows[0].encrypted
    (enc,) = [o for o in items if isinstance(o, Observation) and o.kind == "encrypted"]
    assert enc.flow == flows[1].flow and enc.chain == ("tcp", "smtp STARTTLS", "tls")
    assert enc.bytes_out > len(CSV)          # the encrypted message's volume is still counted

"""Protocols: TCP reassembly, the flow table (``Dissector``) and the app parser registry.

A new app parser is one module plus one line in a list below.  Order matters: the Dissector asks
each parser's ``detect`` in list order and takes the first that says yes; parsers with a
specific signature go before ones that guess from ports.

Stream (TCP) parser: ``detect(first_out, first_in, sport, dport) -> bool`` (out = instrument side,
``sport`` its port; ``ctx.opener`` says which side is the client), ``__init__(ctx)``,
``feed(direction, data, t)``, ``gap(direction, size)``, ``close(t)``.
Datagram (UDP) parser: ``detect(data, sport, dport) -> bool``, ``__init__(ctx)``,
``feed(direction, data, t)``, ``close(t)``.
Channel parsers (USB, serial: Segments that say their direction) are stream parsers listed per
channel in ``CHANNEL_PARSERS``; a channel not listed goes raw.
``detect`` is asked again as first bytes arrive (up to ``flows.DETECT_BYTES`` each way) until one
says yes or both sides have spoken; then a parser's optional ``ports`` ClassVar is a port hint;
else the raw parser takes the flow.  A parser that raises gets an error on its FlowInfo and the
raw parser takes over the rest of that flow.
"""

from __future__ import annotations

from sandbox.protocols.context import FlowContext, ParseError
from sandbox.protocols.dns import DnsParser, DnsTcpParser
from sandbox.protocols.ftp import FtpDataParser, FtpParser
from sandbox.protocols.http1 import Http1Parser
from sandbox.protocols.http2 import Http2Parser
from sandbox.protocols.serial import SerialLineParser
from sandbox.protocols.smtp import SmtpParser
from sandbox.protocols.tls import TlsParser
from sandbox.protocols.websocket import WebSocketParser

# Registry: one line per parser (helpers append here).
STREAM_PARSERS: list[type] = [
    FtpDataParser,  # a data connection an FTP control connection announced (PASV/PORT)
    TlsParser,  # handshake record header 16 03 0x
    Http2Parser,  # connection preface "PRI * HTTP/2.0"
    Http1Parser,  # request line or status line
    WebSocketParser,  # mid-stream only: whole masked client frames (after a missed handshake)
    DnsTcpParser,  # TCP 53 with a length-framed message
    SmtpParser,  # client EHLO/HELO/LHLO, or a 220 greeting on 25/465/587/2525
    FtpParser,  # client USER/AUTH/FEAT..., or a 220 greeting on 21
]
DATAGRAM_PARSERS: list[type] = [
    DnsParser,  # UDP 53/5353/5355 and a message that parses
]
CHANNEL_PARSERS: dict[str, list[type]] = {
    "serial": [SerialLineParser],  # the whole line: text raw, XMODEM/YMODEM/ZMODEM files decoded
}

from sandbox.protocols.flows import Dissector  # noqa: E402  (flows reads the lists above lazily)

__all__ = ["CHANNEL_PARSERS", "DATAGRAM_PARSERS", "STREAM_PARSERS", "Dissector", "FlowContext", "ParseError"]

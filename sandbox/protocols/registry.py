"""The app parser registry: a new app parser is one module plus one line in a list below.

Order matters: the Dissector asks each parser's ``detect`` in list order and takes the first
that says yes; parsers with a specific signature go before ones that guess from ports.  The
interfaces are ``context.StreamParser``, ``context.DatagramParser`` and ``context.ChannelParser``
(``tests/protocols/test_channel_parsers_conformance.py`` runs one suite on every channel parser).
The Dissector reads the lists when it is made, so a parser appended here (a plugin, a test) is
used by later ones.
"""

from __future__ import annotations

from sandbox.protocols.amqp import AmqpParser
from sandbox.protocols.amqp10 import Amqp10Parser
from sandbox.protocols.context import ChannelParser, DatagramParser, StreamParser
from sandbox.protocols.dns import DnsParser, DnsTcpParser
from sandbox.protocols.dtls import DtlsParser
from sandbox.protocols.ftp import FtpDataParser, FtpParser
from sandbox.protocols.http1 import Http1Parser
from sandbox.protocols.http2 import Http2Parser
from sandbox.protocols.mqtt import MqttParser
from sandbox.protocols.postgres import PostgresParser
from sandbox.protocols.quic import QuicParser
from sandbox.protocols.serial import SerialLineParser
from sandbox.protocols.smb import SmbParser
from sandbox.protocols.smtp import SmtpParser
from sandbox.protocols.ssh import SshParser
from sandbox.protocols.tftp import TftpParser
from sandbox.protocols.tls import TlsParser
from sandbox.protocols.usb import UsbDeviceParser
from sandbox.protocols.websocket import WebSocketParser
from sandbox.protocols.wireguard import WireGuardParser

STREAM_PARSERS: list[type[StreamParser]] = [
    FtpDataParser,  # a data connection an FTP control connection announced (PASV/PORT)
    TlsParser,  # handshake record header 16 03 0x
    SshParser,  # a version banner "SSH-2.0-" either way
    SmbParser,  # a session message holding an SMB 1/2/3 header (fe/ff/fd/fc "SMB")
    MqttParser,  # CONNECT with protocol name "MQTT" (3.1.1, 5) or "MQIsdp" (3.1), either way
    AmqpParser,  # the AMQP 0-9-1 protocol header "AMQP\0\0\x09\x01", either way
    Amqp10Parser,  # an AMQP 1.0 protocol header "AMQP" id 1.0.0 (plain, SASL; TLS read raw), either way
    PostgresParser,  # a startup packet (StartupMessage 3.0, SSLRequest, GSSENCRequest, CancelRequest)
    Http2Parser,  # connection preface "PRI * HTTP/2.0"
    Http1Parser,  # request line or status line
    WebSocketParser,  # mid-stream only: whole masked client frames (after a missed handshake)
    DnsTcpParser,  # TCP 53 with a length-framed message, or a whole ordinary one on any port
    SmtpParser,  # client EHLO/HELO/LHLO, or a 220 greeting on 25/465/587/2525
    FtpParser,  # client USER/AUTH/FEAT..., or a 220 greeting on 21
]
DATAGRAM_PARSERS: list[type[DatagramParser]] = [
    DnsParser,  # UDP 53/5353/5355 and a message that parses, or a strictly ordinary message on any port
    QuicParser,  # a long-header packet of a known version (an Initial first); 443/784/853/8443 as a hint
    DtlsParser,  # an epoch-0 handshake record of DTLS 1.0/1.2 holding a hello
    WireGuardParser,  # a handshake message of its exact size; transport data on 51820
    TftpParser,  # a read or write request (name, mode) on any port; a transfer's ACK of block 0 or first block
]
CHANNEL_PARSERS: dict[str, list[type[ChannelParser]]] = {
    "serial": [SerialLineParser],  # the whole line: text raw, XMODEM/YMODEM/ZMODEM files decoded
    "usb": [UsbDeviceParser],  # the whole device: descriptors, then class decoders (sandbox.protocols.usb.FUNCTIONS)
}

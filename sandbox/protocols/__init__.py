"""Protocols: TCP reassembly, the flow table (``Dissector``) and the app parsers.

The parsers are listed once, in ``registry`` (re-exported here: ``STREAM_PARSERS``,
``DATAGRAM_PARSERS``); what a parser must be is declared in ``context`` (``StreamParser``,
``DatagramParser``), with the ``FlowContext`` every parser is given.
Channel parsers (``ChannelParser``; USB, serial: Segments that say their direction) are listed per
channel in ``CHANNEL_PARSERS``; a channel not listed goes raw.
"""

from __future__ import annotations

from sandbox.protocols.context import ChannelParser, DatagramParser, FlowContext, ParseError, StreamParser
from sandbox.protocols.flows import Dissector
from sandbox.protocols.registry import CHANNEL_PARSERS, DATAGRAM_PARSERS, STREAM_PARSERS

__all__ = ["CHANNEL_PARSERS", "ChannelParser", "DATAGRAM_PARSERS", "STREAM_PARSERS", "DatagramParser", "Dissector", "FlowContext", "ParseError",
           "StreamParser"]

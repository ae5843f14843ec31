"""Every registered parser is what its interface (``context.StreamParser`` / ``DatagramParser``)
declares: the same methods with the same parameters, a name, and a static ``detect``."""

from __future__ import annotations

import inspect

import pytest

from sandbox.protocols import DATAGRAM_PARSERS, STREAM_PARSERS, DatagramParser, StreamParser
from sandbox.protocols.registry import DATAGRAM_PARSERS as REGISTERED_DATAGRAM
from sandbox.protocols.registry import STREAM_PARSERS as REGISTERED_STREAM
from tests.protocols.test_stream_parsers_conformance import make_ctx

METHODS = ("feed", "close", "gap")


def _params(fn: object) -> list[str]:
    return [p.name for p in inspect.signature(fn).parameters.values()]  # type: ignore[arg-type]


def _conforms(cls: type, interface: type) -> None:
    assert isinstance(cls.name, str) and cls.name  # type: ignore[attr-defined]
    assert isinstance(inspect.getattr_static(cls, "detect"), staticmethod)
    assert _params(cls.detect) == _params(interface.detect)  # type: ignore[attr-defined]
    for method in METHODS:
        if hasattr(interface, method):
            assert _params(getattr(cls, method)) == _params(getattr(interface, method)), (cls, method)
    init = [p for p in inspect.signature(cls.__init__).parameters.values() if p.default is inspect.Parameter.empty]
    assert [p.name for p in init] == ["self", "ctx"]  # extra parameters have defaults
    assert isinstance(cls(make_ctx()).close(1.0), list)


@pytest.mark.parametrize("cls", STREAM_PARSERS, ids=lambda c: c.name)
def test_stream_parsers_are_stream_parsers(cls):
    _conforms(cls, StreamParser)


@pytest.mark.parametrize("cls", DATAGRAM_PARSERS, ids=lambda c: c.name)
def test_datagram_parsers_are_datagram_parsers(cls):
    _conforms(cls, DatagramParser)


def test_the_package_lists_are_the_registry_lists():
    """A parser appended to ``sandbox.protocols.STREAM_PARSERS`` is in the registry the Dissector reads."""
    assert STREAM_PARSERS is REGISTERED_STREAM and DATAGRAM_PARSERS is REGISTERED_DATAGRAM

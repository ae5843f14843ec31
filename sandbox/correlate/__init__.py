"""Correlate decoded payload views with run indexes: byte fingerprints, DNA k-mers, identifiers,
plus what content cannot show (opaque volume, unlisted destinations, protocol observations)."""

from .allow import AllowList
from .correlator import Correlator

__all__ = ["AllowList", "Correlator"]

"""Instrument traffic sandbox: find run data that a sequencer sends out (sans-IO core)."""

__version__ = "0.1.0"

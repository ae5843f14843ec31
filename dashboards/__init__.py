"""The live dashboard: reads the SQLite store (never the taps) and shows verdict, findings, traffic."""

from dashboards.app import create_app, serve

__all__ = ["create_app", "serve"]

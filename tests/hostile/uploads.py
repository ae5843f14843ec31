"""Captures of one plain HTTP upload, written byte-exact by the project's capture writer."""

from __future__ import annotations

from pathlib import Path

from sandbox.captures.writer import PcapWriter, TcpConversation

ALLOWED = "192.0.2.9"  # the allowed LIMS the uploads go to


def http_upload(path: Path, body: bytes, target: bytes = b"/up", headers: bytes = b"") -> None:
    """A capture at ``path`` of ``body`` POSTed to ``target`` on the allowed LIMS (plain HTTP),
    with ``headers`` (CRLF-ended lines) besides Host and Content-Length."""
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 80), t0=1.0)
        c.send(b"POST %s HTTP/1.1\r\nHost: lims.lab.example\r\n%sContent-Length: %d\r\n\r\n%s"
               % (target, headers, len(body), body))
        c.close()

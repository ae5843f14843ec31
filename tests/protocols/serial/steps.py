"""Feeding a serial session decoder (a transfer or a link) the ways both conformance suites do."""

from __future__ import annotations


def fed_in_steps(cls: type, direction: str, data: bytes, step: int = 997) -> tuple[list, int]:
    """``data`` fed to a new ``cls`` session in ``step``-byte pieces until it is done, then closed:
    its events and how many bytes it took."""
    session, events, fed = cls("out"), [], 0
    for i in range(0, len(data), step):
        if session.done:
            break
        events += session.feed(direction, data[i:i + step])
        fed += len(data[i:i + step])
    if not session.done:
        events += session.close()
    return events, fed


def from_its_start(cls: type, chunks: list[tuple[str, bytes]], pauses: bool = False) -> list:
    """A session's chunks fed to ``cls`` from where its ``find`` says it starts in the sender's ("out")
    bytes, then closed; ``pauses``: the line goes quiet after every chunk (``idle``)."""
    start, _ = cls.find(b"".join(data for direction, data in chunks if direction == "out"))
    assert start >= 0, f"{cls.name}: no start found"
    session, events, seen = cls("out"), [], 0
    for direction, data in chunks:
        if direction == "out":
            skip = max(0, start - seen)
            seen += len(data)
            data = data[skip:]
        if data and not session.done:
            events += session.feed(direction, data)
            if pauses:
                events += session.idle()
    if not session.done:
        events += session.close()
    return events


def cut_after(chunks: list[tuple[str, bytes]], cut: int) -> list[tuple[str, bytes]]:
    """The session with the sender's ("out") bytes cut after ``cut`` (the receiver's kept as they were)."""
    kept, seen = [], 0
    for direction, data in chunks:
        if direction == "out":
            data, seen = data[:max(0, cut - seen)], seen + len(data)
        if data:
            kept.append((direction, data))
    return kept

"""Live taps: they talk to devices and processes, record first, and hand the core ``Source``s.

A tap never matches anything itself: the session follows what the tap recorded (``sandbox.session``),
so a live session and the replay of its recording see the same Segments.
"""

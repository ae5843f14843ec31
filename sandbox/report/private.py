"""One way to write what is derived from run data: private (0600) and atomic.

Reports name samples, destinations and run files: other users of the rig PC must not read them, and a
pipeline (or a dashboard) reading one while it is written must see the old file or the new, whole.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

PRIVATE_MODE = 0o600  # owner read/write only, whatever the umask


def write_private(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a private temporary file beside it, then rename it over."""
    with open_private(path) as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)


@contextlib.contextmanager
def open_private(path: str | Path) -> Iterator[BinaryIO]:
    """A private file to stream into; it replaces ``path`` whole when the block ends without error,
    and leaves nothing behind when it raises."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), PRIVATE_MODE)
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise

"""One store interface over two engines: SQLite (embedded, one session per file, the default) and
PostgreSQL (a lab's fleet of rigs in one database).  Same tables, same queries, same migrations;
what differs is in ``dialect``, and each engine's connection and locking in its own module.

``open_backend`` gives a writer its connection; ``open_source`` gives the dashboard and reports
read-only connections.  A target is a file path or a ``postgresql://`` URL.
"""

from __future__ import annotations

from pathlib import Path

from sandbox.stores.errors import StoreBusy, StoreError

URL_SCHEMES = ("postgresql://", "postgres://")

__all__ = ["StoreBusy", "StoreError", "display", "is_url", "open_backend", "open_source"]


def is_url(target: str | Path) -> bool:
    """A PostgreSQL URL (else a SQLite file path)."""
    return isinstance(target, str) and target.startswith(URL_SCHEMES)


def display(target: str | Path) -> str:
    """How messages and the dashboard name a store: a path, or a URL without its password."""
    if is_url(target):
        from sandbox.stores.postgres import display as pg_display

        return pg_display(str(target))
    return str(target)


def open_backend(target: str | Path, readonly: bool = False, fresh: bool = False):
    """A writer's (or, ``readonly``, a reader's) connection to the store at ``target``, migrated."""
    if is_url(target):
        from sandbox.stores.postgres import PostgresBackend

        return PostgresBackend(str(target), readonly=readonly, fresh=fresh)
    from sandbox.stores.sqlite import SqliteBackend

    return SqliteBackend(target, readonly=readonly, fresh=fresh)


def open_source(target: str | Path):
    """Read-only connections to the store at ``target`` (FileNotFoundError for a missing file,
    StoreError for a server that cannot be reached or a store too new for this sandbox)."""
    if is_url(target):
        from sandbox.stores.postgres import PostgresSource

        return PostgresSource(str(target))
    from sandbox.stores.sqlite import SqliteSource

    return SqliteSource(target)

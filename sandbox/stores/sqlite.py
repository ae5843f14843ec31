"""The embedded store: one SQLite file in WAL mode, one session per file.

The writer holds an exclusive lock on ``PATH.lock`` for its whole life (the OS drops it if the
process dies, so a killed session reads as interrupted, not live); readers never block it.
Everything is private (0600): the store names samples and destinations.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sandbox.stores import schema
from sandbox.stores.dialect import SQLITE
from sandbox.stores.errors import StoreBusy, StoreError

BUSY_TIMEOUT_S = 10  # a reader's checkpoint or a migrating dashboard holds the file this long at most
CACHE_KIB = 32 * 1024  # page cache per read connection: holds the hot part of a 100k-flow store
MMAP_BYTES = 256 << 20  # map the file: aggregate scans read shared OS pages instead of copying


def lock_path(path: str | Path) -> Path:
    return Path(f"{path}.lock")


def session_alive(path: str | Path) -> bool:
    """True while some session holds the store's writer lock (a live or running session)."""
    try:
        fd = os.open(lock_path(path), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)     # closing drops the probe's shared lock too
    return False


class SqliteBackend:
    """A writer (locked, migrated) or read-only connection to one SQLite store file."""

    dialect = SQLITE
    errors: tuple[type[BaseException], ...] = (sqlite3.Error, OSError)

    def __init__(self, path: str | Path, readonly: bool = False, fresh: bool = False):
        self.path = str(path)
        self.label = self.path
        self.target = self.path
        self._lock_fd: int | None = None
        if readonly:
            self.conn = sqlite3.connect(f"file:{Path(self.path).resolve()}?mode=ro", uri=True,
                                        check_same_thread=False, timeout=BUSY_TIMEOUT_S)
            return
        self._lock()
        try:
            if fresh:   # a file holds one session: a new one starts from nothing
                for stale in (self.path, f"{self.path}-wal", f"{self.path}-shm"):
                    Path(stale).unlink(missing_ok=True)
            # created private before SQLite opens it; SQLite gives -wal/-shm the same mode
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            os.chmod(self.path, 0o600)
            self.conn = sqlite3.connect(self.path, check_same_thread=False, timeout=BUSY_TIMEOUT_S,
                                        isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            migrate(self.conn)
        except (sqlite3.Error, OSError, ValueError) as exc:
            self._unlock()
            raise StoreError(f"cannot write store {self.path}: {exc}") from None
        except BaseException:
            self._unlock()
            raise

    # -- the writer's lock -------------------------------------------------------------------
    def _lock(self) -> None:
        fd = os.open(lock_path(self.path), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StoreBusy(f"store {self.path} is in use by another session (pid {owner}); "
                            "use another --db or wait for it to end") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd
        # a forked worker must not inherit the lock: if this process is killed, the store reads as
        # interrupted at once, whatever its workers do
        os.register_at_fork(after_in_child=self._drop_inherited_lock)

    def _drop_inherited_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)    # the child's copy only; flock is released by the last one
            self._lock_fd = None

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def claim(self, session_id: str) -> None:
        """The file lock taken at open already makes this the session's only writer."""

    def alive(self, session_id: str) -> bool:
        return session_alive(self.path)

    # -- statements ----------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def run(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        return self.conn.execute(sql, params).fetchall()

    def run_many(self, sql: str, rows: list) -> None:
        self.conn.executemany(sql, rows)

    def close(self) -> None:
        self.conn.close()
        self._unlock()


class _Migrating:
    """A connection as ``schema`` migrations see it."""

    dialect = SQLITE

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def run(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        return self.conn.execute(sql, params).fetchall()

    def tables(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def columns(self, table: str) -> set[str]:
        return {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}   # our table names only


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply the missing migrations, each in one transaction (BEGIN IMMEDIATE: one migrator at a
    time); returns the versions applied."""
    db = _Migrating(conn)
    done = []
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(schema.VERSION_TABLE.format(real="REAL"))
            steps = schema.pending({r[0] for r in conn.execute("SELECT version FROM schema_version")})
            if not steps:
                conn.execute("COMMIT")
                return done
            steps[0].apply(db)
            schema.record(db, steps[0])
            conn.execute("COMMIT")
            done.append(steps[0].version)
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def version(conn: sqlite3.Connection) -> int:
    """The store's schema version (0 before migrations or when empty)."""
    try:
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    except sqlite3.OperationalError:
        return 0
    return row[0] or 0


class SqliteSource:
    """Read-only connections for the dashboard and reports; an out-of-date store is migrated first
    when no session holds it (a store from before migrations, opened by the dashboard)."""

    dialect = SQLITE

    def __init__(self, path: str | Path):
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise FileNotFoundError(f"store {self.path} does not exist")
        self.label = str(self.path)
        self._uri = f"file:{self.path}?mode=ro"
        probe = sqlite3.connect(self._uri, uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            current = version(probe)
        finally:
            probe.close()
        if current > schema.LATEST:
            raise StoreError(f"store {self.path}: schema version {current} is newer than this sandbox's "
                             f"({schema.LATEST}): upgrade the sandbox")
        if current < schema.LATEST and not session_alive(self.path):
            try:
                SqliteBackend(self.path).close()     # takes the writer lock, migrates, lets go
            except StoreBusy:
                pass                                 # a session began meanwhile: it migrates

    def connect(self, make_row: Callable[[list[str], tuple], Any]) -> sqlite3.Connection:
        db = sqlite3.connect(self._uri, uri=True, check_same_thread=False, timeout=BUSY_TIMEOUT_S)
        db.row_factory = lambda cursor, row: make_row([d[0] for d in cursor.description], row)
        db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        db.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        return db

    @staticmethod
    def missing_table(exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and "no such table" in str(exc)

    def alive(self, session_ids: list[str]) -> set[str]:
        """Which of these sessions a writer holds now (a file has one writer, its session)."""
        return set(session_ids) if session_alive(self.path) else set()

    def writers(self) -> str:
        """A token that changes when the file's writer comes or goes (a killed one commits nothing)."""
        return "1" if session_alive(self.path) else "0"

    def close(self) -> None:
        pass

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)

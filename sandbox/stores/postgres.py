"""A lab's store: one PostgreSQL database holds every rig's sessions (``--db postgresql://...``).

The tables live in their own schema (``sandbox``), so a database shared with other tools keeps
its own tables.  One writer per session: the writer holds a session-level advisory lock keyed by
its session id for its whole life; the server drops it when the writer's connection ends (process
killed, host gone once TCP notices), so a session that is neither finished nor locked reads as
interrupted.  psycopg is an optional dependency (``pip install instrument-traffic-sandbox[fleet]``):
the embedded SQLite store never imports this module.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sandbox.stores import schema
from sandbox.stores.dialect import POSTGRES
from sandbox.stores.errors import StoreBusy, StoreError

try:
    import psycopg
    from psycopg import conninfo, errors
except ImportError:     # the fleet extra is not installed: say so when a URL is given
    psycopg = None

SCHEMA = "sandbox"  # the schema our tables live in
CONNECT_TIMEOUT_S = 10  # a server that does not answer in this long is down, not slow
# TCP keepalives the server uses on a writer's connection: idle 10 s, then 4 probes 5 s apart.
KEEPALIVES = {"tcp_keepalives_idle": 10, "tcp_keepalives_interval": 5, "tcp_keepalives_count": 4}
KEEPALIVE_S = 30  # = idle + interval x count: a vanished writer's session reads as interrupted by then
# Key of the advisory lock that makes one migrator at a time (any 64-bit number nobody else uses).
MIGRATION_LOCK = int.from_bytes(hashlib.blake2b(b"sandbox.stores.migrate", digest_size=8).digest(), "big", signed=True)


def _require() -> None:
    if psycopg is None:
        raise StoreError("a postgresql:// store needs psycopg: pip install 'instrument-traffic-sandbox[fleet]'")


def display(url: str) -> str:
    """The URL as messages and the dashboard show it: no password, no other parameters."""
    try:
        info = conninfo.conninfo_to_dict(url) if psycopg is not None else {}
    except psycopg.ProgrammingError:
        return "postgresql://?"
    user = f"{info['user']}@" if info.get("user") else ""
    port = f":{info['port']}" if info.get("port") else ""
    return f"postgresql://{user}{info.get('host', '')}{port}/{info.get('dbname', '')}"


def session_lock_key(session_id: str) -> int:
    """The 64-bit advisory lock key of a session."""
    return int.from_bytes(hashlib.blake2b(f"sandbox.session:{session_id}".encode(), digest_size=8).digest(),
                          "big", signed=True)


def _connect(url: str, readonly: bool) -> Any:
    _require()
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                               application_name="sandbox-dash" if readonly else "sandbox")
    except psycopg.Error as exc:
        raise StoreError(f"cannot open store {display(url)}: {str(exc).strip().splitlines()[0]}") from None
    conn.execute(f"SET search_path TO {SCHEMA}")
    if readonly:
        conn.execute("SET default_transaction_read_only = on")
    else:
        # the server probes a writer's connection, so a rig that loses power or network lets go of
        # its session's lock (and reads as interrupted) within about KEEPALIVE_S, not hours
        for name, value in KEEPALIVES.items():
            conn.execute(f"SET {name} = {value}")
    return conn


class PostgresBackend:
    """The writer's connection to a PostgreSQL store (migrated on open)."""

    dialect = POSTGRES

    def __init__(self, url: str, readonly: bool = False, fresh: bool = False):
        self.url = url
        self.label = display(url)
        self.path = self.label        # what messages name (never the password)
        self.target = url
        self.errors = (psycopg.Error, OSError) if psycopg is not None else (OSError,)
        self.conn = _connect(url, readonly)
        if not readonly:
            try:
                migrate(self.conn)
            except (psycopg.Error, ValueError) as exc:
                self.conn.close()
                raise StoreError(f"cannot write store {self.label}: {exc}") from None
            # a forked worker (the analyzer) must not keep the server connection open: if this
            # process is killed, its session's lock goes at once, whatever the worker does
            os.register_at_fork(after_in_child=self._drop_inherited_socket)

    def _drop_inherited_socket(self) -> None:
        try:
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, self.conn.fileno())   # the number stays taken; the socket is the parent's alone
            os.close(null)
        except (OSError, psycopg.Error):
            pass

    def claim(self, session_id: str) -> None:
        """Take the session's advisory lock: one writer per session."""
        got = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (session_lock_key(session_id),)).fetchone()[0]
        if not got:
            raise StoreBusy(f"session {session_id} in store {self.label} is in use by another writer")

    def alive(self, session_id: str) -> bool:
        return bool(_alive(self.conn, [session_id]))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.conn.transaction():
            yield

    def run(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        cur = self.conn.execute(self.dialect.sql(sql), params)
        return cur.fetchall() if cur.description else []

    def run_many(self, sql: str, rows: list) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(self.dialect.sql(sql), rows)

    def close(self) -> None:
        self.conn.close()       # ends the session on the server: its advisory lock goes with it


def _held(conn: Any) -> set[int]:
    """The 64-bit advisory lock keys some connection to this database holds (pg_locks shows a key as
    classid = high half, objid = low half, objsubid = 1): one query for all."""
    rows = conn.execute(
        "SELECT classid::bigint, objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    ).fetchall()
    return {(hi << 32) | lo for hi, lo in rows}


def _alive(conn: Any, session_ids: list[str]) -> set[str]:
    """The sessions some connection to this database holds the writer lock of."""
    held = _held(conn)
    return {s for s in session_ids if session_lock_key(s) & 0xFFFF_FFFF_FFFF_FFFF in held}


class _Migrating:
    dialect = POSTGRES

    def __init__(self, conn: Any):
        self.conn = conn

    def run(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        cur = self.conn.execute(POSTGRES.sql(sql), params)
        return cur.fetchall() if cur.description else []

    def tables(self) -> set[str]:
        rows = self.conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (SCHEMA,)).fetchall()
        return {r[0] for r in rows}

    def columns(self, table: str) -> set[str]:
        rows = self.conn.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                                 "AND table_name = %s", (SCHEMA, table)).fetchall()
        return {r[0] for r in rows}


def migrate(conn: Any) -> list[int]:
    """Apply the missing migrations, each in one transaction under a transaction-level advisory
    lock (rigs starting together migrate one after the other); returns the versions applied."""
    db = _Migrating(conn)
    done = []
    while True:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            conn.execute(schema.VERSION_TABLE.format(real="DOUBLE PRECISION"))
            steps = schema.pending({r[0] for r in conn.execute("SELECT version FROM schema_version")})
            if not steps:
                return done
            steps[0].apply(db)
            schema.record(db, steps[0])
        done.append(steps[0].version)


def version(conn: Any) -> int:
    try:
        with conn.transaction():
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    except errors.UndefinedTable:
        return 0
    return row[0] or 0


def _plain(value: Any) -> Any:
    """PostgreSQL sums integers as numeric: back to int (or float) as SQLite gives them."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class PostgresSource:
    """Read-only connections for the dashboard and reports (``default_transaction_read_only``)."""

    dialect = POSTGRES

    def __init__(self, url: str):
        _require()
        self.url = url
        self.label = display(url)
        probe = _connect(url, readonly=False)
        try:
            current = version(probe)
            if current > schema.LATEST:
                raise StoreError(f"store {self.label}: schema version {current} is newer than this "
                                 f"sandbox's ({schema.LATEST}): upgrade the sandbox")
            if current < schema.LATEST:
                try:
                    migrate(probe)   # an empty or older database: the dashboard may be the first to open it
                except psycopg.Error as exc:
                    raise StoreError(f"store {self.label} is at schema version {current} and cannot be "
                                     f"migrated from here: {exc}") from None
        finally:
            probe.close()
        self._alive_conn = None

    def connect(self, make_row: Callable[[list[str], tuple], Any]) -> Any:
        conn = _connect(self.url, readonly=True)

        def factory(cursor: Any) -> Callable[[tuple], Any]:
            names = [d.name for d in cursor.description or ()]
            return lambda values: make_row(names, tuple(_plain(v) for v in values))

        conn.row_factory = factory
        return conn

    @staticmethod
    def missing_table(exc: BaseException) -> bool:
        return psycopg is not None and isinstance(exc, errors.UndefinedTable)

    def alive(self, session_ids: list[str]) -> set[str]:
        """Which of these sessions a writer holds now."""
        return _alive(self._locks(), session_ids)

    def writers(self) -> str:
        """A token that changes when a session's writer comes or goes (a killed rig commits nothing:
        its lock going is all that changes)."""
        keys = ",".join(map(str, sorted(_held(self._locks()))))
        return hashlib.blake2b(keys.encode(), digest_size=8).hexdigest()

    def _locks(self) -> Any:
        """The connection that reads pg_locks (its own: the pool's serve queries)."""
        if self._alive_conn is None or self._alive_conn.closed:
            self._alive_conn = _connect(self.url, readonly=True)
        return self._alive_conn

    def close(self) -> None:
        if self._alive_conn is not None:
            self._alive_conn.close()

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        return (psycopg.Error,)

"""The store's tables, as data, and the ordered migrations that bring any store up to date.

Both engines get the same tables from the same description (types mapped by the dialect).  Every
row carries its ``session_id``: a PostgreSQL database holds a lab's sessions, a SQLite file one;
the single-session view is a filter on it.

``schema_version`` has one row per migration applied.  A migration is a step with a number, a
description and the statements it runs; ``migrate`` applies the missing ones in order, each in
one transaction with its version row, so a store is never half-migrated.  A new column or index
is a new step appended to ``MIGRATIONS``, never an edit of an applied one.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.stores.dialect import Dialect


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]     # (name, "text" | "int" | "real")
    key: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [c for c, _ in self.columns]

    def upsert(self, add: tuple[str, ...] = ()) -> str:
        """Insert a row, or update the one with its key: columns in ``add`` are summed, the rest replaced."""
        rest = [c for c in self.names if c not in self.key]
        sets = ", ".join(f"{c} = {self.name}.{c} + excluded.{c}" if c in add else f"{c} = excluded.{c}" for c in rest)
        return (f"INSERT INTO {self.name} ({', '.join(self.names)}) VALUES ({', '.join('?' * len(self.names))}) "
                f"ON CONFLICT ({', '.join(self.key)}) DO UPDATE SET {sets}")

    def create(self, d: Dialect) -> str:
        cols = ", ".join(f"{name} {d.types[kind]}" + (" NOT NULL" if name in self.key else "")
                         for name, kind in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {self.name} ({cols}, PRIMARY KEY ({', '.join(self.key)}))"


def _cols(spec: str) -> tuple[tuple[str, str], ...]:
    """``"name:type name:type"`` -> columns (types default to text)."""
    out = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        out.append((name, kind or "text"))
    return tuple(out)


SESSIONS = Table("sessions", _cols("session_id rig instrument created:real changes:int"), ("session_id",))
SESSION = Table("session", _cols("session_id key value"), ("session_id", "key"))
RUNS = Table("runs", _cols("session_id run_id path platform samples files:int bytes:int"), ("session_id", "path"))
CAPTURES = Table("captures", _cols("session_id path channel packets:int bytes:int drops:int errors"),
                 ("session_id", "path"))
FLOWS = Table("flows", _cols(
    "session_id flow channel transport src sport:int dst dport:int app destination t_first:real t_last:real "
    "packets:int bytes_out:int bytes_in:int encrypted:int decrypted:int allowed:int meta errors"),
    ("session_id", "flow"))
FINDINGS = Table("findings", _cols(
    "session_id id severity severity_rank:int kind channel flow destination t_first:real t_last:real "
    "bytes_out:int bytes_matched:int run_id samples files chain identifiers evidence detail updated:real "
    "evidence_kinds"),
    ("session_id", "id"))
TRAFFIC = Table("traffic", _cols("session_id t_bucket:real channel destination bytes_out:int"),
                ("session_id", "t_bucket", "channel", "destination"))
LOCATIONS = Table("locations", _cols("session_id flow capture frame:int byte_offset:int byte_length:int"),
                  ("session_id", "flow"))
TABLES = (SESSIONS, SESSION, RUNS, CAPTURES, FLOWS, FINDINGS, TRAFFIC)
VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied {real}, description TEXT)"
# Tables of the store before schema_version (one session per SQLite file, no session ids).
LEGACY_TABLES = ("session", "runs", "captures", "flows", "findings", "traffic")


class Connection:
    """What a migration needs of a backend: run statements and read rows inside its transaction."""

    dialect: Dialect

    def run(self, sql: str, params: tuple | list = ()) -> list[tuple]: ...

    def tables(self) -> set[str]: ...

    def columns(self, table: str) -> set[str]: ...


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]
    notes: list[str] = field(default_factory=list)


def _create_tables(db: Connection) -> None:
    legacy = {t for t in LEGACY_TABLES if t in db.tables()} if db.dialect.name == "sqlite" else set()
    for name in legacy:            # a store from before migrations: its one session moves in below
        db.run(f"ALTER TABLE {name} RENAME TO legacy_{name}")
    for table in TABLES:
        db.run(table.create(db.dialect))
    if legacy:
        _import_legacy(db, legacy)


def _import_legacy(db: Connection, legacy: set[str]) -> None:
    """The one session of a pre-migration SQLite store, given a session id; its tables dropped."""
    session_id = uuid.uuid4().hex
    created = time.time()
    if "session" in legacy:
        rows = db.run("SELECT value FROM legacy_session WHERE key = 'started'")
        if rows and rows[0][0]:
            try:
                created = float(json.loads(rows[0][0]))
            except (TypeError, ValueError):
                pass
    db.run("INSERT INTO sessions (session_id, rig, instrument, created, changes) VALUES (?, '', '', ?, 0)",
           (session_id, created))
    for table in TABLES[1:]:
        if table.name in legacy:
            columns = [c for c in table.names if c != "session_id"]
            present = {r[1] for r in db.run(f"PRAGMA table_info(legacy_{table.name})")}
            shared = [c for c in columns if c in present]
            db.run(f"INSERT INTO {table.name} (session_id, {', '.join(shared)}) "
                   f"SELECT ?, {', '.join(shared)} FROM legacy_{table.name}", (session_id,))
            db.run(f"DROP TABLE legacy_{table.name}")


def _fleet_indexes(db: Connection) -> None:
    for sql in (
        "CREATE INDEX IF NOT EXISTS sessions_rig ON sessions (rig, instrument)",
        "CREATE INDEX IF NOT EXISTS flows_dest ON flows (session_id, destination)",
        "CREATE INDEX IF NOT EXISTS findings_rank ON findings (session_id, severity_rank)",
        "CREATE INDEX IF NOT EXISTS findings_updated ON findings (updated)",
    ):
        db.run(sql)


def _locations(db: Connection) -> None:
    db.run(LOCATIONS.create(db.dialect))


def _evidence_kinds(db: Connection) -> None:
    if "evidence_kinds" not in db.columns("findings"):    # a store made since has it from step 1
        db.run("ALTER TABLE findings ADD COLUMN evidence_kinds " + db.dialect.types["text"])


MIGRATIONS = (
    Migration(1, "tables with a session id on every row (a pre-migration store's session moves in)",
              _create_tables),
    Migration(2, "indexes for the fleet view: sessions by rig, findings by severity and recency",
              _fleet_indexes),
    Migration(3, "where each flow's first outbound frame is in the recordings (reports point at it)", _locations),
    Migration(4, "each finding's evidence kinds (byte, sequence, identifier evidence inside one finding)",
              _evidence_kinds),
)
LATEST = MIGRATIONS[-1].version


def pending(applied: set[int]) -> list[Migration]:
    """The migrations a store with ``applied`` versions still needs, in order.

    Raises ``ValueError`` for a store made by a newer sandbox (a version we do not know)."""
    unknown = sorted(v for v in applied if v > LATEST)
    if unknown:
        raise ValueError(f"schema version {unknown[-1]} is newer than this sandbox's ({LATEST}): upgrade the sandbox")
    return [m for m in MIGRATIONS if m.version not in applied]


def record(db: Connection, step: Migration) -> None:
    db.run("INSERT INTO schema_version (version, applied, description) VALUES (?, ?, ?)",
           (step.version, time.time(), step.description))

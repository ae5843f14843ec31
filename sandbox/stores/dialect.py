"""What differs between SQLite and PostgreSQL SQL, in one place: every query is written once, with
``?`` placeholders and these fragments, and runs on both engines.

JSON columns are TEXT on both engines (the same rows, byte for byte); PostgreSQL reads them
through ``::jsonb``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str
    types: dict[str, str]          # schema type ("text", "int", "real") -> the engine's column type

    def sql(self, text: str) -> str:
        """A query written with ``?`` placeholders, in this engine's parameter style."""
        if self.name == "sqlite":
            return text
        return text.replace("%", "%%").replace("?", "%s")

    # -- JSON held in TEXT columns ----------------------------------------------------------
    def json_len(self, column: str) -> str:
        """Length of a JSON array column."""
        if self.name == "sqlite":
            return f"json_array_length({column})"
        return f"jsonb_array_length({column}::jsonb)"

    def json_text(self, expr: str, key: str) -> str:
        """A JSON object's member ``key`` (``a.b`` for a nested one) as text; ``key`` is a constant of
        ours, never input."""
        if self.name == "sqlite":
            return f"json_extract({expr}, '$.{key}')"
        return f"(({expr})::jsonb #>> '{{{key.replace('.', ',')}}}')"

    def json_num(self, expr: str, key: str) -> str:
        """A JSON object's numeric member ``key`` (``a.b`` for a nested one)."""
        if self.name == "sqlite":
            return f"json_extract({expr}, '$.{key}')"
        return f"{self.json_text(expr, key)}::double precision"

    def json_int(self, expr: str, key: str) -> str:
        """A JSON object's integer member ``key`` (sums of it stay integers on either engine)."""
        if self.name == "sqlite":
            return f"json_extract({expr}, '$.{key}')"
        return f"{self.json_text(expr, key)}::bigint"

    def json_first(self, column: str) -> str:
        """The first element of a JSON array column, as text."""
        if self.name == "sqlite":
            return f"json_extract({column}, '$[0]')"
        return f"({column}::jsonb ->> 0)"

    def each(self, column: str, alias: str, objects: bool = False) -> str:
        """A FROM item with one row per element of a JSON array column, the element in ``alias.value``
        (text for strings; with ``objects`` the element itself, read with ``json_text``/``json_num``)."""
        if self.name == "sqlite":
            return f"json_each({column}) {alias}"
        fn = "jsonb_array_elements" if objects else "jsonb_array_elements_text"
        return f"{fn}({column}::jsonb) AS {alias}(value)"

    def element(self, alias: str) -> str:
        """The JSON element of an ``each(..., objects=True)`` row, for ``json_text``/``json_num``."""
        return f"{alias}.value"

    # -- aggregates and text -------------------------------------------------------------------
    def concat_distinct(self, expr: str) -> str:
        """Distinct values joined by commas."""
        if self.name == "sqlite":
            return f"group_concat(DISTINCT {expr})"
        return f"string_agg(DISTINCT ({expr})::text, ',')"

    def least(self, a: str, b: str) -> str:
        """The smaller of two values (SQLite's two-argument min)."""
        return f"min({a}, {b})" if self.name == "sqlite" else f"least({a}, {b})"

    @property
    def like(self) -> str:
        """Case-insensitive LIKE (SQLite's LIKE already is, for ASCII)."""
        return "LIKE" if self.name == "sqlite" else "ILIKE"


SQLITE = Dialect("sqlite", {"text": "TEXT", "int": "INTEGER", "real": "REAL"})
# REAL is single precision in PostgreSQL: capture times need double; counters need 64 bits.
POSTGRES = Dialect("postgres", {"text": "TEXT", "int": "BIGINT", "real": "DOUBLE PRECISION"})

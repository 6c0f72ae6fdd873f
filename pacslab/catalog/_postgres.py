"""A shared catalog: PostgreSQL, for several pacslab processes on one archive.

The schema is SQLite's (``_schema.sql``) translated by :class:`PostgresDialect`: headers are
``jsonb``, person names and descriptions use a case-insensitive ICU collation (SQLite's
``COLLATE NOCASE``), and the audit table is kept append-only by a PL/pgSQL trigger.

Concurrency: every write is one transaction; an instance is added with
``INSERT … ON CONFLICT DO NOTHING`` so that two receivers adding the same SOPInstanceUID
at once keep one row, and the counters of a series or study are recomputed with its row
locked (in UID order), so they stay right whatever the interleaving. A transaction that
PostgreSQL aborts as a deadlock victim is retried.
"""

from __future__ import annotations

import logging
import numbers
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pacslab.catalog._dialect import PostgresDialect, column_name
from pacslab.catalog._sql import SCHEMA_VERSION, SQLCatalog, schema_statements
from pacslab.errors import CatalogError

__all__ = ["PostgresCatalog", "is_postgres_url"]

logger = logging.getLogger(__name__)

#: Advisory lock key serialising schema changes (CREATE … IF NOT EXISTS races between processes).
_DDL_LOCK = 0x70616373  # "pacs"
_DDL = re.compile(r"\s*(CREATE|ALTER|DROP)\b", re.IGNORECASE)
_RETRIES = 8

#: Columns declared COLLATE NOCASE in _schema.sql (matched regardless of case).
_CASE_INSENSITIVE = (
    ("patients", "PatientName"),
    ("studies", "PatientName"),
    ("studies", "StudyDescription"),
    ("studies", "ReferringPhysicianName"),
    ("series", "SeriesDescription"),
)
_SCHEMA_EXTRA = (
    "CREATE OR REPLACE FUNCTION pacslab_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'the audit table is append-only'; END $$",
    "CREATE OR REPLACE TRIGGER audit_no_update BEFORE UPDATE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION pacslab_audit_append_only()",
    "CREATE OR REPLACE TRIGGER audit_no_delete BEFORE DELETE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION pacslab_audit_append_only()",
    "CREATE OR REPLACE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit "
    "FOR EACH STATEMENT EXECUTE FUNCTION pacslab_audit_append_only()",
    "ALTER TABLE instances ADD COLUMN IF NOT EXISTS pixel_ref TEXT",
    # Case-insensitive wildcard matching (PatientName=doe*) compares lower(column) in the "C" collation
    # (PostgresDialect.condition): these indexes serve its prefix searches, as NOCASE indexes do in SQLite.
    *(
        f"CREATE INDEX IF NOT EXISTS ix_{table}_{column.lower()}_ci "
        f'ON {table} ((lower(CAST({column} AS TEXT)) COLLATE "C"))'
        for table, column in _CASE_INSENSITIVE
    ),
)
#: The newest schema object: its absence means an older schema whose DDL must be run again.
_NEWEST = "ix_series_seriesdescription_ci"

_LIVE: weakref.WeakSet[PostgresCatalog] = weakref.WeakSet()


def is_postgres_url(location: str) -> bool:
    """Whether a catalog location names a PostgreSQL database (``postgresql://…``)."""
    return location.startswith(("postgresql://", "postgres://"))


def _param(value: Any) -> Any:
    """Numbers go as untyped literals: PostgreSQL then reads them as the column's type, as SQLite does."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, numbers.Number):
        return str(value)
    return value


def _params(params: Sequence[Any] | None) -> tuple[Any, ...]:
    return tuple(_param(v) for v in params or ())


class _Row(tuple):  # type: ignore[type-arg]
    """A result row, indexable by position and by column name (like ``sqlite3.Row``)."""

    _index: dict[str, int]

    def keys(self) -> list[str]:
        """The column names."""
        return list(self._index)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], _Row]:
    index = {column_name(c.name): i for i, c in enumerate(cursor.description or ())}

    def make(values: Sequence[Any]) -> _Row:
        row = _Row(values)
        row._index = index
        return row

    return make


class _Cursor:
    """A psycopg cursor that names its columns as the SQL spelled them."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    @property
    def description(self) -> Any:
        """Column descriptions, DB-API style."""
        if self._cursor.description is None:
            return None
        return [(column_name(c.name), *tuple(c)[1:]) for c in self._cursor.description]

    @property
    def rowcount(self) -> int:
        """Rows changed by the statement."""
        return int(self._cursor.rowcount)

    def fetchone(self) -> Any:
        """The next row (a :class:`_Row`), or None."""
        return self._cursor.fetchone()

    def fetchall(self) -> list[_Row]:
        """All remaining rows."""
        return self._cursor.fetchall()

    def __iter__(self) -> Iterator[_Row]:
        return iter(self._cursor.fetchall())


class _Connection:
    """What ``catalog.transaction()`` yields: ``execute``/``executemany`` with SQLite-style SQL."""

    def __init__(self, conn: Any, dialect: PostgresDialect) -> None:
        self._conn, self._dialect = conn, dialect

    def execute(self, sql: str, params: Sequence[Any] | None = ()) -> _Cursor:
        """Run one statement (translated, ``?`` parameters)."""
        if _DDL.match(sql):
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
        cursor = self._conn.cursor(row_factory=_row_factory)
        cursor.execute(self._dialect.translate(sql), _params(params))
        return _Cursor(cursor)

    def executemany(self, sql: str, seq: Sequence[Sequence[Any]]) -> _Cursor:
        """Run one statement for each parameter tuple."""
        cursor = self._conn.cursor(row_factory=_row_factory)
        cursor.executemany(self._dialect.translate(sql), [_params(p) for p in seq])
        return _Cursor(cursor)


class PostgresCatalog(SQLCatalog):
    """The archive's index in a PostgreSQL database, shared by several processes.

    Parameters
    ----------
    url : str
        A libpq connection URL, ``postgresql://user@host:port/database`` (the database must
        exist; its tables are created on first use).
    """

    dialect = PostgresDialect()

    def __init__(self, url: str) -> None:
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise CatalogError(
                f"The catalog {url!r} is a PostgreSQL database, which needs psycopg: pip install 'pacslab[postgres]'."
            ) from exc
        self.url = self.path = url
        self._lock = threading.RLock()
        self._conn: Any = None
        self._pid = os.getpid()
        for statement in schema_statements():  # column names as spelled, for rows of SELECT * (see column_name)
            self.dialect.translate(statement)
        with self.transaction() as db:
            self._create_schema(db)

    def _connect(self) -> Any:
        import psycopg
        from psycopg.types.string import TextLoader

        try:
            conn = psycopg.connect(self.url, autocommit=True, application_name="pacslab")
        except psycopg.OperationalError as exc:
            raise CatalogError(
                f"Cannot connect to the PostgreSQL catalog {_safe(self.url)!r}: {exc}".rstrip()
                + " Check the catalog URL in the archive's pacslab.yaml and that the server runs."
            ) from exc
        # Headers and other JSON come back as the text SQLite gives, not parsed.
        conn.adapters.register_loader("jsonb", TextLoader)
        conn.adapters.register_loader("json", TextLoader)
        return conn

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed or self._pid != os.getpid():
            self._pid = os.getpid()
            self._conn = self._connect()
            _LIVE.add(self)
        return self._conn

    def _create_schema(self, db: _Connection) -> None:
        (current,) = db.execute(
            "SELECT to_regclass('volume_builds') IS NOT NULL AND to_regclass(?) IS NOT NULL "
            "AND to_regclass('ix_series_study_modality') IS NOT NULL "
            "AND EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'audit_no_truncate')",
            (_NEWEST,),
        ).fetchone()
        if current:  # made by an earlier open: no DDL (it would lock the tables other processes use)
            return
        db.execute(
            "CREATE COLLATION IF NOT EXISTS pacslab_nocase "
            "(provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
        )
        for statement in schema_statements():
            if re.match(r"CREATE\s+TRIGGER", statement, re.IGNORECASE):
                continue  # SQLite's triggers; PL/pgSQL ones below
            if re.match(r"CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+(instances|conflicts)\b", statement):
                statement = re.sub(r"\bheader TEXT\b", "header JSONB", statement)
            db.execute(statement)
        for statement in _SCHEMA_EXTRA:
            db.execute(statement)
        db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,))

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            _LIVE.discard(self)

    @contextmanager
    def transaction(self) -> Iterator[_Connection]:
        """Run statements in one transaction (all or nothing)."""
        with self._lock:
            conn = self._connection()
            with conn.transaction():
                yield _Connection(conn, self.dialect)

    def _write(self, work: Callable[[Any], Any]) -> Any:
        """Run *work(db)* in a transaction, again when PostgreSQL chose it as a deadlock victim."""
        from psycopg import errors

        for attempt in range(_RETRIES):
            try:
                with self.transaction() as db:
                    return work(db)
            except (errors.DeadlockDetected, errors.SerializationFailure):
                if attempt == _RETRIES - 1:
                    raise
                logger.info("catalog transaction retried after a deadlock (attempt %d)", attempt + 1)
                time.sleep(0.02 * (attempt + 1))
        raise AssertionError("unreachable")

    def _lock_row(self, db: Any, table: str, column: str, value: str) -> None:
        """Lock one row until commit: counters are then computed from everything committed before."""
        db.execute(f"SELECT 1 FROM {table} WHERE {column} = ? FOR UPDATE", (value,))

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> _Cursor:
        return _Connection(self._connection(), self.dialect).execute(sql, params)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[_Row]:
        with self._lock:
            return self._execute(sql, params).fetchall()


def _safe(url: str) -> str:
    """*url* without its password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _after_fork_in_child() -> None:
    """A forked child must not talk over (or close) its parent's connections: point them at /dev/null."""
    for catalog in list(_LIVE):
        conn = catalog._conn
        if conn is None or conn.closed:
            continue
        try:
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, conn.fileno())
            os.close(null)
        except OSError:
            pass
        catalog._conn = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

"""The default catalog: SQLite, embedded, in WAL mode.

Only the connection is here: the queries and bookkeeping are in :mod:`pacslab.catalog._sql`,
shared with the PostgreSQL backend (:mod:`pacslab.catalog._postgres`); SQL that differs between
the two goes through :mod:`pacslab.catalog._dialect`.
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pacslab.catalog._matching import Condition, MatchKind, keyword_vr
from pacslab.catalog._sql import SCHEMA_VERSION, SQLCatalog, json_value

__all__ = ["SQLiteCatalog", "json_value"]

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=256)
def _condition_from_json(text: str) -> Condition:
    keyword, kind, values = json.loads(text)
    return Condition(keyword, keyword_vr(keyword), MatchKind(kind), tuple(values))


def _sql_match(value_json: str | None, condition_json: str) -> int:
    """SQLite function: does a DICOM JSON ``Value`` array satisfy a condition."""
    if value_json is None:
        return 0
    condition = _condition_from_json(condition_json)
    try:
        values = json.loads(value_json)
    except (TypeError, ValueError):
        values = [value_json]
    if not isinstance(values, list):
        values = [values]
    return int(condition.matches(values))


class SQLiteCatalog(SQLCatalog):
    """The archive's index, in one SQLite database.

    Parameters
    ----------
    path : str or Path
        The database file, or ``":memory:"`` with *name* for a shared in-memory catalog.
    name : str, optional
        Name of the in-memory database (archives on ``memory://`` roots).
    """

    def __init__(self, path: str | Path, *, name: str | None = None) -> None:
        if str(path) == ":memory:":
            uri = f"file:pacslab-{name or id(self)}?mode=memory&cache=shared"
            self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        else:
            self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=60)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self.path = str(path)
        # closed when the catalog is collected, or at exit (a command line ending without teardown included)
        weakref.finalize(self, self._conn.close)
        self._conn.execute("PRAGMA busy_timeout=60000")
        self._conn.execute("PRAGMA foreign_keys=OFF")
        self._conn.create_function("pacslab_match", 2, _sql_match, deterministic=True)
        self._lock = threading.RLock()
        with self._lock:
            self._conn.executescript((Path(__file__).parent / "_schema.sql").read_text())
            self._conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (SCHEMA_VERSION,),
            )
            columns = {r[1] for r in self._conn.execute("PRAGMA table_info(instances)")}
            if "pixel_ref" not in columns:  # catalogs made before pixel data moved into volumes
                self._conn.execute("ALTER TABLE instances ADD COLUMN pixel_ref TEXT")

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run statements in one write transaction (all or nothing)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cur = self._conn.execute(sql, params)
            cur.row_factory = sqlite3.Row
            return cur.fetchall()

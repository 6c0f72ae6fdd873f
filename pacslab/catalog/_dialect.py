"""The SQL dialects of the catalog backends, in one place.

The catalog and the modules that keep their own tables in it (tokens, annotations,
measurements, de-identification maps) write SQLite-flavoured SQL with ``?`` parameters.
:class:`SQLiteDialect` runs it as it is; :class:`PostgresDialect` translates each statement
once (cached): ``?`` → ``%s``, ``INSERT OR IGNORE`` → ``ON CONFLICT DO NOTHING``, SQLite
column types and ``COLLATE NOCASE`` → PostgreSQL's, ``LIMIT -1`` → ``LIMIT ALL``, and
``ORDER BY`` terms get SQLite's NULL placement. What cannot be translated statement by
statement — DICOM matching on columns and on the stored JSON headers, string aggregation —
is asked of the dialect by the catalog.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from pacslab.catalog._matching import Condition, MatchKind, _tm_upper

__all__ = ["PostgresDialect", "SQLiteDialect", "column_name"]

#: PostgreSQL folds unquoted identifiers to lower case: the spelling each one was written with.
_NAMES: dict[str, str] = {}
#: Columns declared INTEGER (lower-cased), and the integer counts of the level views.
_INTEGERS: set[str] = {
    "numberofpatientrelatedstudies",
    "numberofpatientrelatedseries",
    "numberofpatientrelatedinstances",
}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LITERAL = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"")
_ORDER_BY = re.compile(r"\bORDER BY\s+([^()]*?)(?=\s+LIMIT\b|\s+OFFSET\b|\)|$)", re.IGNORECASE | re.DOTALL)


def column_name(name: str) -> str:
    """The spelling of a column name as the SQL wrote it (PostgreSQL reports it lower-cased)."""
    return _NAMES.get(name, name)


def _like_pattern(value: str) -> str:
    r"""A DICOM wildcard pattern (``*``, ``?``) as a LIKE pattern with ``\`` as escape."""
    return re.sub(r"([%_\\])", r"\\\1", value).replace("*", "%").replace("?", "_")


class SQLiteDialect:
    """SQLite: the SQL as written, and the ``pacslab_match`` function for header filters."""

    name = "sqlite"

    def translate(self, sql: str) -> str:
        """*sql* for this backend (unchanged)."""
        return sql

    def condition(self, condition: Condition, column: str) -> tuple[str, list[Any]]:
        """A filter on a column: SQL and parameters."""
        return condition.to_sql(column)

    def header_value(self, alias: str, tag: str) -> str:
        """The ``Value`` of attribute *tag* in the JSON header of table alias *alias* (JSON)."""
        return f"json_extract({alias}.header, '$.\"{tag}\".Value')"

    def header_match(self, alias: str, tag: str, condition: Condition) -> tuple[str, list[Any]]:
        """A filter on any attribute of the stored header: SQL and parameters."""
        payload = json.dumps([condition.keyword, condition.kind.value, list(condition.values)])
        return f"pacslab_match({self.header_value(alias, tag)}, ?)", [payload]

    def string_agg(self, expr: str, separator: str) -> str:
        """Concatenation of *expr* over a group, in order of *expr*."""
        return f"group_concat({expr}, {separator})"

    def glob(self, column: str, pattern: str) -> tuple[str, list[Any]]:
        """*column* matches a shell pattern (``*``, ``?``, ``[abc]``), case-sensitively: SQL and parameters."""
        return f"{column} GLOB ?", [pattern]

    #: A column that orders a table's rows as they were inserted, for tables without an id.
    rowid = "rowid"


class PostgresDialect:
    """PostgreSQL: translated statements, and DICOM matching in plain SQL (jsonb)."""

    name = "postgresql"

    def translate(self, sql: str) -> str:
        """*sql* (SQLite-flavoured, ``?`` parameters) as PostgreSQL with ``%s`` parameters."""
        return _translate_postgres(sql)

    def condition(self, condition: Condition, column: str) -> tuple[str, list[Any]]:
        """A filter on a column; wildcards become LIKE, person names match regardless of case."""
        kind = condition.kind
        if kind is MatchKind.UNIVERSAL:
            return "1=1", []
        if kind is not MatchKind.WILDCARD and column.rpartition(".")[2].lower() in _INTEGERS:
            return _integer_condition(condition, column)
        if kind in (MatchKind.LIST, MatchKind.RANGE):
            return condition.to_sql(column)
        (value,) = condition.values
        if kind is MatchKind.SINGLE:
            if condition.case_insensitive:
                return f"{column} = ? COLLATE pacslab_nocase", [value]
            return f"{column} = ?", [value]
        if condition.case_insensitive:  # lower() in "C": the _ci expression indexes serve prefix patterns
            return f"lower(CAST({column} AS TEXT)) COLLATE \"C\" LIKE ? ESCAPE '\\'", [_like_pattern(value).lower()]
        return f"CAST({column} AS TEXT) COLLATE \"C\" LIKE ? ESCAPE '\\'", [_like_pattern(value)]

    def header_value(self, alias: str, tag: str) -> str:
        """The ``Value`` of attribute *tag* in the jsonb header of table alias *alias*."""
        return f"({alias}.header -> '{tag}' -> 'Value')"

    def header_match(self, alias: str, tag: str, condition: Condition) -> tuple[str, list[Any]]:
        """PS3.4 matching of any value of a header attribute, as SQL over its jsonb values."""
        value = self.header_value(alias, tag)
        elements = (
            f"jsonb_array_elements(CASE jsonb_typeof({value}) WHEN 'array' THEN {value} "
            f"ELSE jsonb_build_array({value}) END) AS e(v)"
        )
        text = (
            "(CASE jsonb_typeof(e.v) WHEN 'object' THEN COALESCE(e.v ->> 'Alphabetic', '') "
            "ELSE e.v #>> '{}' END) COLLATE \"C\""
        )
        test, params = _element_test(condition, text)
        return f"EXISTS (SELECT 1 FROM {elements} WHERE jsonb_typeof(e.v) <> 'null' AND ({test}))", params

    def string_agg(self, expr: str, separator: str) -> str:
        """Concatenation of *expr* over a group, in order of *expr*."""
        return f"string_agg({expr}, {separator} ORDER BY {expr})"

    def glob(self, column: str, pattern: str) -> tuple[str, list[Any]]:
        """*column* matches a shell pattern (``*``, ``?``, ``[abc]``), as a POSIX regular expression."""
        return f'CAST({column} AS TEXT) COLLATE "C" ~ ?', [_glob_regex(pattern)]

    #: The physical row order: insertion order for the small append-mostly tables that use it.
    rowid = "ctid"


def _integer_condition(condition: Condition, column: str) -> tuple[str, list[Any]]:
    """A filter on an INTEGER column: text that is no number matches nothing (as in SQLite), never an error."""
    if condition.kind is MatchKind.RANGE:
        return condition.to_sql(column)
    numbers = [n for n in (_float(v) for v in condition.values) if n is not None]
    if not numbers:
        return "1=0", []
    return f"{column} IN ({', '.join('?' * len(numbers))})", [int(n) if n.is_integer() else n for n in numbers]


def _element_test(condition: Condition, text: str) -> tuple[str, list[Any]]:
    """SQL for :meth:`Condition.matches` on one JSON value ``e.v`` whose text is *text*."""
    kind = condition.kind
    if kind is MatchKind.RANGE:
        low, high = condition.values
        parts, params = [], []
        if low is not None:
            parts.append(f"{text} >= ?")
            params.append(low)
        if high is not None:
            parts.append(f"{text} <= ?")
            params.append(_tm_upper(high))
        return " AND ".join(parts) or "1=1", params
    if kind is MatchKind.WILDCARD:
        (pattern,) = condition.values
        operator = "ILIKE" if condition.case_insensitive else "LIKE"
        return f"jsonb_typeof(e.v) <> 'number' AND {text} {operator} ? ESCAPE '\\'", [_like_pattern(str(pattern))]
    tests, params = [], []
    for pattern in condition.values:  # SINGLE and LIST: equal to one of the values
        number = _float(pattern)
        if number is not None:
            tests.append("(jsonb_typeof(e.v) = 'number' AND (e.v #>> '{}')::float8 = ?)")
            params.append(number)
        if condition.case_insensitive:
            tests.append(f"(jsonb_typeof(e.v) <> 'number' AND lower({text}) = lower(?))")
        else:
            tests.append(f"(jsonb_typeof(e.v) <> 'number' AND {text} = ?)")
        params.append(str(pattern))
    return " OR ".join(tests) or "1=0", params


def _glob_regex(pattern: str) -> str:
    """SQLite's GLOB pattern as an anchored POSIX regular expression."""
    out, i = ["^"], 0
    while i < len(pattern):
        c = pattern[i]
        end = pattern.find("]", i + 2) if c == "[" else -1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[" and end != -1:
            body = pattern[i + 1 : end]
            body = "^" + body[1:] if body.startswith("^") else body
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out) + "$"


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@functools.lru_cache(maxsize=1024)
def _translate_postgres(sql: str) -> str:
    literals: list[str] = []

    def hide(match: re.Match[str]) -> str:
        literals.append(match.group(0))
        return f"\x00{len(literals) - 1}\x00"

    text = _LITERAL.sub(hide, sql)
    for word in _WORD.findall(text):
        if word != word.lower() and word != word.upper():
            _NAMES.setdefault(word.lower(), word)
    if re.match(r"\s*CREATE\s+TABLE", text, re.IGNORECASE):
        _INTEGERS.update(name.lower() for name in re.findall(r"(\w+)\s+INTEGER\b", text, re.IGNORECASE))
        text = _translate_ddl(text)
    text = re.sub(r"\bCOLLATE\s+NOCASE\b", "COLLATE pacslab_nocase", text, flags=re.IGNORECASE)
    text = re.sub(r"\bLIMIT\s+-1\b", "LIMIT ALL", text, flags=re.IGNORECASE)
    if re.match(r"\s*INSERT\s+OR\s+IGNORE\s+INTO\b", text, re.IGNORECASE):
        text = re.sub(r"INSERT\s+OR\s+IGNORE\s+INTO", "INSERT INTO", text, count=1, flags=re.IGNORECASE)
        text = text.strip().rstrip(";")
        returning = re.search(r"\bRETURNING\b", text, re.IGNORECASE)
        at = returning.start() if returning else len(text)
        text = f"{text[:at].rstrip()} ON CONFLICT DO NOTHING {text[at:]}".rstrip()
    text = _ORDER_BY.sub(_nulls_like_sqlite, text)
    text = text.replace("%", "%%").replace("?", "%s")
    return re.sub("\x00(\\d+)\x00", lambda m: literals[int(m.group(1))].replace("%", "%%"), text)


def _translate_ddl(text: str) -> str:
    text = re.sub(
        r"\bINTEGER\s+PRIMARY\s+KEY(\s+AUTOINCREMENT)?\b",
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        text,
        flags=re.IGNORECASE,
    )
    text = re.sub(r"\bINTEGER\b", "BIGINT", text, flags=re.IGNORECASE)
    text = re.sub(r"\bREAL\b", "DOUBLE PRECISION", text, flags=re.IGNORECASE)
    # SQLite runs with foreign keys off: references are documentation there, and here.
    return re.sub(r"\s+REFERENCES\s+\w+\s*\(\s*\w+\s*\)", "", text, flags=re.IGNORECASE)


def _nulls_like_sqlite(match: re.Match[str]) -> str:
    """SQLite sorts NULL first when ascending, PostgreSQL last: spell SQLite's order out."""
    terms = []
    for term in match.group(1).split(","):
        term = term.strip()
        if re.search(r"\bNULLS\s+(FIRST|LAST)\b", term, re.IGNORECASE):
            terms.append(term)
        elif re.search(r"\bDESC$", term, re.IGNORECASE):
            terms.append(f"{term} NULLS LAST")
        else:
            terms.append(f"{term} NULLS FIRST")
    return "ORDER BY " + ", ".join(terms)

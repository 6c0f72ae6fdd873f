"""DICOM attribute matching (PS3.4 C.2.2.2), as SQL for columns and in Python for headers.

A filter value is turned into a :class:`Condition` once; the same condition then
becomes a SQL expression over an indexed column, or is evaluated in Python
against the values of any attribute of a stored header.
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
import re
from collections.abc import Iterable, Sequence
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword

from pacslab.errors import CatalogError

__all__ = ["Condition", "MatchKind", "parse_condition", "keyword_tag", "keyword_vr"]

_RANGE_VRS = {"DA", "TM", "DT"}
_CASE_INSENSITIVE_VRS = {"PN"}


class MatchKind(enum.StrEnum):
    """The kinds of matching of PS3.4 C.2.2.2."""

    UNIVERSAL = "universal"
    SINGLE = "single"
    WILDCARD = "wildcard"
    RANGE = "range"
    LIST = "list"


@dataclasses.dataclass(frozen=True)
class Condition:
    """A parsed filter on one attribute."""

    keyword: str
    vr: str
    kind: MatchKind
    values: tuple[Any, ...] = ()

    @property
    def case_insensitive(self) -> bool:
        """Person names match regardless of case."""
        return self.vr in _CASE_INSENSITIVE_VRS

    # -- SQL -----------------------------------------------------------------
    def to_sql(self, column: str) -> tuple[str, list[Any]]:
        """A SQL expression over *column* and its parameters."""
        if self.kind is MatchKind.UNIVERSAL:
            return "1", []
        if self.kind is MatchKind.LIST:
            marks = ", ".join("?" * len(self.values))
            return f"{column} IN ({marks})", list(self.values)
        if self.kind is MatchKind.RANGE:
            low, high = self.values
            parts, params = [], []
            if low is not None:
                parts.append(f"{column} >= ?")
                params.append(low)
            if high is not None:
                parts.append(f"{column} <= ?")
                params.append(high if self.vr != "TM" else _tm_upper(high))
            return " AND ".join(parts), params
        (value,) = self.values
        if self.kind is MatchKind.SINGLE:
            if self.case_insensitive:
                return f"{column} = ? COLLATE NOCASE", [value]
            return f"{column} = ?", [value]
        if self.case_insensitive:
            like = re.sub(r"([%_\\])", r"\\\1", value).replace("*", "%").replace("?", "_")
            return f"{column} LIKE ? ESCAPE '\\'", [like]
        glob = re.sub(r"\[", "[[]", value)
        return f"{column} GLOB ?", [glob]

    # -- Python ----------------------------------------------------------------
    def matches(self, values: Iterable[Any]) -> bool:
        """Whether any of an attribute's *values* satisfies the condition."""
        if self.kind is MatchKind.UNIVERSAL:
            return True
        return any(self._matches_one(v) for v in values if v is not None)

    def _matches_one(self, value: Any) -> bool:
        if isinstance(value, dict):  # PN in DICOM JSON
            value = value.get("Alphabetic", "")
        if self.kind is MatchKind.LIST:
            return any(_equal(value, v, self.case_insensitive) for v in self.values)
        if self.kind is MatchKind.RANGE:
            low, high = self.values
            text = str(value)
            return (low is None or text >= low) and (high is None or text <= _tm_upper(high))
        (pattern,) = self.values
        if self.kind is MatchKind.SINGLE:
            return _equal(value, pattern, self.case_insensitive)
        text, pat = str(value), str(pattern)
        if self.case_insensitive:
            text, pat = text.lower(), pat.lower()
        return fnmatch.fnmatchcase(text, pat.replace("[", "[[]"))


def _tm_upper(high: str) -> str:
    """A TM upper bound that includes fractional seconds of the bound itself."""
    return high + "\uffff" if len(high) < 13 else high


def _equal(value: Any, pattern: Any, case_insensitive: bool) -> bool:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value) == float(pattern)
        except (TypeError, ValueError):
            return False
    text, pat = str(value), str(pattern)
    if case_insensitive:
        return text.lower() == pat.lower()
    return text == pat


def keyword_tag(keyword: str) -> int:
    """The tag of a DICOM keyword, or a :class:`CatalogError` naming it."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise CatalogError(
            f"{keyword!r} is not a DICOM keyword; filters are named by keyword, "
            "e.g. PatientName, StudyDate, Modality, SliceThickness."
        )
    return int(tag)


def keyword_vr(keyword: str) -> str:
    """The VR of a DICOM keyword (the first one where the dictionary lists several)."""
    return str(dictionary_VR(keyword_tag(keyword))).split(" or ")[0]


def parse_condition(keyword: str, value: Any) -> Condition:
    r"""Parse a filter *value* for *keyword* into a :class:`Condition`.

    Parameters
    ----------
    keyword : str
        A DICOM keyword such as ``"PatientName"``.
    value : str, number, or sequence
        ``"DOE*"`` (wildcard ``*`` / ``?``), ``"20240101-20240131"`` (range for DA, TM, DT;
        either end may be left open), ``"1.2.3\\1.2.4"`` or a list (any of several values),
        ``""`` or ``"*"`` (universal), or a single value.

    Examples
    --------
    >>> parse_condition("StudyDate", "20240101-").kind
    <MatchKind.RANGE: 'range'>
    >>> parse_condition("PatientName", "doe*").to_sql("PatientName")
    ("PatientName LIKE ? ESCAPE '\\\\'", ['doe%'])
    """
    vr = keyword_vr(keyword)
    if isinstance(value, list | tuple | set | frozenset):
        items = tuple(_scalar(keyword, v) for v in value)
        return Condition(keyword, vr, MatchKind.LIST, items)
    scalar = _scalar(keyword, value)
    if not isinstance(scalar, str):
        return Condition(keyword, vr, MatchKind.SINGLE, (scalar,))
    if scalar in ("", "*"):
        return Condition(keyword, vr, MatchKind.UNIVERSAL)
    if "\\" in scalar and vr != "PN":
        return Condition(keyword, vr, MatchKind.LIST, tuple(scalar.split("\\")))
    if vr in _RANGE_VRS and "-" in scalar:
        return _parse_range(keyword, vr, scalar)
    if "*" in scalar or "?" in scalar:
        return Condition(keyword, vr, MatchKind.WILDCARD, (scalar,))
    return Condition(keyword, vr, MatchKind.SINGLE, (scalar,))


def _parse_range(keyword: str, vr: str, text: str) -> Condition:
    low, sep, high = text.partition("-")
    for part in (low, high):
        if part and not re.fullmatch(r"[0-9.:+]+", part):
            raise CatalogError(
                f"The range {text!r} for {keyword} is not valid: give {vr} values such as "
                "'20240101-20240131', '20240101-' or '-20240131'."
            )
    return Condition(keyword, vr, MatchKind.RANGE, (low.replace(":", "") or None, high.replace(":", "") or None))


def _scalar(keyword: str, value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        raise CatalogError(f"The filter {keyword}={value!r} is not a DICOM value.")
    if isinstance(value, int | float):
        return value
    if hasattr(value, "strftime"):
        return value.strftime("%Y%m%d")
    return str(value).strip()


def conditions(filters: dict[str, Any]) -> list[Condition]:
    """Parse every ``keyword=value`` filter."""
    return [parse_condition(k, v) for k, v in filters.items()]


def tags_hex(keywords: Sequence[str]) -> list[str]:
    """Tags of *keywords* as the 8 hex digits DICOM JSON uses."""
    return [f"{keyword_tag(k):08X}" for k in keywords]

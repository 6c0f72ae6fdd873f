"""C-FIND / C-GET / C-MOVE identifiers ↔ catalog queries (PS3.4 C.2.2 and C.4).

An identifier's non-empty keys become catalog filters with the same DICOM matching
(single value, wildcard, range, UID list, universal); every key it names is a return
key. Sequence keys are matched item by item against the stored headers (PS3.4
C.2.2.2.6): an entry matches when one of its items satisfies every non-empty key of
the query item, and the response carries the matching items with the requested keys.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from pacslab.catalog._matching import Condition, parse_condition
from pacslab.errors import CatalogError

if TYPE_CHECKING:
    from pacslab.catalog import SQLiteCatalog

__all__ = [
    "LEVELS",
    "QueryError",
    "build_query",
    "find_responses",
    "identifier_from_filters",
    "retrieve_filters",
]

#: Query/Retrieve level → catalog level.
LEVELS = {"PATIENT": "patients", "STUDY": "studies", "SERIES": "series", "IMAGE": "instances"}
_ORDER = ("PATIENT", "STUDY", "SERIES", "IMAGE")
#: The unique key of each level (PS3.4 C.6).
UNIQUE_KEYS = {
    "PATIENT": "PatientID",
    "STUDY": "StudyInstanceUID",
    "SERIES": "SeriesInstanceUID",
    "IMAGE": "SOPInstanceUID",
}
#: Keys answered from somewhere else than a catalog column of the same name.
_ALIASES = {"AvailableTransferSyntaxUID": "TransferSyntaxUID"}
_NOT_KEYS = {"QueryRetrieveLevel", "SpecificCharacterSet", "TimezoneOffsetFromUTC"}
_NUMBER_VRS = {"US", "UL", "SS", "SL", "UV", "SV"}
_FLOAT_VRS = {"FL", "FD"}


class QueryError(ValueError):
    """An identifier the archive cannot answer; ``status`` is the DIMSE failure status to send."""

    def __init__(self, message: str, status: int = 0xA900) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass
class Query:
    """One C-FIND request, translated."""

    level: str
    filters: dict[str, Any]
    return_keys: list[tuple[int, str, str]]  # (tag, keyword, VR)
    sequences: dict[str, tuple[list[Condition], list[int]]]  # keyword → (conditions on items, requested item tags)
    character_set: Any = None

    @property
    def catalog_level(self) -> str:
        """The catalog's name of the level."""
        return LEVELS[self.level]


def _tag(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    if tag is None:  # pragma: no cover - keywords here come from pydicom elements or our own tables
        raise QueryError(f"{keyword!r} is not a DICOM keyword.")
    return int(tag)


def _vr(elem: DataElement) -> str:
    vr = str(elem.VR)
    if " or " in vr or vr in ("", "UN"):
        try:
            vr = str(dictionary_VR(elem.tag)).split(" or ")[0]
        except KeyError:
            pass
    return vr


def _filter_value(elem: DataElement, vr: str) -> Any:
    """The identifier value as a catalog filter, or None when it is empty (return key only)."""
    value = elem.value
    if value is None or value == "" or (isinstance(value, (list, MultiValue)) and len(value) == 0):
        return None
    if isinstance(value, bytes):
        raise QueryError(f"Matching on the binary attribute {elem.keyword or elem.tag} is not supported.")
    if isinstance(value, (list, MultiValue)):
        items = [str(v) for v in value]
        return items if len(items) > 1 else items[0]
    if vr in _NUMBER_VRS or vr in _FLOAT_VRS:
        return value
    return str(value)


def _level(identifier: Dataset, model: str) -> str:
    level = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    if level not in LEVELS:
        raise QueryError(f"QueryRetrieveLevel {level!r} is not one of PATIENT, STUDY, SERIES, IMAGE.")
    if model == "study" and level == "PATIENT":
        raise QueryError("The Study Root model has no PATIENT level; use the Patient Root model.")
    return level


def build_query(identifier: Dataset, model: str) -> Query:
    """Translate a C-FIND identifier into a :class:`Query`.

    Parameters
    ----------
    identifier : Dataset
        The request identifier (keys with values to match, empty keys to return).
    model : {"patient", "study"}
        The information model (Patient Root or Study Root).

    Raises
    ------
    QueryError
        The level is missing or not part of the model, or a key cannot be matched.
    """
    level = _level(identifier, model)
    filters: dict[str, Any] = {}
    return_keys: list[tuple[int, str, str]] = []
    sequences: dict[str, tuple[list[Condition], list[int]]] = {}
    for elem in identifier:
        keyword = elem.keyword
        if elem.tag.group in (0x0000, 0x0002) or not keyword or keyword in _NOT_KEYS:
            continue
        vr = _vr(elem)
        return_keys.append((int(elem.tag), keyword, vr))
        if vr == "SQ":
            sequences[keyword] = _sequence_query(elem)
            continue
        value = _filter_value(elem, vr)
        if value is None or keyword in ("InstanceAvailability", "RetrieveAETitle"):
            continue
        try:
            parse_condition(keyword, value)
        except CatalogError as exc:
            raise QueryError(str(exc)) from exc
        filters[_ALIASES.get(keyword, keyword)] = value
    keys = {k for _, k, _ in return_keys}
    for upper in _ORDER[: _ORDER.index(level) + 1]:
        unique = UNIQUE_KEYS[upper]
        if unique not in keys and (upper == level or unique in filters):
            tag = _tag(unique)
            return_keys.append((tag, unique, "LO" if unique == "PatientID" else "UI"))
    return Query(level, filters, return_keys, sequences, identifier.get("SpecificCharacterSet"))


def _sequence_query(elem: DataElement) -> tuple[list[Condition], list[int]]:
    conditions: list[Condition] = []
    requested: list[int] = []
    items = list(elem.value or [])
    if len(items) > 1:
        raise QueryError(f"A query sequence ({elem.keyword}) may hold one item only (PS3.4 C.2.2.2.6).")
    for sub in items[0] if items else ():
        if not sub.keyword or _vr(sub) == "SQ":
            continue
        requested.append(int(sub.tag))
        value = _filter_value(sub, _vr(sub))
        if value is not None:
            try:
                conditions.append(parse_condition(sub.keyword, value))
            except CatalogError as exc:
                raise QueryError(str(exc)) from exc
    return conditions, requested


def _json_items(value: Any) -> list[dict[str, Any]]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    if isinstance(value, dict):
        return [value]
    return [v for v in value if isinstance(v, dict)]


def _item_matches(item: dict[str, Any], conditions: Sequence[Condition]) -> bool:
    for cond in conditions:
        tag = f"{_tag(cond.keyword):08X}"
        if not cond.matches((item.get(tag) or {}).get("Value", [])):
            return False
    return True


def _sequence_value(items: list[dict[str, Any]], requested: list[int]) -> list[Dataset]:
    out = []
    for item in items:
        wanted = {f"{t:08X}" for t in requested}
        subset = {k: v for k, v in item.items() if not requested or k in wanted}
        try:
            ds = Dataset.from_json(subset)
        except Exception:  # noqa: BLE001 - an odd stored value: return the keys empty
            ds = Dataset()
        for tag in requested:
            if tag not in ds:
                ds.add_new(tag, str(dictionary_VR(tag)).split(" or ")[0], None)
        out.append(ds)
    return out


def _element_value(vr: str, value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, list):
        converted = [_element_value(vr, v) for v in value]
        return [v for v in converted if v is not None]
    if isinstance(value, dict):  # DICOM JSON person name
        return value.get("Alphabetic", "")
    if vr in _NUMBER_VRS:
        return int(value)
    if vr in _FLOAT_VRS:
        return float(value)
    if isinstance(value, float) and value.is_integer() and vr in ("IS", "DS"):
        value = int(value)
    if isinstance(value, str) and "\\" in value and vr not in ("LT", "ST", "UT"):
        return value.split("\\")
    return str(value)


def find_responses(
    catalog: SQLiteCatalog, query: Query, *, ae_title: str, limit: int | None = None
) -> Iterator[Dataset]:
    """Run *query* on the catalog; yield one response identifier per match.

    Parameters
    ----------
    catalog : SQLiteCatalog
    query : Query
    ae_title : str
        This archive's AE title, the value of *RetrieveAETitle*.
    limit : int, optional
        Stop after this many matches.
    """
    level = query.catalog_level
    columns = [_ALIASES.get(k, k) for _, k, _ in query.return_keys]
    try:
        records = catalog.query_records(level, query.filters, fields=columns, limit=limit)
    except CatalogError as exc:
        raise QueryError(str(exc)) from exc
    for row in records:
        response = Dataset()
        skip = False
        for tag, keyword, vr in query.return_keys:
            if vr == "SQ":
                conditions, requested = query.sequences[keyword]
                items = _json_items(row.get(keyword))
                if conditions:
                    items = [i for i in items if _item_matches(i, conditions)]
                    if not items:
                        skip = True
                        break
                response.add_new(tag, "SQ", _sequence_value(items, requested))
                continue
            if keyword == "RetrieveAETitle":
                value: Any = ae_title
            elif keyword == "InstanceAvailability":
                value = "ONLINE"
            else:
                value = _element_value(vr, row.get(_ALIASES.get(keyword, keyword)))
            response.add_new(tag, vr, value)
        if skip:
            continue
        response.QueryRetrieveLevel = query.level
        _set_character_set(response, query.character_set)
        yield response


def _set_character_set(response: Dataset, requested: Any) -> None:
    text = [e.value for e in response if isinstance(e.value, str) or (e.VR == "PN" and e.value is not None)]
    if any(not str(v).isascii() for v in text):
        response.SpecificCharacterSet = "ISO_IR 192"
    elif requested:
        response.SpecificCharacterSet = requested


def retrieve_filters(identifier: Dataset, model: str) -> tuple[str, dict[str, Any]]:
    """The instance-level filters of a C-GET or C-MOVE identifier (its unique keys, PS3.4 C.4.2.1.4).

    Returns
    -------
    level : str
    filters : dict
        Unique keys of the level and the levels above that the identifier gives.

    Raises
    ------
    QueryError
        The unique key of the requested level is missing or empty.
    """
    level = _level(identifier, model)
    filters: dict[str, Any] = {}
    first = 0 if model == "patient" else 1
    for upper in _ORDER[first : _ORDER.index(level) + 1]:
        keyword = UNIQUE_KEYS[upper]
        elem = identifier.get(keyword)
        value = _filter_value(identifier[keyword], "UI") if elem is not None else None
        if value is None:
            if upper == level:
                raise QueryError(
                    f"A {level}-level retrieve needs a value for {keyword} "
                    f"({_tag(keyword) >> 16:04X},{_tag(keyword) & 0xFFFF:04X}).",
                    status=0xA900,
                )
            continue
        if isinstance(value, str) and any(c in value for c in "*?"):
            raise QueryError(f"Retrieve keys must be exact UIDs, not the wildcard {value!r}.")
        filters[keyword] = value
    return level, filters


def identifier_from_filters(level: str, filters: dict[str, Any], return_keys: Sequence[str] = ()) -> Dataset:
    """A request identifier: *filters* as matching keys, *return_keys* as empty keys.

    Parameters
    ----------
    level : {"PATIENT", "STUDY", "SERIES", "IMAGE"}
    filters : dict
        DICOM keyword → value (``"DOE*"``, ``"20240101-"``, a list of UIDs, …).
    return_keys : sequence of str
        Keywords to ask for.
    """
    ds = Dataset()
    ds.QueryRetrieveLevel = level.upper()
    for keyword in return_keys:
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise ValueError(f"{keyword!r} is not a DICOM keyword.")
        if keyword not in ds:
            ds.add_new(tag, str(dictionary_VR(tag)).split(" or ")[0], None)
    for keyword, value in filters.items():
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise ValueError(f"{keyword!r} is not a DICOM keyword; filters are named by keyword, e.g. PatientName.")
        vr = str(dictionary_VR(tag)).split(" or ")[0]
        if isinstance(value, list | tuple | set):
            value = "\\".join(str(v) for v in value)
        elif hasattr(value, "strftime"):
            value = value.strftime("%Y%m%d")
        if vr == "SQ":
            raise ValueError(f"Give sequence keys ({keyword}) as a pydicom Dataset identifier instead.")
        ds.add_new(tag, vr, value if vr in _NUMBER_VRS | _FLOAT_VRS else str(value))
    return ds


def keyword_of(tag: int) -> str:
    """The keyword of a tag, or its hex form."""
    return keyword_for_tag(tag) or f"{tag:08X}"

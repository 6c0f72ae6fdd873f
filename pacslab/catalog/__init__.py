"""The catalog: patients, studies, series and instances, and DICOM matching over them."""

from __future__ import annotations

from pacslab.catalog._matching import Condition, MatchKind, parse_condition
from pacslab.catalog._postgres import PostgresCatalog, is_postgres_url
from pacslab.catalog._sqlite import SQLiteCatalog
from pacslab.catalog.models import InstanceRecord

__all__ = [
    "Condition",
    "InstanceRecord",
    "MatchKind",
    "PostgresCatalog",
    "SQLiteCatalog",
    "is_postgres_url",
    "parse_condition",
]

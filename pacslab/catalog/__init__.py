"""The catalog: patients, studies, series and instances, and DICOM matching over them."""

from __future__ import annotations

from pacslab.catalog._matching import Condition, MatchKind, parse_condition
from pacslab.catalog._sqlite import SQLiteCatalog
from pacslab.catalog.models import InstanceRecord

__all__ = ["Condition", "InstanceRecord", "MatchKind", "SQLiteCatalog", "parse_condition"]

"""What to export: one UID, a list of UIDs, or a cohort DataFrame, resolved to instances and series."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeAlias

from pacslab.errors import CatalogError
from pacslab.export.models import ExportError

if TYPE_CHECKING:
    import pandas as pd

    from pacslab.archive import Archive

__all__ = ["Selection", "select"]

#: Columns of a cohort DataFrame, the most specific first: the first one present is used.
COHORT_COLUMNS = ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID")
_KEYS = {"study": "study_instance_uid", "series": "series_instance_uid", "instance": "sop_instance_uid"}

Uids: TypeAlias = "str | Iterable[str] | pd.DataFrame | pd.Series"


@dataclasses.dataclass
class Selection:
    """UIDs asked for, each with its level, in the order given (duplicates dropped)."""

    levels: dict[str, str]

    @property
    def uids(self) -> list[str]:
        """The UIDs asked for."""
        return list(self.levels)

    def instance_rows(self, archive: Archive) -> list[dict[str, Any]]:
        """Catalog rows of every instance selected, each once, study by study and series by series."""
        seen: dict[str, dict[str, Any]] = {}
        for uid, level in self.levels.items():
            for row in archive.catalog.instance_keys(**{_KEYS[level]: uid}):
                seen.setdefault(row["SOPInstanceUID"], row)
        return list(seen.values())

    def series(self, archive: Archive, *, what: str) -> list[str]:
        """SeriesInstanceUIDs selected (those of the studies given, and the series given).

        Raises
        ------
        ExportError
            A SOPInstanceUID was given: *what* works on whole series.
        """
        out: dict[str, None] = {}
        for uid, level in self.levels.items():
            if level == "instance":
                raise ExportError(
                    f"{what} exports whole series, and {uid!r} is a SOPInstanceUID; give its SeriesInstanceUID."
                )
            if level == "series":
                out[uid] = None
            else:
                frame = archive.catalog.query("series", {"StudyInstanceUID": uid})
                out.update(dict.fromkeys(frame["SeriesInstanceUID"].astype(str)) if not frame.empty else {})
        return list(out)


def _uid_list(uids: Uids) -> list[str]:
    if isinstance(uids, str):
        return [uids]
    import pandas as pd

    if isinstance(uids, pd.DataFrame):
        for column in COHORT_COLUMNS:
            if column in uids.columns:
                return [str(u) for u in uids[column].dropna()]
        raise ExportError(
            f"A cohort DataFrame needs one of the columns {', '.join(COHORT_COLUMNS)}; "
            f"this one has {', '.join(map(str, uids.columns)) or 'none'}."
        )
    return [str(u) for u in (uids.dropna() if isinstance(uids, pd.Series) else uids)]


def select(archive: Archive, uids: Uids) -> Selection:
    """Resolve *uids* against the archive's catalog.

    Parameters
    ----------
    uids : str, iterable of str, DataFrame or Series
        StudyInstanceUIDs, SeriesInstanceUIDs and SOPInstanceUIDs, mixed freely, or a
        cohort from :meth:`pacslab.Archive.series` and friends (its SOPInstanceUID,
        SeriesInstanceUID or StudyInstanceUID column, the first present).

    Raises
    ------
    ExportError
        Nothing to export, or a UID that is not in the archive.
    """
    values = list(dict.fromkeys(_uid_list(uids)))
    if not values:
        raise ExportError("Nothing to export: give at least one StudyInstanceUID, SeriesInstanceUID or SOPInstanceUID.")
    levels = {}
    for uid in values:
        try:
            levels[uid] = archive.catalog.level_of(uid)
        except CatalogError as exc:
            raise ExportError(f"Cannot export {uid!r}: {exc}") from None
    return Selection(levels)

"""Study search for the browser: form fields → DICOM filters, server-side sorted pages."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = ["SORTABLE", "STUDY_COLUMNS", "filters_from_form", "series_rows", "study_page"]

STUDY_COLUMNS = (
    "StudyInstanceUID",
    "PatientName",
    "PatientID",
    "StudyDate",
    "ModalitiesInStudy",
    "StudyDescription",
    "AccessionNumber",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)
SORTABLE = ("PatientName", "PatientID", "StudyDate", "StudyDescription", "AccessionNumber")


def _contains(value: str) -> str:
    value = value.strip()
    return value if any(c in value for c in "*?") else f"*{value}*"


def filters_from_form(form: dict[str, Any]) -> dict[str, Any]:
    """DICOM query filters from the browser's search fields.

    ``PatientName`` and ``StudyDescription`` match anywhere unless they hold wildcards,
    ``date_from``/``date_to`` (``YYYYMMDD`` or ``YYYY-MM-DD``) form a StudyDate range, and
    ``attribute`` takes ``Keyword=value`` pairs separated by ``;`` (any header keyword).

    Raises
    ------
    ValueError
        A malformed ``attribute`` entry.
    """
    filters: dict[str, Any] = {}
    for key in ("PatientName", "StudyDescription"):
        if str(form.get(key) or "").strip():
            filters[key] = _contains(str(form[key]))
    for key in ("PatientID", "AccessionNumber", "Modality"):
        if str(form.get(key) or "").strip():
            filters[key] = str(form[key]).strip()
    lo = str(form.get("date_from") or "").replace("-", "").strip()
    hi = str(form.get("date_to") or "").replace("-", "").strip()
    if lo or hi:
        filters["StudyDate"] = lo if lo == hi else f"{lo}-{hi}"
    for part in str(form.get("attribute") or "").split(";"):
        if not part.strip():
            continue
        if "=" not in part:
            raise ValueError(f"Attribute filter {part.strip()!r} is not Keyword=value (e.g. 'SliceThickness=2.5').")
        keyword, value = (s.strip() for s in part.split("=", 1))
        filters[keyword] = value
    return filters


def study_page(
    archive: Archive,
    filters: dict[str, Any],
    *,
    page: int = 0,
    page_size: int = 25,
    sort_by: str = "StudyDate",
    ascending: bool = False,
) -> tuple[pd.DataFrame, int]:
    """One page of matching studies and the total count; only that page is read from the catalog."""
    if sort_by not in SORTABLE:
        raise ValueError(f"Cannot sort by {sort_by!r}; sortable columns are {', '.join(SORTABLE)}.")
    direction = "ASC" if ascending else "DESC"
    order = f"{sort_by} {direction}, StudyInstanceUID {direction}"
    total = archive.catalog.count("studies", filters)
    frame = archive.catalog.query(
        "studies", filters, limit=int(page_size), offset=int(page) * int(page_size), order_by=order
    )
    return frame[[c for c in STUDY_COLUMNS if c in frame.columns]], total


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if pd.isna(v) else (v if isinstance(v, str | int | float) else str(v))) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


def series_rows(archive: Archive, study_instance_uid: str, *, thumbnails: bool = True) -> list[dict[str, Any]]:
    """The series of a study with a PNG thumbnail (data URL) of the middle slice of each ready volume."""
    from pacslab.widgets._slices import thumbnail_png

    frame = archive.series(StudyInstanceUID=study_instance_uid)
    keep = [
        "SeriesInstanceUID",
        "SeriesNumber",
        "Modality",
        "SeriesDescription",
        "NumberOfSeriesRelatedInstances",
        "volume_state",
    ]
    rows = _records(frame[[c for c in keep if c in frame.columns]])
    for row in rows:
        row["thumbnail"] = ""
        if thumbnails and row.get("volume_state") == "ready":
            try:
                png = thumbnail_png(archive.open_volume(row["SeriesInstanceUID"]))
                row["thumbnail"] = "data:image/png;base64," + base64.b64encode(png).decode()
            except Exception:  # noqa: BLE001 - a series without a displayable volume has no thumbnail
                pass
    return rows

"""Measurement tables and derived volumes kept in the archive, with their provenance.

Two tables live in the archive's catalog database beside the DICOM index:

``measurements``
    One row per (series, ROI, feature): the value and unit, JSON ``data`` for
    vector values (histograms, centroids), and provenance — the run, the analysis and
    its function, parameters, package versions, source UIDs and time.
``derived_volumes``
    Label volumes and other volumes computed from a series: the Zarr path in the
    archive, the source series, and the DICOM SEG series made from it (if any).
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = [
    "MEASUREMENT_COLUMNS",
    "derived_volumes",
    "measurements",
    "package_versions",
    "to_wide",
    "write_measurements",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS measurements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    analysis TEXT NOT NULL,
    StudyInstanceUID TEXT,
    SeriesInstanceUID TEXT NOT NULL,
    roi TEXT,
    feature TEXT NOT NULL,
    value REAL,
    unit TEXT,
    data TEXT,
    derived_series_uid TEXT,
    function TEXT,
    parameters TEXT,
    versions TEXT,
    source_uids TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS measurements_series ON measurements (SeriesInstanceUID);
CREATE INDEX IF NOT EXISTS measurements_analysis ON measurements (analysis, feature);
CREATE TABLE IF NOT EXISTS derived_volumes (
    path TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    analysis TEXT NOT NULL,
    kind TEXT NOT NULL,
    SourceSeriesInstanceUID TEXT NOT NULL,
    StudyInstanceUID TEXT,
    SeriesInstanceUID TEXT,
    segments TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS derived_source ON derived_volumes (SourceSeriesInstanceUID);
"""

#: Columns of the measurements table, in order.
MEASUREMENT_COLUMNS = (
    "id",
    "run_id",
    "analysis",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "roi",
    "feature",
    "value",
    "unit",
    "data",
    "derived_series_uid",
    "function",
    "parameters",
    "versions",
    "source_uids",
    "created_at",
)
_DERIVED_COLUMNS = (
    "path",
    "run_id",
    "analysis",
    "kind",
    "SourceSeriesInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "segments",
    "created_at",
)
_JSON_COLUMNS = ("data", "parameters", "versions", "source_uids", "segments")
_PACKAGES = (
    "pacslab",
    "dask",
    "distributed",
    "numpy",
    "scipy",
    "scikit-image",
    "xarray",
    "zarr",
    "highdicom",
    "pydicom",
)


def now() -> str:
    """UTC time, ISO 8601."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def package_versions() -> dict[str, str]:
    """Versions of the packages that an analysis result depends on."""
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def ensure_tables(archive: Archive) -> None:
    """Create the tables if the archive has none yet."""
    with archive.catalog.transaction() as db:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, default=_to_builtin)


def _to_builtin(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Cannot store {type(value).__name__} in a measurement.")


def _number(value: Any) -> float | None:
    if value is None:
        return None
    v = float(value)
    return None if math.isnan(v) else v


def write_measurements(archive: Archive, rows: Iterable[Mapping[str, Any]], *, provenance: Mapping[str, Any]) -> int:
    """Insert measurement rows (``roi``, ``feature``, ``value``, …) under one provenance; returns the count."""
    ensure_tables(archive)
    base = {
        "run_id": provenance["run_id"],
        "analysis": provenance["analysis"],
        "StudyInstanceUID": provenance.get("StudyInstanceUID"),
        "SeriesInstanceUID": provenance["SeriesInstanceUID"],
        "derived_series_uid": provenance.get("derived_series_uid"),
        "function": provenance.get("function"),
        "parameters": _json(provenance.get("parameters", {})),
        "versions": _json(provenance.get("versions", {})),
        "source_uids": _json(provenance.get("source_uids", [])),
        "created_at": provenance.get("created_at") or now(),
    }
    columns = MEASUREMENT_COLUMNS[1:]
    values = []
    for r in rows:
        row = {
            **base,
            "roi": r.get("roi"),
            "feature": str(r["feature"]),
            "value": _number(r.get("value")),
            "unit": r.get("unit"),
            "data": _json(r.get("data")),
        }
        values.append(tuple(row[c] for c in columns))
    with archive.catalog.transaction() as db:
        db.executemany(
            f"INSERT INTO measurements ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", values
        )
    return len(values)


def record_derived(archive: Archive, row: Mapping[str, Any]) -> None:
    """Remember a derived volume (replacing any earlier row for the same path)."""
    ensure_tables(archive)
    values = [(_json(row.get(c)) if c == "segments" else row.get(c)) for c in _DERIVED_COLUMNS]
    with archive.catalog.transaction() as db:
        db.execute("DELETE FROM derived_volumes WHERE path = ?", (row.get("path"),))
        db.execute(
            f"INSERT INTO derived_volumes ({', '.join(_DERIVED_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_DERIVED_COLUMNS))})",
            values,
        )


def _where(filters: Mapping[str, Any], columns: tuple[str, ...], dialect: Any) -> tuple[str, list[Any]]:
    clauses, params = [], []
    for key, value in filters.items():
        if value is None:
            continue
        if isinstance(value, list | tuple | set):
            values = list(value)
            clauses.append(f"{key} IN ({', '.join('?' * len(values))})")
            params += values
        elif isinstance(value, str) and ("*" in value or "?" in value):
            sql, glob = dialect.glob(key, value)
            clauses.append(sql)
            params += glob
        else:
            clauses.append(f"{key} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _split_filters(archive: Archive, filters: Mapping[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    """Own-column filters as they are; any other keyword is a DICOM filter on the source series."""
    own = {k: v for k, v in filters.items() if k in columns}
    dicom = {k: v for k, v in filters.items() if k not in columns}
    if dicom:
        uids = list(archive.series(**dicom)["SeriesInstanceUID"])
        key = "SeriesInstanceUID" if "SeriesInstanceUID" in columns else "SourceSeriesInstanceUID"
        if key in own:
            wanted = own[key] if isinstance(own[key], list | tuple | set) else [own[key]]
            uids = [u for u in uids if u in set(wanted)]
        own[key] = uids
    return own


def _query(
    archive: Archive, table: str, columns: tuple[str, ...], filters: Mapping[str, Any], limit: int | None
) -> pd.DataFrame:
    ensure_tables(archive)
    dialect = archive.catalog.dialect
    where, params = _where(_split_filters(archive, filters, columns), columns, dialect)
    sql = f"SELECT {', '.join(columns)} FROM {table}{where} ORDER BY {'id' if 'id' in columns else dialect.rowid}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with archive.catalog.transaction() as db:
        rows = db.execute(sql, params).fetchall()
    frame = pd.DataFrame(rows, columns=list(columns))
    for c in _JSON_COLUMNS:
        if c in frame:
            frame[c] = frame[c].map(lambda t: None if t is None else json.loads(t))
    return frame


def to_wide(frame: pd.DataFrame, index: list[str]) -> pd.DataFrame:
    """Long measurements → one row per *index* tuple, one column per feature (order of appearance)."""
    frame = frame.assign(**{c: frame[c].fillna("") for c in index})
    out = frame.groupby([*index, "feature"], sort=False)["value"].first().unstack("feature")
    out = out[list(dict.fromkeys(frame["feature"]))].reset_index()
    out.columns.name = None
    return out


def measurements(archive: Archive, *, wide: bool = False, limit: int | None = None, **filters: Any) -> pd.DataFrame:
    """Stored measurements matching *filters*, as a DataFrame.

    Parameters
    ----------
    archive : pacslab.Archive
    wide : bool
        One row per (series, ROI, run) and one column per feature, instead of one row per value.
    limit : int, optional
    **filters
        Columns of the table (``analysis="ct-segmentation"``, ``feature="volume_ml"``,
        ``roi=["Lung", "Bone"]``, ``run_id=…``; ``*`` and ``?`` are wildcards) or DICOM
        keywords of the source series, matched like :meth:`pacslab.Archive.series`
        (``PatientID="PL*"``, ``StudyDate="2024-"``).

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`MEASUREMENT_COLUMNS`; JSON columns are decoded.

    Examples
    --------
    >>> measurements(archive, analysis="ct-segmentation", feature="volume_ml", Modality="CT")  # doctest: +SKIP
    """
    frame = _query(archive, "measurements", MEASUREMENT_COLUMNS, filters, limit)
    if wide and not frame.empty:
        frame = to_wide(frame, ["run_id", "analysis", "StudyInstanceUID", "SeriesInstanceUID", "roi"])
    return frame


def derived_volumes(archive: Archive, *, limit: int | None = None, **filters: Any) -> pd.DataFrame:
    """Derived volumes (label volumes, new volumes) matching *filters* (columns or DICOM keywords of the source)."""
    return _query(archive, "derived_volumes", _DERIVED_COLUMNS, filters, limit)

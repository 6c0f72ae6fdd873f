"""Annotations on volumes: geometry and statistics, the ``annotations`` table, DICOM SR (TID 1500).

Annotations are drawn in display coordinates of a plane (``[[column, row], …]`` of the slice
image, pixel centres at integers) and stored with their voxel indices ``(k, j, i)`` and patient
coordinates (mm), so they survive a change of plane and export to SCOORD3D.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pacslab.widgets._slices import SliceSource

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = [
    "KINDS",
    "AnnotationStore",
    "measure",
    "roi_mask",
]

KINDS = ("point", "ruler", "angle", "rectangle", "ellipse", "polygon", "freehand")
ROI_KINDS = ("rectangle", "ellipse", "polygon", "freehand")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS annotations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    SeriesInstanceUID TEXT NOT NULL,
    StudyInstanceUID TEXT,
    SOPInstanceUID TEXT,
    frame INTEGER,
    plane TEXT NOT NULL,
    slice_index INTEGER NOT NULL,
    kind TEXT NOT NULL,
    label TEXT,
    display_points TEXT NOT NULL,
    voxel_points TEXT NOT NULL,
    patient_points TEXT NOT NULL,
    measurements TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_annotations_series ON annotations (SeriesInstanceUID);
CREATE INDEX IF NOT EXISTS ix_annotations_sop ON annotations (SOPInstanceUID);
"""


def _polygon_inside(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixels (centres) inside a polygon, even-odd rule."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    x, y = cols.astype(float), rows.astype(float)
    inside = np.zeros(shape, dtype=bool)
    px, py = points[:, 0], points[:, 1]
    for a in range(len(points)):
        b = (a + 1) % len(points)
        if py[a] == py[b]:
            continue
        crosses = (py[a] > y) != (py[b] > y)
        xi = px[a] + (y - py[a]) * (px[b] - px[a]) / (py[b] - py[a])
        inside ^= crosses & (x < xi)
    return inside


def _shape_polygon(kind: str, points: np.ndarray) -> np.ndarray:
    if kind == "rectangle":
        (x0, y0), (x1, y1) = points[0], points[-1]
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)
    return points


def roi_mask(kind: str, points: Any, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of the pixels whose centres lie inside an ROI drawn on an image of *shape*.

    A rectangle is given by two opposite corners, an ellipse by two opposite corners of its
    bounding box, a polygon or freehand outline by its vertices.
    """
    p = np.asarray(points, dtype=float)
    if kind == "ellipse":
        (x0, y0), (x1, y1) = p[0], p[-1]
        cx, cy, ax, ay = (x0 + x1) / 2, (y0 + y1) / 2, abs(x1 - x0) / 2, abs(y1 - y0) / 2
        rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
        if ax == 0 or ay == 0:
            return np.zeros(shape, dtype=bool)
        return ((cols - cx) / ax) ** 2 + ((rows - cy) / ay) ** 2 <= 1.0
    if kind == "rectangle":
        (x0, x1), (y0, y1) = sorted((p[0, 0], p[-1, 0])), sorted((p[0, 1], p[-1, 1]))
        rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
        return (cols >= x0) & (cols <= x1) & (rows >= y0) & (rows <= y1)
    if kind in ("polygon", "freehand"):
        return _polygon_inside(_shape_polygon(kind, p), shape)
    raise ValueError(f"{kind!r} is not an ROI; ROIs are {', '.join(ROI_KINDS)}.")


def _area_mm2(kind: str, points: np.ndarray, spacing: tuple[float, float]) -> float:
    """Geometric area of the drawn shape, in mm² (rows scaled by row spacing, columns by column spacing)."""
    dr, dc = spacing
    if kind == "ellipse":
        (x0, y0), (x1, y1) = points[0], points[-1]
        return math.pi * abs(x1 - x0) / 2 * dc * abs(y1 - y0) / 2 * dr
    poly = _shape_polygon(kind, points) * np.array([dc, dr])
    x, y = poly[:, 0], poly[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def measure(kind: str, display_points: Any, source: SliceSource, plane: str, index: int) -> dict[str, float]:
    """Measurements of an annotation: length (mm), angle (degrees), or ROI area (mm²) and statistics.

    Lengths and angles are taken between the patient coordinates of the points (via the affine),
    so they are right for any spacing and orientation. ROI statistics are over the pixels whose
    centres are inside the shape, in the volume's units (HU for CT).
    """
    if kind not in KINDS:
        raise ValueError(f"Unknown annotation kind {kind!r}; use one of {', '.join(KINDS)}.")
    points = np.asarray(display_points, dtype=float)
    mm = source.to_patient(source.to_voxel(plane, index, points))
    if kind == "point":
        value = float(source.slice(plane, index)[int(round(points[0, 1])), int(round(points[0, 0]))])
        return {"value": value}
    if kind == "ruler":
        return {"length_mm": float(np.linalg.norm(mm[1] - mm[0]))}
    if kind == "angle":
        a, b = mm[0] - mm[1], mm[2] - mm[1]
        cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) or 1.0)
        return {"angle_deg": float(np.degrees(np.arccos(np.clip(cos, -1, 1))))}
    image = np.asarray(source.slice(plane, index), dtype=np.float64)
    mask = roi_mask(kind, points, image.shape)
    values = image[mask]
    stats = {"area_mm2": _area_mm2(kind, points, source.pixel_spacing(plane)), "pixels": float(values.size)}
    if values.size:
        stats.update(
            mean=float(values.mean()), std=float(values.std()), min=float(values.min()), max=float(values.max())
        )
    return stats


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat()


class AnnotationStore:
    """The archive's ``annotations`` table (created on first use).

    Parameters
    ----------
    archive : Archive
    """

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        with archive.catalog.transaction() as db:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)

    def add(
        self,
        *,
        series_instance_uid: str,
        kind: str,
        plane: str,
        slice_index: int,
        display_points: Any,
        source: SliceSource,
        label: str = "",
        sop: tuple[str | None, int | None] = (None, None),
    ) -> int:
        """Measure and store one annotation; returns its id."""
        row = self._row(kind, plane, slice_index, display_points, source)
        now = _now()
        with self.archive.catalog.transaction() as db:
            cur = db.execute(
                "INSERT INTO annotations (SeriesInstanceUID, StudyInstanceUID, SOPInstanceUID, frame, plane,"
                " slice_index, kind, label, display_points, voxel_points, patient_points, measurements,"
                " created, updated)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                (
                    series_instance_uid,
                    source.attrs.get("StudyInstanceUID"),
                    sop[0],
                    sop[1],
                    plane,
                    int(slice_index),
                    kind,
                    label,
                    *row,
                    now,
                    now,
                ),
            )
            return int(cur.fetchone()[0])

    def _row(self, kind: str, plane: str, index: int, points: Any, source: SliceSource) -> tuple[str, str, str, str]:
        p = np.asarray(points, dtype=float).reshape(-1, 2)
        need = {"point": 1, "ruler": 2, "angle": 3, "rectangle": 2, "ellipse": 2}.get(kind, 3)
        if len(p) < need:
            raise ValueError(f"A {kind} needs at least {need} points, got {len(p)}.")
        voxels = source.to_voxel(plane, index, p)
        return (
            json.dumps(p.tolist()),
            json.dumps(voxels.tolist()),
            json.dumps(source.to_patient(voxels).tolist()),
            json.dumps(measure(kind, p, source, plane, index)),
        )

    def update(
        self, annotation_id: int, *, source: SliceSource, display_points: Any = None, label: str | None = None
    ) -> None:
        """Move the points of an annotation (measurements are recomputed) or change its label."""
        current = self.get(annotation_id)
        points = current["display_points"] if display_points is None else display_points
        row = self._row(current["kind"], current["plane"], current["slice_index"], points, source)
        with self.archive.catalog.transaction() as db:
            db.execute(
                "UPDATE annotations SET display_points=?, voxel_points=?, patient_points=?, measurements=?, label=?,"
                " updated=? WHERE id=?",
                (*row, current["label"] if label is None else label, _now(), int(annotation_id)),
            )

    def delete(self, annotation_id: int) -> None:
        """Delete one annotation."""
        with self.archive.catalog.transaction() as db:
            db.execute("DELETE FROM annotations WHERE id=?", (int(annotation_id),))

    def get(self, annotation_id: int) -> dict[str, Any]:
        """One annotation as a dict (points and measurements decoded)."""
        frame = self.frame(id=annotation_id)
        if frame.empty:
            from pacslab.errors import NotFoundError

            raise NotFoundError(f"There is no annotation with id {annotation_id!r}.")
        return frame.iloc[0].to_dict()

    def frame(self, *, series_instance_uid: str | None = None, id: int | None = None) -> pd.DataFrame:  # noqa: A002
        """Annotations as a DataFrame, one row each, measurements as columns too."""
        sql, params = "SELECT * FROM annotations WHERE 1=1", []
        if series_instance_uid is not None:
            sql += " AND SeriesInstanceUID = ?"
            params.append(series_instance_uid)
        if id is not None:
            sql += " AND id = ?"
            params.append(int(id))
        with self.archive.catalog.transaction() as db:
            cur = db.execute(sql + " ORDER BY id", params)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        frame = pd.DataFrame.from_records(rows, columns=names)
        for col in ("display_points", "voxel_points", "patient_points", "measurements"):
            frame[col] = frame[col].map(json.loads)
        for key in ("length_mm", "angle_deg", "area_mm2", "mean", "std", "min", "max", "value"):
            frame[key] = frame["measurements"].map(lambda m, k=key: m.get(k, np.nan))
        return frame

"""Physical geometry of a volume: where each voxel is in the patient (DICOM LPS, mm)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["VolumeGeometry"]


@dataclasses.dataclass(frozen=True)
class VolumeGeometry:
    """Voxel grid → patient coordinates (LPS, millimetres), as DICOM defines them.

    Attributes
    ----------
    shape : tuple of int
        ``(nz, ny, nx)``: slices, rows, columns.
    spacing : tuple of float
        ``(dz, dy, dx)`` in mm: distance between slice centres along the normal,
        between rows (PixelSpacing[0]) and between columns (PixelSpacing[1]).
    origin : tuple of float
        Patient position of the centre of voxel (0, 0, 0): the ImagePositionPatient of the first slice.
    direction : tuple of tuple of float
        Three unit vectors: along a row (x, increasing column index), along a column
        (y, increasing row index) — the two halves of ImageOrientationPatient — and the
        slice normal (z, increasing slice index).
    known : bool
        False when the instances carry no patient geometry (projection radiographs,
        ultrasound); positions are then only pixel-spacing-scaled indices.
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[tuple[float, float, float], ...] = (
        (1.0, 0.0, 0.0),
        (0.0, 1.0, 0.0),
        (0.0, 0.0, 1.0),
    )
    known: bool = True

    @property
    def affine(self) -> np.ndarray:
        """4×4 matrix taking ``(i, j, k, 1)`` (column, row, slice index) to patient ``(x, y, z, 1)`` in mm."""
        dz, dy, dx = self.spacing
        d = np.asarray(self.direction, dtype=float)
        out = np.eye(4)
        out[:3, 0] = d[0] * dx
        out[:3, 1] = d[1] * dy
        out[:3, 2] = d[2] * dz
        out[:3, 3] = self.origin
        return out

    @property
    def image_orientation_patient(self) -> list[float]:
        """The six direction cosines as DICOM's ImageOrientationPatient."""
        return [float(v) for v in (*self.direction[0], *self.direction[1])]

    def index_to_patient(self, index: Any) -> np.ndarray:
        """Patient coordinates (mm) of voxel indices given as ``(k, j, i)`` (z, y, x), shape ``(..., 3)``."""
        kji = np.asarray(index, dtype=float)
        ijk1 = np.concatenate([kji[..., ::-1], np.ones(kji.shape[:-1] + (1,))], axis=-1)
        return (ijk1 @ self.affine.T)[..., :3]

    def patient_to_index(self, point: Any) -> np.ndarray:
        """Continuous ``(k, j, i)`` voxel indices of patient points (mm), shape ``(..., 3)``."""
        xyz = np.asarray(point, dtype=float)
        xyz1 = np.concatenate([xyz, np.ones(xyz.shape[:-1] + (1,))], axis=-1)
        return (xyz1 @ np.linalg.inv(self.affine).T)[..., 2::-1]

    def axis_coordinates(self) -> dict[str, np.ndarray]:
        """Coordinates (mm) along each array axis, measured along that axis's direction."""
        origin = np.asarray(self.origin)
        d = np.asarray(self.direction)
        nz, ny, nx = self.shape
        dz, dy, dx = self.spacing
        return {
            "z": float(origin @ d[2]) + dz * np.arange(nz),
            "y": float(origin @ d[1]) + dy * np.arange(ny),
            "x": float(origin @ d[0]) + dx * np.arange(nx),
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "shape": list(self.shape),
            "spacing": list(self.spacing),
            "origin": list(self.origin),
            "direction": [list(v) for v in self.direction],
            "known": self.known,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VolumeGeometry:
        """Inverse of :meth:`to_dict`."""
        return cls(
            shape=tuple(int(v) for v in d["shape"]),  # type: ignore[arg-type]
            spacing=tuple(float(v) for v in d["spacing"]),  # type: ignore[arg-type]
            origin=tuple(float(v) for v in d["origin"]),  # type: ignore[arg-type]
            direction=tuple(tuple(float(x) for x in v) for v in d["direction"]),
            known=bool(d.get("known", True)),
        )

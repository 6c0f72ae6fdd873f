"""Slices of a volume for display: planes, physical aspect, orientation labels, a block cache, thumbnails.

No widget code here: :class:`SliceSource` is what a viewer asks for the slice it shows,
and it is usable (and tested) without a browser.
"""

from __future__ import annotations

import struct
import threading
import zlib
from typing import Any

import numpy as np
import xarray as xr

from pacslab._lru import ByteBudgetCache

__all__ = ["PLANES", "SliceSource", "orientation_label", "png_bytes", "thumbnail_png", "window_to_uint8"]

PLANES = ("axial", "coronal", "sagittal")
# Which volume axis (z=0, y=1, x=2) each plane cuts, and the (row, column) axes it shows.
_CUT = {"axial": 0, "coronal": 1, "sagittal": 2}
_SHOWN = {"axial": (1, 2), "coronal": (0, 2), "sagittal": (0, 1)}
_LETTERS = (("L", "R"), ("P", "A"), ("S", "I"))  # +x, -x (LPS patient axes)


def orientation_label(vector: Any, *, threshold: float = 0.3) -> str:
    """The patient-direction letters of an LPS vector, largest component first (``[0.9, 0, 0.4]`` → ``"LS"``)."""
    v = np.asarray(vector, dtype=float)
    out = []
    for axis in np.argsort(-np.abs(v)):
        if abs(v[axis]) >= threshold:
            out.append(_LETTERS[axis][0 if v[axis] > 0 else 1])
    return "".join(out[:2]) or "?"


def _plain_volume(volume: xr.DataArray) -> xr.DataArray:
    """Reduce colour and 4-D volumes to one (z, y, x) volume: first extra index, channel mean."""
    for dim in list(volume.dims):
        if dim not in ("z", "y", "x", "c"):
            volume = volume.isel({dim: 0})
    if "c" in volume.dims:
        volume = volume.astype("float32").mean("c", keep_attrs=True)
    return volume.transpose("z", "y", "x")


class SliceSource:
    """Slices of one (z, y, x) volume in axial, coronal and sagittal planes, cached by blocks of slices.

    Parameters
    ----------
    volume : xarray.DataArray
        A pacslab volume (``archive.open_volume``), lazy or loaded; colour volumes are shown as
        the channel mean, 4-D volumes at their first position.
    cache_bytes : int
        Memory for cached blocks of slices.

    Notes
    -----
    Planes follow the array: *axial* shows ``volume[k]`` (rows y, columns x), *coronal*
    ``volume[:, j]`` (rows z, columns x) and *sagittal* ``volume[:, :, i]`` (rows z, columns y).
    Coronal and sagittal slices are flipped vertically when the slice normal points to the head,
    so that superior is up. ``pixel_spacing(plane)`` gives the physical (row, column) spacing the
    browser uses for the true aspect ratio.
    """

    def __init__(self, volume: xr.DataArray, *, cache_bytes: int = 512 * 2**20) -> None:
        self.volume = _plain_volume(volume)
        self.attrs = dict(volume.attrs)
        self.shape: tuple[int, int, int] = tuple(int(n) for n in self.volume.shape)  # type: ignore[assignment]
        self.spacing = tuple(float(s) for s in self.attrs.get("spacing", (1.0, 1.0, 1.0)))
        self.affine = np.asarray(
            self.attrs.get("affine", np.diag([self.spacing[2], self.spacing[1], self.spacing[0], 1]))
        )
        self.direction = np.asarray(self.attrs.get("direction", np.eye(3)), dtype=float)
        chunks = self.volume.chunks
        self.block = int(chunks[0][0]) if chunks else self.shape[0]
        self._blocks: ByteBudgetCache[int, np.ndarray] = ByteBudgetCache(cache_bytes)
        self.flip_rows = bool(self.direction[2][2] > 0)  # normal toward the head: draw z from top down reversed

    # -- geometry --------------------------------------------------------------------------------
    def n_slices(self, plane: str) -> int:
        """How many slices *plane* has."""
        return self.shape[_CUT[_check(plane)]]

    def pixel_spacing(self, plane: str) -> tuple[float, float]:
        """Physical (row, column) spacing in mm of the image shown for *plane*."""
        r, c = _SHOWN[_check(plane)]
        return self.spacing[r], self.spacing[c]

    def _flipped(self, plane: str) -> bool:
        return plane != "axial" and self.flip_rows

    def to_voxel(self, plane: str, index: float, points: Any) -> np.ndarray:
        """Continuous ``(k, j, i)`` voxel indices of display points ``[[column, row], …]`` on a slice."""
        p = np.atleast_2d(np.asarray(points, dtype=float))
        col, row = p[:, 0], p[:, 1]
        if self._flipped(plane):
            row = (self.n_rows(plane) - 1) - row
        out = np.empty((len(p), 3))
        r, c = _SHOWN[plane]
        out[:, _CUT[plane]] = index
        out[:, r] = row
        out[:, c] = col
        return out

    def to_display(self, plane: str, voxels: Any) -> tuple[float, np.ndarray]:
        """Inverse of :meth:`to_voxel`: ``(slice index, [[column, row], …])``."""
        v = np.atleast_2d(np.asarray(voxels, dtype=float))
        r, c = _SHOWN[_check(plane)]
        row = v[:, r].copy()
        if self._flipped(plane):
            row = (self.n_rows(plane) - 1) - row
        return float(v[0, _CUT[plane]]), np.stack([v[:, c], row], axis=1)

    def n_rows(self, plane: str) -> int:
        """Rows of the image shown for *plane*."""
        return self.shape[_SHOWN[_check(plane)][0]]

    def to_patient(self, voxels: Any) -> np.ndarray:
        """Patient coordinates (mm, LPS) of ``(k, j, i)`` voxel indices."""
        kji = np.atleast_2d(np.asarray(voxels, dtype=float))
        ijk1 = np.concatenate([kji[:, ::-1], np.ones((len(kji), 1))], axis=1)
        return (ijk1 @ self.affine.T)[:, :3]

    def from_patient(self, points: Any) -> np.ndarray:
        """``(k, j, i)`` voxel indices of patient points (mm)."""
        xyz = np.atleast_2d(np.asarray(points, dtype=float))
        xyz1 = np.concatenate([xyz, np.ones((len(xyz), 1))], axis=1)
        return (xyz1 @ np.linalg.inv(self.affine).T)[:, 2::-1]

    def axis_vectors(self, plane: str) -> tuple[np.ndarray, np.ndarray]:
        """Patient directions of increasing display column and increasing display row."""
        axis_vec = {2: self.direction[0], 1: self.direction[1], 0: self.direction[2]}
        r, c = _SHOWN[_check(plane)]
        down = np.asarray(axis_vec[r]) * (-1 if self._flipped(plane) else 1)
        return np.asarray(axis_vec[c]), down

    def orientation(self, plane: str) -> dict[str, str]:
        """Orientation markers at the four sides of the displayed image."""
        right, down = self.axis_vectors(plane)
        return {
            "right": orientation_label(right),
            "left": orientation_label(-right),
            "bottom": orientation_label(down),
            "top": orientation_label(-down),
        }

    def geometry(self, plane: str) -> dict[str, Any]:
        """What the browser needs to draw and read out a plane (JSON-ready)."""
        rows, cols = self.pixel_spacing(plane)
        r, c = _SHOWN[_check(plane)]
        return {
            "plane": plane,
            "n_slices": self.n_slices(plane),
            "rows": self.shape[r],
            "columns": self.shape[c],
            "row_spacing": rows,
            "column_spacing": cols,
            "orientation": self.orientation(plane),
            "flip_rows": self._flipped(plane),
            "affine": self.affine.tolist(),
        }

    # -- pixels ----------------------------------------------------------------------------------
    def _load_block(self, b: int) -> np.ndarray:
        data = self._blocks.get(b)
        if data is None:
            z0 = b * self.block
            data = np.asarray(self.volume[z0 : z0 + self.block].values)
            self._blocks.put(b, data)
        return data

    def _all(self) -> np.ndarray:
        n = -(-self.shape[0] // self.block)
        return np.concatenate([self._load_block(b) for b in range(n)])

    def slice(self, plane: str, index: int) -> np.ndarray:
        """The 2-D image of *plane* at *index*, rows and columns as displayed."""
        n = self.n_slices(plane)
        if not 0 <= index < n:
            raise IndexError(f"Slice {index!r} is outside 0..{n - 1} of the {plane} plane.")
        if plane == "axial":
            return self._load_block(index // self.block)[index % self.block]
        data = self._all()
        image = data[:, index, :] if plane == "coronal" else data[:, :, index]
        return image[::-1] if self._flipped(plane) else image

    def prefetch(self, plane: str, index: int) -> None:
        """Load the blocks around *index* in a background thread."""
        if plane != "axial":
            targets = list(range(-(-self.shape[0] // self.block)))
        else:
            b = index // self.block
            targets = [t for t in (b - 1, b, b + 1) if 0 <= t * self.block < self.shape[0]]
        missing = [t for t in targets if t not in self._blocks]
        if missing:
            threading.Thread(target=lambda: [self._load_block(t) for t in missing], daemon=True).start()

    def encode(self, image: np.ndarray) -> tuple[str, bytes]:
        """``(dtype, raw little-endian bytes)`` of a slice: int16 when the values are whole and fit."""
        if image.dtype.kind in "iu" or (np.all(np.isfinite(image)) and np.array_equal(image, np.round(image))):
            if image.size == 0 or (image.min() >= -32768 and image.max() <= 32767):
                return "int16", np.ascontiguousarray(image, dtype="<i2").tobytes()
        return "float32", np.ascontiguousarray(image, dtype="<f4").tobytes()

    def middle(self) -> np.ndarray:
        """The middle axial slice."""
        return self.slice("axial", self.shape[0] // 2)


def _check(plane: str) -> str:
    if plane not in PLANES:
        raise ValueError(f"Unknown plane {plane!r}; use one of {', '.join(PLANES)}.")
    return plane


def auto_window(image: np.ndarray) -> tuple[float, float]:
    """A (center, width) window from the 1st–99th percentiles (MR and anything without presets)."""
    finite = image[np.isfinite(image)] if image.dtype.kind == "f" else image
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [1, 99])
    return float((lo + hi) / 2), float(max(hi - lo, 1.0))


def window_to_uint8(image: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM linear VOI LUT (PS3.3 C.11.2.1.2) to 8 bits."""
    lo = center - 0.5 - (width - 1) / 2
    out = (np.asarray(image, dtype=np.float32) - lo) / max(width - 1, 1) * 255.0
    return np.clip(out, 0, 255).astype(np.uint8)


def png_bytes(gray: np.ndarray) -> bytes:
    """An 8-bit greyscale PNG (no imaging library needed)."""
    h, w = gray.shape
    raw = b"".join(b"\x00" + gray[r].tobytes() for r in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def thumbnail_png(volume: xr.DataArray, *, size: int = 96) -> bytes:
    """A PNG of the middle slice, windowed with the first preset (or automatically), at most *size* pixels."""
    source = SliceSource(volume)
    image = np.asarray(source.middle(), dtype=np.float32)
    presets = source.attrs.get("window_presets") or []
    if presets:
        center, width = float(presets[0]["center"]), float(presets[0]["width"])
    else:
        center, width = auto_window(image)
    step = max(1, int(np.ceil(max(image.shape) / size)))
    return png_bytes(window_to_uint8(image[::step, ::step], center, width))

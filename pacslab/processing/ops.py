"""Lazy operations on volumes: resampling, reformatting, projections, masks, user functions.

Every function here takes a dask-backed :class:`xarray.DataArray` as returned by
:meth:`pacslab.Archive.open_volume` and returns a new lazy one (or lazy dask
objects). Nothing is computed: the work happens when the caller asks, with the
scheduler of its choice (see :func:`pacslab.analysis.run_cohort`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr

from pacslab.processing.reductions import stored_mask
from pacslab.volumes.geometry import VolumeGeometry

__all__ = [
    "PLANES",
    "geometry_of",
    "is_lazy",
    "map_volume",
    "project",
    "reformat",
    "resample",
    "threshold",
    "whole",
]

#: Standard planes as DICOM ImageOrientationPatient (row direction, column direction) in LPS.
PLANES: dict[str, tuple[float, ...]] = {
    "axial": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    "coronal": (1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
    "sagittal": (0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
}

_PROJECTIONS = ("max", "min", "mean")


def geometry_of(volume: xr.DataArray) -> VolumeGeometry:
    """The :class:`~pacslab.volumes.VolumeGeometry` of a volume opened from the archive (or made here)."""
    a = volume.attrs
    shape = tuple(int(volume.sizes[d]) for d in ("z", "y", "x"))
    return VolumeGeometry(
        shape=shape,  # type: ignore[arg-type]
        spacing=tuple(float(s) for s in a["spacing"]),  # type: ignore[arg-type]
        origin=tuple(float(o) for o in a["origin"]),  # type: ignore[arg-type]
        direction=tuple(tuple(float(c) for c in v) for v in a["direction"]),  # type: ignore[misc]
        known=bool(a.get("geometry_known", True)),
    )


def _with_geometry(data: Any, geometry: VolumeGeometry, like: xr.DataArray, **attrs: Any) -> xr.DataArray:
    coords = geometry.axis_coordinates()
    new_attrs = {k: v for k, v in like.attrs.items() if k not in ("spacing", "origin", "direction", "affine")}
    new_attrs.update(
        spacing=tuple(geometry.spacing),
        origin=tuple(geometry.origin),
        direction=tuple(geometry.direction),
        affine=geometry.affine.tolist(),
        **attrs,
    )
    return xr.DataArray(data, dims=("z", "y", "x"), coords=coords, name=like.name, attrs=new_attrs)


def _check_3d(volume: xr.DataArray) -> None:
    if tuple(volume.dims) != ("z", "y", "x"):
        raise ValueError(
            f"Expected a 3-D volume with dims ('z', 'y', 'x'), got dims {tuple(volume.dims)!r}; "
            "select one channel or time point first, e.g. volume.isel(temporal_position=0)."
        )


def whole(volume: xr.DataArray) -> da.Array:
    """The volume's dask array as a single chunk (for operations that need all of it at once)."""
    if not isinstance(volume.data, da.Array):
        return da.from_array(volume.data)
    # "tasks": a plain concatenation; distributed's default (p2p) would shuffle the volume through disk
    return volume.data.rechunk(volume.data.shape, method="tasks")


def _triple(spacing: float | Sequence[float]) -> tuple[float, ...]:
    if isinstance(spacing, int | float | np.number):
        return (float(spacing),) * 3
    return tuple(float(s) for s in spacing)


def resample(
    volume: xr.DataArray, spacing: float | Sequence[float], *, order: int = 1, chunks: Any = None
) -> xr.DataArray:
    """Resample a volume to a target voxel spacing (mm), in its own orientation.

    Parameters
    ----------
    volume : xarray.DataArray
        A ``(z, y, x)`` volume from :meth:`pacslab.Archive.open_volume`.
    spacing : float or (dz, dy, dx)
        Target spacing in mm; one number means isotropic.
    order : int
        Spline order (0 nearest — use it for label volumes — 1 linear, 3 cubic).
    chunks : (int, ...), optional
        Dask chunks of the result: slices per chunk first (8 by default).

    Returns
    -------
    xarray.DataArray
        Lazy; same origin and direction, new shape, spacing and coordinates.

    Examples
    --------
    >>> iso = resample(volume, 1.0)  # doctest: +SKIP
    """
    _check_3d(volume)
    target = _triple(spacing)
    if len(target) != 3 or min(target) <= 0:
        raise ValueError(f"spacing must be one positive number or three (dz, dy, dx), got {spacing!r}.")
    g = geometry_of(volume)
    extent = [(n - 1) * s for n, s in zip(g.shape, g.spacing, strict=True)]
    shape = tuple(int(np.floor(e / t + 1e-6)) + 1 for e, t in zip(extent, target, strict=True))
    out = VolumeGeometry(shape=shape, spacing=target, origin=g.origin, direction=g.direction, known=g.known)  # type: ignore[arg-type]
    scale = np.asarray(target) / np.asarray(g.spacing)
    matrix = np.diag(scale)
    return _sample(volume, out, matrix, np.zeros(3), order=order, chunks=chunks)


def reformat(
    volume: xr.DataArray,
    plane: str | Sequence[float] = "axial",
    *,
    spacing: float | Sequence[float] | None = None,
    order: int = 1,
    fill_value: float | None = None,
    chunks: Any = None,
) -> xr.DataArray:
    """Multi-planar reformat: resample a volume onto a grid of another orientation.

    Parameters
    ----------
    volume : xarray.DataArray
        A ``(z, y, x)`` volume with known patient geometry.
    plane : {"axial", "coronal", "sagittal"} or 6 direction cosines
        The new slice orientation, as DICOM ImageOrientationPatient (row, then column
        direction in LPS) for oblique planes.
    spacing : float or (dz, dy, dx), optional
        Output spacing (mm); the smallest input spacing, isotropic, by default.
    order : int
        Spline order (0 for label volumes).
    fill_value : float, optional
        Value of output voxels outside the input: -1024 (air) for HU volumes, 0 otherwise.
    chunks : optional
        Dask chunks of the result.

    Returns
    -------
    xarray.DataArray
        Lazy; covers the whole input, slices stacked along the new normal.
    """
    _check_3d(volume)
    cosines = PLANES[plane] if isinstance(plane, str) and plane in PLANES else plane
    if isinstance(cosines, str) or len(cosines) != 6:
        raise ValueError(f"plane must be one of {sorted(PLANES)} or 6 direction cosines, got {plane!r}.")
    row, col = np.asarray(cosines[:3], float), np.asarray(cosines[3:], float)
    row, col = row / np.linalg.norm(row), col / np.linalg.norm(col)
    if abs(row @ col) > 1e-3:
        raise ValueError(f"The row and column directions of {plane!r} are not orthogonal.")
    normal = np.cross(row, col)
    g = geometry_of(volume)
    target = (min(g.spacing),) * 3 if spacing is None else _triple(spacing)
    corners = np.array(
        [[k, j, i] for k in (0, g.shape[0] - 1) for j in (0, g.shape[1] - 1) for i in (0, g.shape[2] - 1)]
    )
    points = g.index_to_patient(corners)
    new_dir = np.stack([row, col, normal])
    along = points @ new_dir.T  # (8, 3): coordinates along x, y, z of the new frame
    lo, hi = along.min(axis=0), along.max(axis=0)
    spacing_xyz = np.array([target[2], target[1], target[0]])
    n_xyz = np.floor((hi - lo) / spacing_xyz + 1e-6).astype(int) + 1
    origin = lo @ new_dir
    out = VolumeGeometry(
        shape=(int(n_xyz[2]), int(n_xyz[1]), int(n_xyz[0])),
        spacing=target,  # type: ignore[arg-type]
        origin=tuple(float(v) for v in origin),  # type: ignore[arg-type]
        direction=tuple(tuple(float(c) for c in v) for v in new_dir),  # type: ignore[misc]
        known=g.known,
    )
    # output index (k, j, i) -> input index: inv(A_in) @ A_out, in (k, j, i) order
    m = np.linalg.inv(g.affine) @ out.affine
    perm = [2, 1, 0]
    matrix = m[:3, :3][np.ix_(perm, perm)]
    offset = m[:3, 3][perm]
    if fill_value is None:
        fill_value = -1024.0 if volume.attrs.get("units") == "HU" else 0.0
    return _sample(volume, out, matrix, offset, order=order, chunks=chunks, fill_value=fill_value)


def _sample(
    volume: xr.DataArray,
    out: VolumeGeometry,
    matrix: np.ndarray,
    offset: np.ndarray,
    *,
    order: int,
    chunks: Any,
    fill_value: float = 0.0,
) -> xr.DataArray:
    """Lazily sample *volume* at ``matrix @ (k, j, i) + offset`` for every output voxel."""
    source = whole(volume).to_delayed().ravel()[0]
    dtype = volume.dtype if order == 0 else np.result_type(volume.dtype, np.float32)
    nz = out.shape[0]
    step = int(chunks[0]) if chunks is not None else max(1, min(8, nz))
    slabs = []
    for k0 in range(0, nz, step):
        shape = (min(step, nz - k0), out.shape[1], out.shape[2])
        task = dask.delayed(_sample_slab, pure=True)(
            source, k0, shape, matrix=matrix, offset=offset, order=order, fill_value=fill_value, dtype=dtype
        )
        slabs.append(da.from_delayed(task, shape=shape, dtype=dtype))
    return _with_geometry(da.concatenate(slabs, axis=0), out, volume)


def _sample_slab(
    source: np.ndarray,
    k0: int,
    shape: tuple[int, int, int],
    *,
    matrix: np.ndarray,
    offset: np.ndarray,
    order: int,
    fill_value: float,
    dtype: Any,
) -> np.ndarray:
    from scipy import ndimage

    k, j, i = np.meshgrid(np.arange(k0, k0 + shape[0]), np.arange(shape[1]), np.arange(shape[2]), indexing="ij")
    index = np.stack([k.ravel(), j.ravel(), i.ravel()]).astype(float)
    coords = matrix @ index + offset[:, None]
    values = ndimage.map_coordinates(
        np.asarray(source), coords, order=order, mode="constant", cval=fill_value, prefilter=order > 1
    )
    return values.reshape(shape).astype(dtype, copy=False)


def project(volume: xr.DataArray, kind: str = "max", *, dim: str = "z") -> xr.DataArray:
    """Maximum (MIP), minimum (MinIP) or mean intensity projection along one axis.

    Parameters
    ----------
    kind : {"max", "min", "mean"}
    dim : {"z", "y", "x"}
        The axis projected away; combine with :func:`reformat` for coronal or oblique MIPs.

    Returns
    -------
    xarray.DataArray
        Lazy 2-D image, with the volume's attributes and ``projection`` added.
    """
    if kind not in _PROJECTIONS:
        raise ValueError(f"kind must be one of {_PROJECTIONS}, got {kind!r}.")
    if dim not in volume.dims:
        raise ValueError(f"dim must be one of {tuple(volume.dims)}, got {dim!r}.")
    out = getattr(volume, kind)(dim=dim, keep_attrs=True)
    out.attrs["projection"] = f"{kind} along {dim}"
    return out


def threshold(volume: xr.DataArray, lower: float | None = None, upper: float | None = None) -> xr.DataArray:
    """A lazy boolean mask of ``lower <= volume <= upper`` (either bound open).

    On a volume fresh from ``open_volume`` the test runs on the stored integers (same result,
    no float copy of the volume).
    """

    def inside(values: Any) -> Any:
        mask = True
        if lower is not None:
            mask = mask & (values >= lower)
        if upper is not None:
            mask = mask & (values <= upper)
        return mask

    fast = stored_mask(volume, inside)
    if fast is not None:
        mask = xr.DataArray(fast, dims=volume.dims, coords=volume.coords, name=volume.name)
    else:
        mask = xr.ones_like(volume, dtype=bool) & inside(volume)
    mask.attrs = {**volume.attrs, "units": None}
    return mask


def map_volume(
    func: Callable[..., np.ndarray],
    volume: xr.DataArray,
    *args: Any,
    depth: int | Sequence[int] = 0,
    boundary: str = "reflect",
    dtype: Any = None,
    whole_volume: bool = False,
    **kwargs: Any,
) -> xr.DataArray:
    """Apply a NumPy function lazily, chunk by chunk (with *depth* voxels of overlap) or to the whole volume.

    Parameters
    ----------
    func : callable
        ``func(block, *args, **kwargs) -> ndarray`` of the block's shape.
    volume : xarray.DataArray
    depth : int or (dz, dy, dx)
        Overlap between chunks (``dask.array.map_overlap``); 0 is ``map_blocks``.
    boundary : str
        How the volume's own edges are padded when *depth* > 0.
    dtype : optional
        The result's dtype (the input's by default).
    whole_volume : bool
        Call *func* once on the whole volume (one task, one volume in memory).

    Returns
    -------
    xarray.DataArray
        Lazy, with the volume's coordinates and attributes.

    Examples
    --------
    >>> from scipy import ndimage
    >>> smooth = map_volume(ndimage.gaussian_filter, volume, 1.0, depth=4)  # doctest: +SKIP
    """
    dtype = volume.dtype if dtype is None else np.dtype(dtype)
    data = volume.data if isinstance(volume.data, da.Array) else da.from_array(volume.data)
    if whole_volume:
        data = data.rechunk(data.shape, method="tasks")
    if whole_volume or not np.any(depth):
        out = data.map_blocks(func, *args, dtype=dtype, **kwargs)
    else:
        out = data.map_overlap(func, *args, depth=depth, boundary=boundary, dtype=dtype, **kwargs)
    return xr.DataArray(out, dims=volume.dims, coords=volume.coords, name=volume.name, attrs=dict(volume.attrs))


def is_lazy(obj: Any) -> bool:
    """True when *obj* (or what it wraps) is a dask collection."""
    return dask.is_dask_collection(obj) or dask.is_dask_collection(getattr(obj, "data", None))

"""Lazy reductions over volumes: intensity statistics and histograms, whole or inside a mask.

Results are dask objects (or dicts of them); nothing is computed here. Values are in
the volume's units — modality units (HU for CT) for volumes opened with ``rescale=True``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

__all__ = ["histogram", "intensity_statistics", "percentiles_from_histogram"]

#: Default histogram range (HU) and bin width for CT: the whole stored range at 1 HU.
CT_RANGE = (-1024.0, 3072.0)


def _data(x: xr.DataArray | da.Array | np.ndarray) -> da.Array:
    data = x.data if isinstance(x, xr.DataArray) else x
    return data if isinstance(data, da.Array) else da.from_array(np.asarray(data))


def _default_range(volume: xr.DataArray) -> tuple[float, float]:
    if volume.attrs.get("units") == "HU":
        return CT_RANGE
    raise ValueError(
        f"Give value_range=(low, high) for a volume that is not in HU (its units are {volume.attrs.get('units')!r})."
    )


def histogram(
    volume: xr.DataArray,
    *,
    mask: xr.DataArray | da.Array | np.ndarray | None = None,
    bins: int | None = None,
    value_range: tuple[float, float] | None = None,
    bin_width: float = 1.0,
) -> tuple[da.Array, np.ndarray]:
    """A lazy histogram of a volume's values, optionally inside a mask.

    Parameters
    ----------
    volume : xarray.DataArray
    mask : array-like of bool, optional
        Same shape as *volume*; only voxels where it is true count.
    bins : int, optional
        Number of bins (by default the range divided by *bin_width*).
    value_range : (float, float), optional
        Low and high edges; the CT range (-1024, 3072) HU for CT volumes.
    bin_width : float
        Width of a bin when *bins* is not given.

    Returns
    -------
    counts : dask.array.Array
        Lazy int64 counts (values outside the range are not counted).
    edges : numpy.ndarray
        The ``bins + 1`` bin edges.
    """
    lo, hi = value_range if value_range is not None else _default_range(volume)
    n = int(bins) if bins is not None else max(1, int(round((hi - lo) / bin_width)))
    edges = np.linspace(lo, hi, n + 1)
    data = _data(volume)
    weights = None
    if mask is not None:
        weights = _data(mask).astype(np.int64).rechunk(data.chunks)
    counts, _ = da.histogram(data, bins=edges, weights=weights)
    return counts.astype(np.int64), edges


def intensity_statistics(
    volume: xr.DataArray,
    *,
    mask: xr.DataArray | da.Array | np.ndarray | None = None,
) -> dict[str, da.Array]:
    """Lazy first-order statistics of a volume's values (in its units), optionally inside a mask.

    Parameters
    ----------
    volume : xarray.DataArray
    mask : array-like of bool, optional

    Returns
    -------
    dict of str to dask scalar
        ``count``, ``mean``, ``std`` (population), ``min``, ``max``, ``sum``, ``energy``
        (sum of squares). Compute them together: ``dask.compute(stats)``.
    """
    stored = _stored(volume) if mask is None else None
    if stored is not None:
        return _integer_statistics(*stored)
    data = _data(volume)
    if not np.issubdtype(data.dtype, np.floating):
        data = data.astype(np.float64)
    f64 = np.float64
    if mask is None:  # one pass each, no mask arrays
        count: Any = data.size
        total = data.sum(dtype=f64)
        energy = (data * data).sum(dtype=f64)
        low, high = data.min().astype(f64), data.max().astype(f64)
    else:
        m = _data(mask).astype(bool).rechunk(data.chunks)
        count = m.sum()
        inside = da.where(m, data, 0)
        total = inside.sum(dtype=f64)
        energy = (inside * inside).sum(dtype=f64)
        low = da.where(m, data, np.inf).min().astype(f64)
        high = da.where(m, data, -np.inf).max().astype(f64)
    mean = total / da.maximum(count, 1)
    var = da.maximum(energy / da.maximum(count, 1) - mean * mean, 0.0)
    return {"count": count, "mean": mean, "std": da.sqrt(var), "min": low, "max": high, "sum": total, "energy": energy}


def _stored(volume: Any) -> tuple[da.Array, float, float] | None:
    """``(stored integers, slope, intercept)`` of a volume fresh from ``open_volume``, else None."""
    if not isinstance(volume, xr.DataArray):
        return None
    enc = volume.encoding
    stored = enc.get("stored")
    if (
        not isinstance(stored, da.Array)
        or not np.issubdtype(stored.dtype, np.integer)
        or stored.dtype.itemsize > 2
        or stored.shape != volume.shape
        or "scale_factor" not in enc
        or not isinstance(volume.data, da.Array)
        or volume.data.name != enc.get("stored_as")  # changed since it was opened (shift, copy(data=...))
    ):
        return None
    return stored, float(enc["scale_factor"]), float(enc.get("add_offset", 0.0))


def stored_mask(volume: Any, predicate: Callable[[np.ndarray], np.ndarray]) -> da.Array | None:
    """``predicate(volume)`` computed on the stored integers of a volume fresh from ``open_volume``, or None.

    The predicate (an elementwise test of modality values, ``lambda hu: hu > -500``) is
    evaluated once on every value the stored type can hold, rescaled exactly as
    :func:`pacslab.volumes.store.read_volume` rescales them, so the mask is the same, bit
    for bit, as ``predicate(volume)`` -- without the float copy of the volume. An interval
    of stored values becomes two integer comparisons, anything else a lookup table.
    """
    stored = _stored(volume)
    if stored is None:
        return None
    data, slope, intercept = stored
    info = np.iinfo(data.dtype)
    values = np.arange(info.min, info.max + 1, dtype=data.dtype)
    ftype = np.float32  # _stored only passes integers of at most 2 bytes: read_volume rescales them in float32
    hu = values.astype(ftype) * ftype(slope) + ftype(intercept)
    lut = np.broadcast_to(np.asarray(predicate(hu), dtype=bool), values.shape)
    inside = np.flatnonzero(lut)
    if inside.size == 0:
        return da.zeros(data.shape, dtype=bool, chunks=data.chunks)
    if inside[-1] - inside[0] + 1 == inside.size:  # one run of stored values
        lo, hi = values[inside[0]], values[inside[-1]]
        if lo == info.min and hi == info.max:
            return da.ones(data.shape, dtype=bool, chunks=data.chunks)
        if lo == info.min:
            return data <= hi
        if hi == info.max:
            return data >= lo
        return (data >= lo) & (data <= hi)
    return data.map_blocks(_lookup, lut, -int(info.min), dtype=bool)


def _lookup(block: np.ndarray, lut: np.ndarray, offset: int) -> np.ndarray:
    return lut[block.astype(np.int32) + offset]


def _block_moments(block: np.ndarray) -> tuple[int, int, int, int, int]:
    """Exact ``(count, sum, sum of squares, min, max)`` of an integer block (no float copies)."""
    flat = block.ravel()
    if flat.size == 0:
        return 0, 0, 0, 0, 0
    total = int(flat.sum(dtype=np.int64))
    energy = int(np.einsum("i,i->", flat, flat, dtype=np.int64))
    return flat.size, total, energy, int(flat.min()), int(flat.max())


def _combine_moments(parts: list[tuple[int, int, int, int, int]], slope: float, intercept: float) -> np.ndarray:
    parts = [p for p in parts if p[0]]
    n = sum(p[0] for p in parts)
    s = sum(p[1] for p in parts)
    e = sum(p[2] for p in parts)
    if n == 0:
        return np.array([0, np.nan, np.nan, np.nan, np.nan, 0.0, 0.0])
    lo, hi = min(p[3] for p in parts), max(p[4] for p in parts)
    var_stored = (n * e - s * s) / (n * n)  # exact integers until this division
    mean = slope * s / n + intercept
    lo_v, hi_v = sorted((slope * lo + intercept, slope * hi + intercept))
    total = slope * s + intercept * n
    energy = slope * slope * e + 2 * slope * intercept * s + intercept * intercept * n
    return np.array([n, mean, abs(slope) * np.sqrt(max(var_stored, 0.0)), lo_v, hi_v, total, energy], dtype=np.float64)


def _integer_statistics(stored: da.Array, slope: float, intercept: float) -> dict[str, da.Array]:
    """:func:`intensity_statistics` from the stored integers: one pass per block, exact sums, rescaled at the end."""
    import dask

    blocks = [dask.delayed(_block_moments, pure=True)(b) for b in stored.to_delayed().ravel()]
    combined = da.from_delayed(
        dask.delayed(_combine_moments, pure=True)(blocks, slope, intercept), shape=(7,), dtype=np.float64
    )
    names = ("count", "mean", "std", "min", "max", "sum", "energy")
    return {name: combined[i] for i, name in enumerate(names)}


def percentiles_from_histogram(
    counts: np.ndarray, edges: np.ndarray, q: Sequence[float] = (10, 25, 50, 75, 90)
) -> dict[float, float]:
    """Percentiles (linear within a bin) from a computed histogram.

    Exact to the bin width: with the default 1-HU bins of CT, to 1 HU.
    """
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    out: dict[float, float] = {}
    if total == 0:
        return {float(p): float("nan") for p in q}
    cdf = np.concatenate([[0.0], np.cumsum(counts)]) / total
    for p in q:
        out[float(p)] = float(np.interp(p / 100.0, cdf, edges))
    return out


def describe(stats: dict[str, Any]) -> dict[str, float]:
    """Computed statistics as plain floats."""
    return {k: float(v) for k, v in stats.items()}

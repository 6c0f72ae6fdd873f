"""Lazy processing of volumes with dask: nothing here calls ``.compute()``.

Operations take the dask-backed :class:`xarray.DataArray` of
:meth:`pacslab.Archive.open_volume` and return lazy results, built with
``map_blocks`` / ``map_overlap`` and dask reductions.
"""

from __future__ import annotations

from pacslab.processing.ops import (
    PLANES,
    geometry_of,
    is_lazy,
    map_volume,
    project,
    reformat,
    resample,
    threshold,
    whole,
)
from pacslab.processing.reductions import histogram, intensity_statistics, percentiles_from_histogram

__all__ = [
    "PLANES",
    "geometry_of",
    "histogram",
    "intensity_statistics",
    "is_lazy",
    "map_volume",
    "percentiles_from_histogram",
    "project",
    "reformat",
    "resample",
    "threshold",
    "whole",
]

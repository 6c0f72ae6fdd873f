"""Shared helpers of the analysis tests: phantoms of known geometry, archives, a no-compute guard."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import numpy as np

import pacslab
from pacslab import examples


@contextlib.contextmanager
def raise_if_dask_computes() -> Iterator[None]:
    """Fail if anything inside computes a dask graph (xarray's tests/__init__.py idea)."""

    def scheduler(dsk: Any, keys: Any, **kwargs: Any) -> Any:
        raise RuntimeError("A dask graph was computed where everything should stay lazy.")

    with dask.config.set(scheduler=scheduler):
        yield


def rotated_axes(ax: float, ay: float, az: float) -> tuple[tuple[float, float, float], ...]:
    """Three orthonormal directions: the rows of a rotation matrix."""
    c = np.array(examples.oblique_orientation(ax, ay, az), dtype=float).reshape(2, 3)
    m = np.vstack([c, np.cross(c[0], c[1])])
    return tuple(tuple(float(v) for v in row) for row in m)


#: Two ellipsoids: a rotated one (300 HU) and a sphere (-400 HU), large enough for 2 % at these voxels.
PHANTOM_ELLIPSOIDS = (
    examples.Ellipsoid((0.0, 0.0, 0.0), (24.0, 16.0, 12.0), 300.0, "ellipsoid", rotated_axes(30, 15, 20)),
    examples.Ellipsoid((30.0, -22.0, 4.0), (13.0, 13.0, 13.0), -400.0, "sphere"),
)

#: name -> (spacing (dz, dy, dx), shape, ImageOrientationPatient or None)
PHANTOMS = {
    "oblique": ((2.0, 0.8, 0.8), (46, 140, 140), examples.oblique_orientation(20.0, 0.0, 10.0)),
    "anisotropic": ((1.5, 0.7, 0.7), (60, 160, 160), None),
}


def phantom(kind: str, seed: int = 7) -> tuple[list[Any], dict[str, Any]]:
    spacing, shape, orientation = PHANTOMS[kind]
    return examples.generate_phantom_ct(
        seed=seed,
        ellipsoids=PHANTOM_ELLIPSOIDS,
        spacing=spacing,
        shape=shape,
        orientation=orientation,
        noise_sd=5.0,
        series_description=f"PHANTOM {kind.upper()}",
    )


def ingest(archive: pacslab.Archive, datasets: list[Any], folder: Path) -> str:
    examples.write_series(datasets, folder)
    report = archive.ingest(folder, progress=False)
    assert report.ok, report
    return str(datasets[0].SeriesInstanceUID)


def chest(seed: int, n_slices: int = 16, size: int = 96) -> list[Any]:
    """A small synthetic chest CT (body, lungs, spine and ribs) covering the usual field of view."""
    return examples.generate_ct_series(
        seed=seed,
        n_slices=n_slices,
        rows=size,
        columns=size,
        pixel_spacing=(358.4 / size, 358.4 / size),
        slice_thickness=5.0,
    )

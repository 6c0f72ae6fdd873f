"""pacslab as an xarray engine: ``xr.open_dataset(root, engine="pacslab", series_instance_uid=...)``."""

from __future__ import annotations

import os
from typing import Any

import xarray as xr
from xarray.backends import BackendEntrypoint

__all__ = ["PacslabBackendEntrypoint"]


class PacslabBackendEntrypoint(BackendEntrypoint):
    """Open a series of a pacslab archive as an :class:`xarray.Dataset` with one variable, ``image``."""

    description = "Open image series of a pacslab archive (Zarr volumes with DICOM geometry)."
    url = "https://github.com/pacslab/pacslab"
    open_dataset_parameters = (
        "filename_or_obj",
        "drop_variables",
        "series_instance_uid",
        "stack",
        "rescale",
    )

    def open_dataset(  # type: ignore[override]
        self,
        filename_or_obj: str | os.PathLike[str],
        *,
        drop_variables: Any = None,
        series_instance_uid: str,
        stack: int = 0,
        rescale: bool = True,
    ) -> xr.Dataset:
        """Open one series of the archive at *filename_or_obj*."""
        from pacslab.archive import open_archive

        archive = open_archive(filename_or_obj)
        volume = archive.open_volume(series_instance_uid, stack=stack, rescale=rescale)
        return volume.to_dataset(name="image")

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        """Only opened when asked for by name."""
        return False

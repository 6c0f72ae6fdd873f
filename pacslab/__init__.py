"""pacslab: an open imaging archive (PACS) for people who work in notebooks.

DICOM in — from files, folders, zips, watch folders, C-STORE and STOW-RS — kept
losslessly, indexed in a catalog, and every image series out as a chunked Zarr
volume with physical geometry, opened lazily as xarray / dask.

Examples
--------
>>> import pacslab
>>> archive = pacslab.open_archive("memory://example", create=True)
>>> archive.studies().empty
True
"""

from __future__ import annotations

import logging

from pacslab._deferred import deferred_imports, one_entry_point_scan

with one_entry_point_scan():  # pydicom's pixel plugins, fsspec and numcodecs look for plugins: once, not five times
    # pydicom's test-file downloader brings requests (~0.1 s of every start) and tqdm: imported when used
    with deferred_imports("requests", "tqdm"):
        import pydicom  # noqa: F401

    from pacslab.archive import Archive, VerifyReport, open_archive
    from pacslab.config import config
    from pacslab.errors import PacslabError
    from pacslab.export import ExportReport
    from pacslab.ingest import IngestReport
    from pacslab.volumes import VolumeGeometry

__version__ = "0.1.0"

__all__ = [
    "Archive",
    "ExportReport",
    "IngestReport",
    "PacslabError",
    "VerifyReport",
    "VolumeGeometry",
    "__version__",
    "config",
    "open_archive",
    "set_log_level",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())


def set_log_level(level: int | str = "INFO") -> None:
    """Send pacslab's log messages at *level* and above to stderr."""
    logger = logging.getLogger(__name__)
    logger.setLevel(level)
    if not any(
        isinstance(h, logging.StreamHandler) and not isinstance(h, logging.NullHandler) for h in logger.handlers
    ):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)

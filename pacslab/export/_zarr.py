"""OME-Zarr out: a copy of a volume's Zarr v3 group (NGFF 0.5 multiscale metadata and all) in a local folder."""

from __future__ import annotations

import os
import posixpath
import shutil
import uuid
from typing import TYPE_CHECKING

from pacslab.export._paths import target_path
from pacslab.export._volumes import VolumeJob
from pacslab.export.models import ExportError

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = ["write_ome_zarr"]


def write_ome_zarr(archive: Archive, job: VolumeJob, destination: str, *, deidentified: bool) -> str:
    """Copy one volume to ``destination/<base>.ome.zarr`` (replacing an earlier export); returns the path.

    The copy is assembled beside its final place and renamed into it, so a reader never
    sees half a volume. When *deidentified*, the group attributes are replaced by the
    de-identified ones of *job*.

    Raises
    ------
    ExportError
        The target exists and is not a folder of an earlier export (a file or a link).
    """
    path = target_path(destination, job.base + ".ome.zarr")
    if os.path.islink(path) or (os.path.exists(path) and not os.path.isdir(path)):
        raise ExportError(f"Refusing to replace {path!r}: it is a link or a file, not an earlier OME-Zarr export.")
    tmp = os.path.join(os.path.dirname(path), f".{uuid.uuid4().hex}.tmp.ome.zarr")
    try:
        _copy_group(archive, job.path, tmp)
        if deidentified:
            import zarr

            group = zarr.open_group(zarr.storage.LocalStore(tmp), mode="r+", zarr_format=3)
            group.attrs.put({"ome": job.ome, "pacslab": job.attrs})
        if os.path.isdir(path):
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    return path


def _copy_group(archive: Archive, source: str, target: str) -> None:
    base = source.rstrip("/")
    for key in sorted(archive.fs.find(base)):
        relative = key[len(base) + 1 :]
        parts = relative.split("/")
        if not relative or any(p in ("", ".", "..") for p in parts) or posixpath.isabs(relative):
            raise ExportError(f"Refusing to copy {key!r}: its name does not stay inside the volume {base!r}.")
        out = os.path.join(target, *parts)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "xb") as fh:
            fh.write(archive.fs.cat_file(key))

"""NIfTI-1 out (nibabel): one ``.nii.gz`` per volume, values in modality units, the affine in RAS.

DICOM patient coordinates are LPS (x to the patient's left, y to the back); NIfTI's
scanner coordinates are RAS (x to the right, y to the front). The NIfTI affine is
the volume's affine with its first two rows negated: ``diag(-1, -1, 1, 1) @ affine``.
Voxel ``(i, j, k)`` of the NIfTI array is column ``i``, row ``j`` and slice ``k`` of
the volume, so the array is the volume's ``(z, y, x)`` array transposed. A 4-D series
(echoes, temporal positions, …) puts its extra dimension 4th; colour samples go 5th
(NIfTI's vector dimension).
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any

import numpy as np

from pacslab.export._paths import target_path
from pacslab.export._volumes import VolumeJob
from pacslab.export.models import ExportError
from pacslab.volumes.store import read_volume

if TYPE_CHECKING:
    import xarray as xr

    from pacslab.archive import Archive

__all__ = ["LPS_TO_RAS", "nifti_affine", "write_nifti"]

#: Multiplying an LPS affine by this gives the RAS affine.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_SPATIAL = ("x", "y", "z")
_NIFTI_INTENT_VECTOR = 1007


def _nibabel() -> Any:
    try:
        import nibabel
    except ImportError:
        raise ExportError("NIfTI export needs nibabel: pip install 'pacslab[export]'.") from None
    return nibabel


def nifti_affine(affine: Any) -> np.ndarray:
    """The NIfTI (RAS) affine of a volume's DICOM (LPS) affine, both taking ``(i, j, k)`` = (column, row, slice)."""
    return LPS_TO_RAS @ np.asarray(affine, dtype=float)


def _values(volume: xr.DataArray) -> np.ndarray:
    """The voxels in modality units, in the smallest exact type: integers stay integers when they can."""
    data = np.asarray(volume.values)
    if data.dtype.kind != "f":
        return data
    finite = data[np.isfinite(data)]
    if finite.size and np.array_equal(finite, np.round(finite)):
        low, high = finite.min(), finite.max()
        for dtype in (np.int16, np.int32):
            info = np.iinfo(dtype)
            if info.min <= low and high <= info.max:
                return data.astype(dtype)
    return data.astype(np.float32)


def _array(volume: xr.DataArray, values: np.ndarray) -> np.ndarray:
    dims = list(volume.dims)
    extra = [d for d in dims if d not in (*_SPATIAL, "c")]
    order = [dims.index(d) for d in (*_SPATIAL, *extra)] + ([dims.index("c")] if "c" in dims else [])
    array = np.transpose(values, order)
    if "c" in dims and not extra:
        array = array[:, :, :, np.newaxis, :]
    return array


def _image(volume: xr.DataArray) -> Any:
    nib = _nibabel()
    array = _array(volume, _values(volume))
    affine = nifti_affine(volume.attrs["affine"])
    image = nib.Nifti1Image(array, affine)
    header = image.header
    header.set_data_dtype(array.dtype)
    code = 1 if volume.attrs.get("geometry_known", True) else 0  # 1: scanner-based anatomical coordinates
    image.set_qform(affine, code=code)
    image.set_sform(affine, code=code)
    header.set_xyzt_units("mm")
    if "c" in volume.dims:
        header.set_intent(_NIFTI_INTENT_VECTOR)
    units = volume.attrs.get("units") or ""
    header["descrip"] = f"pacslab export{'; ' + str(units)[:40] if units else ''}".encode("ascii", "replace")[:79]
    header["db_name"] = b""
    header["aux_file"] = b""
    return image


def write_nifti(archive: Archive, job: VolumeJob, destination: str) -> str:
    """Write one volume as ``destination/<base>.nii.gz``; returns the path.

    The header carries geometry and units only: no names, IDs, dates or UIDs (the file
    name holds the UIDs, or their replacements when de-identified).
    """
    volume = read_volume(archive.fs, job.path, rescale=True)
    path = target_path(destination, job.base + ".nii.gz")
    tmp = os.path.join(os.path.dirname(path), f".{uuid.uuid4().hex}.tmp.nii.gz")
    try:
        _nibabel().save(_image(volume), tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path

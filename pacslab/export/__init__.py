"""Export and sharing: studies, series and cohorts out of the archive, plain or de-identified.

- :func:`export` — to a folder of DICOM files or a zip of them (``STUDY/SERIES/SOP.dcm``),
  to NIfTI-1 (one ``.nii.gz`` per volume, RAS affine, values in modality units) or to
  OME-Zarr (a copy of each volume with its NGFF multiscale metadata).
- :func:`send` — to a remote AE (C-STORE, through :func:`pacslab.dimse.send`) or to a
  DICOMweb server (STOW-RS).

Both take one UID (study, series or instance), a list of them, or a cohort DataFrame
(:meth:`pacslab.Archive.series` and friends). With ``deidentify=True`` (or a project
name) every output goes through the PS3.15 engine of :mod:`pacslab.anonymize` — the
originals never leave — and names are made from the replaced UIDs. Every export and
send is one row of the archive's audit table (action ``export``, service ``files``,
``zip``, ``nifti``, ``ome-zarr``, ``dimse`` or ``stow``). Names of files and zip members
are made of checked UIDs only.

Most users call these as :meth:`pacslab.Archive.export` and :meth:`pacslab.Archive.send`.
"""

from __future__ import annotations

from pacslab.export._nifti import LPS_TO_RAS, nifti_affine
from pacslab.export._remote import STOW_BATCH_BYTES, is_dicomweb_url
from pacslab.export.models import FORMATS, SERVICES, ExportError, ExportReport
from pacslab.export.service import export, send

__all__ = [
    "FORMATS",
    "LPS_TO_RAS",
    "SERVICES",
    "STOW_BATCH_BYTES",
    "ExportError",
    "ExportReport",
    "export",
    "is_dicomweb_url",
    "nifti_affine",
    "send",
]

"""Export and send a study, series or cohort — plain or de-identified — and audit each one."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pacslab.anonymize.profiles import OptionValues
from pacslab.export._deid import Deidentification, project_of
from pacslab.export._dicom import iter_items, write_folder, write_zip
from pacslab.export._nifti import write_nifti
from pacslab.export._paths import check_destination
from pacslab.export._remote import check_url, is_dicomweb_url, send_dimse, send_stow
from pacslab.export._select import Uids, select
from pacslab.export._volumes import iter_volume_jobs
from pacslab.export._zarr import write_ome_zarr
from pacslab.export.models import FORMATS, SERVICES, ExportError, ExportReport

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = ["export", "send"]

#: UIDs named in one audit row at most (the count says how many there were).
_AUDIT_UIDS = 50


def _format(fmt: str | None, destination: str | os.PathLike[str]) -> str:
    if fmt is None:
        return "zip" if os.fspath(destination).lower().endswith(".zip") else "dicom"
    if fmt not in FORMATS:
        raise ExportError(f"Unknown export format {fmt!r}; expected one of: {', '.join(FORMATS)}.")
    return fmt


@contextlib.contextmanager
def _audited(archive: Archive, report: ExportReport, uids: list[str]) -> Iterator[None]:
    """Record the export in the audit table when it ends, successful or not."""
    outcome = None
    try:
        yield
    except BaseException:
        outcome = "failure"
        raise
    finally:
        detail = {"format": report.format, "destination": report.destination, "deidentified": report.deidentified,
                  "project": report.project, "options": report.options, "held_back": len(report.held_back),
                  "failed": len(report.failures), "requested": len(uids)}  # fmt: skip
        archive.catalog.audit(
            "export",
            service=SERVICES[report.format],
            uids=uids[:_AUDIT_UIDS],
            count=len(report.written),
            outcome=outcome or report.outcome,
            address=report.destination if report.format in ("dimse", "stow") else None,
            detail=json.dumps(detail),
        )


@contextlib.contextmanager
def _deidentification(
    archive: Archive, project: str | None, options: list[str], allow_burned_in: bool
) -> Iterator[Deidentification | None]:
    if project is None:
        yield None
        return
    with Deidentification(archive, project=project, options=options, allow_burned_in=allow_burned_in) as deid:
        yield deid


def export(
    archive: Archive,
    uids: Uids,
    destination: str | os.PathLike[str],
    *,
    format: str | None = None,
    deidentify: bool | str = False,
    options: Iterable[str | OptionValues] = (),
    allow_burned_in: bool = False,
) -> ExportReport:
    """Export studies, series or instances of *archive* to a local folder or zip file.

    See :meth:`pacslab.Archive.export` for the parameters.
    """
    fmt = _format(format, destination)
    project, option_names = project_of(deidentify, options)
    path = check_destination(archive, destination, kind="file" if fmt == "zip" else "folder")
    selection = select(archive, uids)
    report = ExportReport(fmt, path, deidentified=project is not None, project=project, options=option_names)
    with _audited(archive, report, selection.uids):
        with _deidentification(archive, project, option_names, allow_burned_in) as deid:
            if fmt in ("dicom", "zip"):
                items = iter_items(archive, selection.instance_rows(archive), deid, report)
                (write_zip if fmt == "zip" else write_folder)(items, path, report)
            else:
                series = selection.series(archive, what="NIfTI" if fmt == "nifti" else "OME-Zarr")
                os.makedirs(path, exist_ok=True)
                for job in iter_volume_jobs(archive, series, deid, report):
                    if fmt == "nifti":
                        report.written.append(write_nifti(archive, job, path))
                    else:
                        report.written.append(write_ome_zarr(archive, job, path, deidentified=deid is not None))
    return report


def send(
    archive: Archive,
    uids: Uids,
    remote: Any,
    *,
    deidentify: bool | str = False,
    options: Iterable[str | OptionValues] = (),
    allow_burned_in: bool = False,
    token: str | None = None,
    calling_ae_title: str | None = None,
    timeout: float = 300.0,
) -> ExportReport:
    """Send studies, series or instances of *archive* to a remote AE or a DICOMweb server.

    See :meth:`pacslab.Archive.send` for the parameters.
    """
    stow = is_dicomweb_url(remote)
    if token is not None and not stow:
        raise ExportError("A bearer token is for DICOMweb servers (http(s)://… URLs), not for remote AEs.")
    if stow:
        check_url(str(remote))
    project, option_names = project_of(deidentify, options)
    selection = select(archive, uids)
    report = ExportReport("stow" if stow else "dimse", str(remote), deidentified=project is not None,
                          project=project, options=option_names)  # fmt: skip
    with _audited(archive, report, selection.uids):
        with _deidentification(archive, project, option_names, allow_burned_in) as deid:
            rows = selection.instance_rows(archive)
            if stow:
                send_stow(iter_items(archive, rows, deid, report), str(remote), report, token=token, timeout=timeout)
            else:
                items = None if deid is None else iter_items(archive, rows, deid, report)
                send_dimse(archive, remote, rows, items, report, calling_ae_title=calling_ae_title)
    return report

"""What an export or a send did (:class:`ExportReport`), and the error it raises (:class:`ExportError`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from pacslab.errors import PacslabError

__all__ = ["FORMATS", "SERVICES", "ExportError", "ExportReport"]

#: Export formats: a folder of DICOM files, a zip of them, NIfTI-1 files, OME-Zarr (NGFF) volumes.
FORMATS = ("dicom", "zip", "nifti", "ome-zarr")

#: The ``service`` of the audit row of each format and of each way of sending.
SERVICES = {"dicom": "files", "zip": "zip", "nifti": "nifti", "ome-zarr": "ome-zarr", "dimse": "dimse", "stow": "stow"}


class ExportError(PacslabError, ValueError):
    """An export or a send that cannot be done as asked (bad destination, format, selection or option)."""


@dataclasses.dataclass
class ExportReport:
    """What :meth:`pacslab.Archive.export` or :meth:`pacslab.Archive.send` did.

    Iterating over a report, or taking its ``len``, goes over :attr:`written`.

    Attributes
    ----------
    format : str
        ``dicom``, ``zip``, ``nifti``, ``ome-zarr`` (exports) or ``dimse``, ``stow`` (sends).
    destination : str
        The folder, the zip file, the remote AE (``AET@host:port``) or the DICOMweb URL.
    written : list of str
        Files written (folder, NIfTI and OME-Zarr exports: NIfTI files and ``.ome.zarr``
        folders), members of the zip, or SOPInstanceUIDs that the remote stored (as sent:
        the new UIDs when de-identified).
    held_back : list of (str, str)
        ``(UID, reason)`` of what was not exported on purpose: instances that may show
        identifying text in their pixels (de-identified exports), series without a volume
        (NIfTI, OME-Zarr).
    failures : list of (str, str)
        ``(SOPInstanceUID, reason)`` of instances a remote did not store.
    deidentified : bool
        Whether the output went through the PS3.15 de-identification.
    project : str or None
        The de-identification project.
    options : list of str
        The PS3.15 options applied (CID 7050 code meanings).
    """

    format: str
    destination: str
    written: list[str] = dataclasses.field(default_factory=list)
    held_back: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    failures: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    deidentified: bool = False
    project: str | None = None
    options: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was held back and nothing failed."""
        return not self.held_back and not self.failures

    @property
    def outcome(self) -> str:
        """``success``, ``partial`` (some written, some not) or ``failure`` (nothing written but something asked)."""
        if self.ok:
            return "success"
        return "partial" if self.written else "failure"

    def __iter__(self) -> Iterator[str]:
        return iter(self.written)

    def __len__(self) -> int:
        return len(self.written)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**dataclasses.asdict(self), "ok": self.ok, "outcome": self.outcome}

    def summary(self) -> str:
        """One line for people."""
        what = "sent" if self.format in ("dimse", "stow") else "wrote"
        deid = f", de-identified (project {self.project!r})" if self.deidentified else ""
        text = f"{what} {len(self.written)} {_noun(self.format)} to {self.destination}{deid}"
        if self.held_back:
            text += f"; held back {len(self.held_back)}"
        if self.failures:
            text += f"; {len(self.failures)} failed"
        return text

    def __repr__(self) -> str:
        return (
            f"<ExportReport {self.format} written={len(self.written)} held_back={len(self.held_back)} "
            f"failures={len(self.failures)} deidentified={self.deidentified}>"
        )


def _noun(fmt: str) -> str:
    return {"nifti": "NIfTI files", "ome-zarr": "OME-Zarr volumes", "zip": "zip members"}.get(fmt, "instances")

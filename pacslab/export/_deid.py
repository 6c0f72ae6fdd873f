"""One export's de-identification: the PS3.15 engine of :mod:`pacslab.anonymize`, and its re-identification map."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pydicom
from pydicom.dataset import Dataset

from pacslab.anonymize import Deidentifier, burned_in_reason, parse_options, project_secret
from pacslab.anonymize.profiles import OptionValues
from pacslab.anonymize.service import _store_mapping  # the one writer of the re-identification map
from pacslab.export.models import ExportError

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = ["Deidentification", "project_of", "read_part10"]


def project_of(deidentify: bool | str, options: Iterable[str | OptionValues]) -> tuple[str | None, list[str]]:
    """The project (None: no de-identification) and the option names, checked before any work.

    Raises
    ------
    ExportError
        Options without de-identification, an unknown option, or an empty project name.
    """
    options = list(options)
    if deidentify is False or deidentify is None:
        if options:
            raise ExportError("De-identification options were given without deidentify=True (or a project name).")
        return None, []
    project = "default" if deidentify is True else str(deidentify)
    if not project.strip():
        raise ExportError("The de-identification project name must not be empty (deidentify=True uses 'default').")
    try:
        chosen = parse_options(options)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    return project, sorted(o.value for o in chosen)


def read_part10(data: bytes) -> Dataset:
    """A stored instance as a Dataset (bare datasets, without a Part 10 preamble, too)."""
    force = not (len(data) >= 132 and data[128:132] == b"DICM")
    return pydicom.dcmread(io.BytesIO(data), force=force)


def encode(ds: Dataset) -> bytes:
    """A de-identified Dataset as file bytes (Part 10 when it has a transfer syntax)."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format="TransferSyntaxUID" in getattr(ds, "file_meta", ()))
    return buffer.getvalue()


class Deidentification:
    """The de-identification of one export, used as a context manager.

    Every replacement made is kept, and written to the archive's re-identification map
    on exit (also after an error: whatever was written must stay re-identifiable).

    Parameters
    ----------
    archive : Archive
    project : str
    options : iterable of str
    allow_burned_in : bool
        De-identify instances that may show identifying text in their pixels (else held back).
    """

    def __init__(
        self, archive: Archive, *, project: str, options: Iterable[str], allow_burned_in: bool = False
    ) -> None:
        self.archive, self.project, self.allow_burned_in = archive, project, allow_burned_in
        self.mapping: dict[tuple[str, str], str] = {}
        self.engine = Deidentifier(
            options=options, project=project, secret=project_secret(archive, project), recorder=self._record,
            allow_burned_in=allow_burned_in,
        )  # fmt: skip

    def _record(self, kind: str, original: str, replacement: str) -> None:
        self.mapping[(kind, original)] = replacement

    def __enter__(self) -> Deidentification:
        return self

    def __exit__(self, *exc: object) -> None:
        _store_mapping(self.archive, self.project, self.mapping)

    def held_back(self, ds: Dataset) -> str | None:
        """Why *ds* is not exported (possible burned-in text), or None."""
        return None if self.allow_burned_in else burned_in_reason(ds)

    def dataset(self, ds: Dataset) -> Dataset:
        """A de-identified copy of *ds* (check :meth:`held_back` first)."""
        return self.engine(ds)

    def uid(self, uid: str) -> str:
        """The replacement of *uid* in this project (the same as in the de-identified DICOM files)."""
        return self.engine.pseudonyms.uid(uid)

    def attributes(self, ds: Dataset, keywords: Iterable[str]) -> dict[str, Any]:
        """The values of *keywords* in the de-identified *ds*: what survives de-identification, as JSON values.

        Keywords that de-identification removes or empties are left out.
        """
        out = self.dataset(ds)
        kept: dict[str, Any] = {}
        for keyword in keywords:
            value = out.get(keyword)
            if value in (None, "", b"") or (hasattr(value, "__len__") and not isinstance(value, str) and not value):
                continue
            kept[keyword] = _json_value(value)
        return kept


def _json_value(value: Any) -> Any:
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        return [_json_value(v) for v in value]
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float | pydicom.valuerep.DSdecimal):
        return float(value)
    return str(value)

"""DICOM out: the originals byte for byte, or de-identified copies, to a folder or into a zip file."""

from __future__ import annotations

import dataclasses
import os
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import fsspec

from pacslab.export._deid import Deidentification, encode, read_part10
from pacslab.export._paths import member_name, target_path
from pacslab.export.models import ExportError, ExportReport
from pacslab.storage import write_atomic
from pacslab.volumes._pixelref import PixelSource

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = ["Item", "iter_items", "write_folder", "write_zip"]


@dataclasses.dataclass(frozen=True)
class Item:
    """One instance on its way out: its relative name ``STUDY/SERIES/SOP.dcm`` and its bytes."""

    name: str
    sop_instance_uid: str
    data: bytes


def iter_items(
    archive: Archive, rows: Iterable[dict[str, Any]], deid: Deidentification | None, report: ExportReport
) -> Iterator[Item]:
    """The instances of *rows*: originals as stored (checked against their SHA-256), or de-identified.

    Instances that de-identification holds back go to ``report.held_back``; the original
    of a de-identified export is never yielded.
    """
    source = PixelSource(archive.fs, archive.root)
    for row in rows:
        sop = str(row["SOPInstanceUID"])
        if deid is None:
            name = member_name(row["StudyInstanceUID"], row["SeriesInstanceUID"], sop, suffix=".dcm")
            yield Item(name, sop, archive._read_original(row, verify=True, source=source))
            continue
        ds = read_part10(archive._read_original(row, verify=True, source=source))
        reason = deid.held_back(ds)
        if reason:
            report.held_back.append((sop, reason))
            continue
        out = deid.dataset(ds)
        name = member_name(str(out.StudyInstanceUID), str(out.SeriesInstanceUID), str(out.SOPInstanceUID),
                           suffix=".dcm")  # fmt: skip
        yield Item(name, str(out.SOPInstanceUID), encode(out))


def write_folder(items: Iterable[Item], destination: str, report: ExportReport) -> None:
    """Write each item to ``destination/STUDY/SERIES/SOP.dcm`` (each file atomically)."""
    fs = fsspec.filesystem("file")
    for item in items:
        path = target_path(destination, item.name)
        write_atomic(fs, path, item.data)
        report.written.append(path)


def write_zip(items: Iterable[Item], destination: str, report: ExportReport) -> None:
    """Write the items into a new zip file at *destination*, which appears only once complete."""
    folder, name = os.path.split(destination)
    tmp = os.path.join(folder, f".{name}.{uuid.uuid4().hex}.tmp")
    try:
        with zipfile.ZipFile(tmp, "x", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for item in items:
                zf.writestr(item.name, item.data)
                report.written.append(item.name)
        if os.path.lexists(destination):  # appeared while we wrote: never replace someone else's file
            raise ExportError(f"{destination!r} appeared while the zip was written; it was left as it is.")
        os.replace(tmp, destination)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

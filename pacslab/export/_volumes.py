"""The volumes of selected series, ready to leave: names from UIDs (or pseudonyms) and metadata safe to share."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from pacslab.errors import VolumeNotFoundError
from pacslab.export._deid import Deidentification, read_part10
from pacslab.export._paths import member_name
from pacslab.export.models import ExportReport
from pacslab.storage import join
from pacslab.volumes._pixelref import PixelSource
from pacslab.volumes.store import open_volume_group

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = ["VolumeJob", "iter_volume_jobs"]


@dataclasses.dataclass(frozen=True)
class VolumeJob:
    """One volume (a stack of a series) to export.

    Attributes
    ----------
    series_instance_uid, stack : str, int
        Which volume, in the archive.
    path : str
        Its Zarr group, on the archive's filesystem.
    base : str
        The relative name of the output without suffix: ``STUDY/SERIES`` (``STUDY/SERIES_stackN``
        for stacks after the first), from the UIDs, or from their replacements when de-identified.
    attrs : dict
        The group's ``pacslab`` attributes as they may leave the archive (de-identified when asked).
    ome : dict
        The group's ``ome`` (NGFF) attributes, likewise.
    """

    series_instance_uid: str
    stack: int
    path: str
    base: str
    attrs: dict[str, Any]
    ome: dict[str, Any]


def iter_volume_jobs(
    archive: Archive, series: list[str], deid: Deidentification | None, report: ExportReport
) -> Iterator[VolumeJob]:
    """A :class:`VolumeJob` per volume of each series; series without volumes go to ``report.held_back``.

    When de-identifying, a series is held back whole when any of its instances would be
    (its pixels are in the volume), and the metadata keeps only what de-identification keeps.
    """
    for uid in series:
        rows = archive.catalog.volumes(uid)
        if not rows:
            report.held_back.append((uid, _no_volume(archive, uid)))
            continue
        first: Dataset | None = None
        if deid is not None:
            found = _deidentify_series(archive, uid, deid)
            if isinstance(found, str):
                report.held_back.append((uid, found))
                continue
            first = found
        for row in rows:
            group = open_volume_group(archive.fs, join(archive.root, row["path"]))
            attrs: dict[str, Any] = dict(cast("dict[str, Any]", group.attrs["pacslab"]))
            ome: dict[str, Any] = dict(cast("dict[str, Any]", group.attrs["ome"]))
            if first is not None and deid is not None:
                attrs, ome = _safe_metadata(attrs, ome, first, deid)
            study, series_uid = str(attrs["StudyInstanceUID"]), str(attrs["SeriesInstanceUID"])
            suffix = "" if row["stack_index"] == 0 else f"_stack{int(row['stack_index'])}"
            base = member_name(study, series_uid, suffix=suffix)
            yield VolumeJob(uid, int(row["stack_index"]), join(archive.root, row["path"]), base, attrs, ome)


def _no_volume(archive: Archive, uid: str) -> str:
    try:
        archive._volume_row(uid, 0)
    except VolumeNotFoundError as exc:
        return str(exc)
    return f"Series {uid!r} has no volume."  # pragma: no cover - a volume appeared meanwhile


def _deidentify_series(archive: Archive, uid: str, deid: Deidentification) -> Dataset | str:
    """The first instance of a series (to de-identify the metadata from), or the reason it is held back."""
    source = PixelSource(archive.fs, archive.root)
    first = None
    for row in archive.catalog.instance_keys(series_instance_uid=uid):
        ds = read_part10(archive._read_original(row, source=source))
        reason = deid.held_back(ds)
        if reason:
            return f"instance {row['SOPInstanceUID']}: {reason}"
        first = first if first is not None else ds
    return first if first is not None else "the series has no instances"


def _safe_metadata(
    attrs: dict[str, Any], ome: dict[str, Any], first: Dataset, deid: Deidentification
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Volume metadata with each DICOM attribute as de-identification leaves it, and frames renamed."""
    header = deid.attributes(first, [k for k in attrs if tag_for_keyword(k) is not None])
    safe = {k: v for k, v in attrs.items() if tag_for_keyword(k) is None}
    safe.update(header)
    safe["frames"] = [[_frame_ref(ref, deid) for ref in column] for column in attrs.get("frames", [])]
    safe["deidentified"] = True
    ome = {**ome, "multiscales": [{**m, "name": str(header.get("SeriesDescription", ""))} for m in ome["multiscales"]]}
    return safe, ome


def _frame_ref(ref: str, deid: Deidentification) -> str:
    sop, _, frame = str(ref).partition("#")
    return f"{deid.uid(sop)}#{frame}" if frame else deid.uid(sop)

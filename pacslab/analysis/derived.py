"""Derived series: label volumes in Zarr and DICOM SEG objects linked to their source series.

A label volume is written as a Zarr group beside the source's volumes
(``derived/<source series>/<analysis>-<run>``) with the source geometry, and as a
DICOM Segmentation (highdicom, BINARY, one segment per label) that references the
source instances; the SEG goes through the archive's single ingest path
(:func:`pacslab.ingest.pipeline.ingest_bytes`), so it is kept, indexed and
queryable like any received instance.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pydicom
import xarray as xr
import zarr
from zarr.codecs import BloscCodec

from pacslab.analysis.results import now, record_derived
from pacslab.storage import join
from pacslab.volumes.store import lazy_array, volume_metadata, zarr_store

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = ["read_labels", "source_frames", "write_derived_volume", "write_seg"]

logger = logging.getLogger(__name__)

#: Segment properties for known segment names: (category, type) as (value, scheme, meaning).
_ANATOMY = ("91723000", "SCT", "Anatomical Structure")
_TISSUE = ("85756007", "SCT", "Tissue")
_SEGMENT_CODES: dict[str, tuple[tuple[str, str, str], tuple[str, str, str]]] = {
    "body": (_ANATOMY, ("38266002", "SCT", "Entire body")),
    "lung": (_ANATOMY, ("39607008", "SCT", "Lung")),
    "bone": (_TISSUE, ("272673000", "SCT", "Bone")),
}
_COLORS = [(255, 0, 0), (0, 200, 255), (255, 255, 0), (0, 255, 0), (255, 0, 255), (255, 128, 0)]


def source_frames(archive: Archive, series_instance_uid: str, stack: int = 0) -> list[str]:
    """``"SOPInstanceUID#frame"`` of each slice of a source volume, in ``z`` order."""
    row = archive._volume_row(series_instance_uid, stack)
    meta = volume_metadata(archive.fs, join(archive.root, row["path"]))
    return [str(f) for f in meta["frames"][0]]


def write_derived_volume(
    archive: Archive,
    data: np.ndarray,
    like: xr.DataArray,
    *,
    analysis: str,
    run_id: str,
    kind: str = "labels",
    segments: Mapping[int, str] | None = None,
    seg_series_uid: str | None = None,
) -> str:
    """Write a computed volume (same grid as *like*) as Zarr in the archive; returns its path under the root."""
    source = like.attrs["SeriesInstanceUID"]
    rel = f"derived/{source}/{analysis}-{run_id}"
    path = join(archive.root, rel)
    if archive.fs.exists(path):
        archive.fs.rm(path, recursive=True)
    group = zarr.open_group(zarr_store(archive.fs, path), mode="w", zarr_format=3)
    chunks = tuple(min(c, n) for c, n in zip((8, 256, 256), data.shape, strict=False))
    array = group.create_array(
        "0",
        shape=data.shape,
        chunks=chunks,
        dtype=data.dtype,
        dimension_names=[str(d) for d in like.dims],
        compressors=BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle"),
        fill_value=0,
    )
    array[...] = data
    keep = ("spacing", "origin", "direction", "affine", "SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID")
    group.attrs.update(
        {
            "pacslab_derived": {
                "kind": kind,
                "analysis": analysis,
                "run_id": run_id,
                "source": {k: _plain(like.attrs.get(k)) for k in keep},
                "coords": {str(d): np.asarray(like[d]).tolist() for d in like.dims},
                "segments": {str(k): v for k, v in (segments or {}).items()},
                "seg_series_uid": seg_series_uid,
            }
        }
    )
    record_derived(
        archive,
        {
            "path": rel,
            "run_id": run_id,
            "analysis": analysis,
            "kind": kind,
            "SourceSeriesInstanceUID": source,
            "StudyInstanceUID": like.attrs.get("StudyInstanceUID"),
            "SeriesInstanceUID": seg_series_uid,
            "segments": {str(k): v for k, v in (segments or {}).items()},
            "created_at": now(),
        },
    )
    return rel


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_labels(archive: Archive, path: str) -> xr.DataArray:
    """A derived volume written by :func:`write_derived_volume`, lazily, with the source's coordinates."""
    full = join(archive.root, path)
    group = zarr.open_group(zarr_store(archive.fs, full, read_only=True), mode="r", zarr_format=3)
    meta: Any = dict(group.attrs["pacslab_derived"])
    attrs = {
        **meta["source"],
        "segments": {int(k): v for k, v in meta["segments"].items()},
        "units": None,
        "derived_path": path,
    }
    return xr.DataArray(
        lazy_array(archive.fs, join(full, "0"), array=group["0"]),
        dims=("z", "y", "x"),
        coords={d: np.asarray(v) for d, v in meta["coords"].items()},
        name=meta["kind"],
        attrs=attrs,
    )


def _code(spec: tuple[str, str, str]) -> Any:
    import highdicom as hd

    return hd.sr.CodedConcept(*spec)


def _segment_descriptions(segments: Mapping[int, str], algorithm: str, version: str) -> list[Any]:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    algo = hd.AlgorithmIdentificationSequence(
        name=algorithm[:64], family=codes.cid7162.MorphologicalOperations, version=version[:64]
    )
    out = []
    for number, name in sorted(segments.items()):
        category, kind = _SEGMENT_CODES.get(name.lower(), (_ANATOMY, ("85756007", "SCT", "Tissue")))
        color = hd.color.CIELabColor.from_rgb(*_COLORS[(number - 1) % len(_COLORS)])
        out.append(
            hd.seg.SegmentDescription(
                segment_number=int(number),
                segment_label=str(name)[:64],
                segmented_property_category=_code(category),
                segmented_property_type=_code(kind),
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=algo,
                tracking_uid=hd.UID(),
                tracking_id=f"{name} {number}"[:64],
                display_color=color,
            )
        )
    return out


def write_seg(
    archive: Archive,
    labels: np.ndarray,
    source: xr.DataArray,
    *,
    segments: Mapping[int, str],
    algorithm: str,
    series_description: str | None = None,
    series_number: int = 900,
) -> tuple[str, str]:
    """Encode a label volume as a DICOM SEG of the source series and ingest it into the archive.

    Parameters
    ----------
    archive : pacslab.Archive
    labels : numpy.ndarray of int, ``(z, y, x)``
        On the source volume's grid; 0 is background, values are segment numbers.
    source : xarray.DataArray
        The source volume (its ``SeriesInstanceUID`` attribute names the series).
    segments : mapping of int to str
        Segment number → label (``"Body"``, ``"Lung"``, … get SNOMED CT codes).
    algorithm : str
        Name of the analysis (Algorithm Identification).

    Returns
    -------
    (SeriesInstanceUID, SOPInstanceUID) of the new SEG.

    Raises
    ------
    ValueError
        The labels do not match the source grid, or the source is not a 3-D image series.
    """
    import highdicom as hd

    from pacslab import __version__
    from pacslab.ingest.pipeline import ingest_bytes

    series_uid = source.attrs["SeriesInstanceUID"]
    frames = source_frames(archive, series_uid)
    if labels.shape != tuple(source.shape) or len(frames) != labels.shape[0]:
        raise ValueError(
            f"Labels of shape {labels.shape!r} do not match the source volume {tuple(source.shape)!r} "
            f"of series {series_uid!r}."
        )
    sops = list(dict.fromkeys(f.split("#")[0] for f in frames))
    datasets = {sop: archive.dataset(sop) for sop in sops}
    present = [int(v) for v in np.unique(labels) if v != 0]
    if not present:
        raise ValueError(f"The labels of series {series_uid!r} are all 0: there is nothing to encode as SEG.")
    # SEG segment numbers run 1, 2, … without gaps: renumber the labels present, keep their names
    lut = np.zeros(int(labels.max()) + 1, np.uint16)
    lut[present] = np.arange(1, len(present) + 1)
    pixel = lut[labels].astype(np.uint8 if len(present) < 256 else np.uint16)
    segments = {i: str(segments.get(v, f"region_{v}")) for i, v in enumerate(present, start=1)}
    if len(sops) == len(frames):
        source_images = [datasets[f.split("#")[0]] for f in frames]
    else:  # one multi-frame instance
        source_images = [datasets[sops[0]]]
    seg = hd.seg.Segmentation(
        source_images=source_images,
        pixel_array=pixel,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=_segment_descriptions(segments, algorithm, __version__),
        series_instance_uid=hd.UID(),
        series_number=series_number,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="pacslab",
        manufacturer_model_name="pacslab.analysis",
        software_versions=__version__,
        device_serial_number="0",
        series_description=(series_description or f"SEG {algorithm}")[:64],
        content_label=algorithm.upper().replace("-", "_")[:16],
        content_description=f"pacslab analysis {algorithm}"[:64],
        content_creator_name="PACSLAB^ANALYSIS",
        omit_empty_frames=True,
    )
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, seg, enforce_file_format=True)
    outcome, _ = ingest_bytes(archive, buffer.getvalue(), source=f"pacslab.analysis:{algorithm}")
    if outcome != "new":
        raise ValueError(f"The SEG of series {series_uid!r} was not archived (ingest said {outcome!r}).")
    archive.build_volumes(str(seg.SeriesInstanceUID))  # settle its volume state (no series left pending)
    archive.catalog.audit(
        "analysis-seg", service="analysis", uids=[series_uid, seg.SeriesInstanceUID], count=1, detail=algorithm
    )
    return str(seg.SeriesInstanceUID), str(seg.SOPInstanceUID)

"""Image frames as stacking sees them: one per single-frame instance, one per frame of a multi-frame."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

__all__ = ["Frame", "frames_from_dataset", "frames_from_geometry"]

#: Attributes that may label a 4th dimension, in the order they are tried.
EXTRA_DIMENSIONS = ("echo", "temporal", "bvalue", "trigger", "acquisition")


@dataclasses.dataclass(frozen=True)
class Frame:
    """One 2-D image: which instance and frame, and where it lies."""

    sop_instance_uid: str
    frame: int
    rows: int
    columns: int
    samples: int = 1
    bits: int = 16
    signed: bool = False
    position: tuple[float, float, float] | None = None
    orientation: tuple[float, ...] | None = None
    spacing: tuple[float, float] | None = None  # (between rows, between columns), mm
    thickness: float | None = None
    rescale: tuple[float, float] = (1.0, 0.0)
    instance_number: int = 0
    localizer: bool = False
    extra: tuple[tuple[str, float], ...] = ()

    def extra_value(self, name: str) -> float | None:
        """The value of a 4-D labelling attribute, if the frame has it."""
        return dict(self.extra).get(name)


def _floats(value: Any, n: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        items = [value] if isinstance(value, str | bytes | int | float) else list(value)
        values = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        return None
    if len(values) != n or not all(np.isfinite(values)):
        return None
    return values


def _first(value: Any) -> float | None:
    if not isinstance(value, str | bytes | int | float) and value is not None and hasattr(value, "__len__"):
        value = value[0] if len(value) else None
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def _orientation(value: Any) -> tuple[float, ...] | None:
    iop = _floats(value, 6)
    if iop is None:
        return None
    row, col = np.asarray(iop[:3]), np.asarray(iop[3:])
    if np.linalg.norm(row) < 1e-6 or np.linalg.norm(col) < 1e-6:
        return None
    row, col = row / np.linalg.norm(row), col / np.linalg.norm(col)
    return tuple(float(v) for v in (*row, *col))


def _is_localizer(image_type: Any) -> bool:
    values = image_type if isinstance(image_type, list | tuple) else [image_type]
    return any(str(v).upper() == "LOCALIZER" for v in values if v is not None)


def frames_from_geometry(sop_instance_uid: str, g: dict[str, Any]) -> list[Frame]:
    """Frames of a classic (not enhanced) instance from its stored geometry record."""
    rows, columns = int(g.get("Rows", 0) or 0), int(g.get("Columns", 0) or 0)
    n = int(_first(g.get("NumberOfFrames")) or 1)
    spacing = _floats(g.get("PixelSpacing") or g.get("ImagerPixelSpacing"), 2)
    extra = []
    for name, keyword in (
        ("echo", "EchoTime"),
        ("temporal", "TemporalPositionIdentifier"),
        ("bvalue", "DiffusionBValue"),
        ("trigger", "TriggerTime"),
        ("acquisition", "AcquisitionNumber"),
    ):
        value = _first(g.get(keyword))
        if value is not None:
            extra.append((name, value))
    base = dict(
        sop_instance_uid=sop_instance_uid,
        rows=rows,
        columns=columns,
        samples=int(g.get("SamplesPerPixel", 1) or 1),
        bits=int(g.get("BitsAllocated", 16) or 16),
        signed=bool(g.get("PixelRepresentation", 0)),
        spacing=spacing,  # type: ignore[arg-type]
        thickness=_first(g.get("SliceThickness")),
        rescale=(_first(g.get("RescaleSlope")) or 1.0, _first(g.get("RescaleIntercept")) or 0.0),
        instance_number=int(_first(g.get("InstanceNumber")) or 0),
        localizer=_is_localizer(g.get("ImageType")),
        extra=tuple(extra),
    )
    if n == 1:
        return [
            Frame(
                frame=0,
                position=_floats(g.get("ImagePositionPatient"), 3),
                orientation=_orientation(g.get("ImageOrientationPatient")),
                **base,
            )
        ]  # type: ignore[arg-type]
    # Multi-frame without functional groups (US, XA, NM, …): frames in order, no geometry.
    return [Frame(frame=i, **base) for i in range(n)]  # type: ignore[arg-type]


def _group(item: Dataset | None, shared: Dataset | None, keyword: str) -> Dataset | None:
    for source in (item, shared):
        if source is not None and keyword in source and len(source[keyword].value):
            return source[keyword].value[0]
    return None


def frames_from_dataset(ds: Dataset) -> list[Frame]:
    """Frames of a multi-frame instance, read from its functional groups when it has them."""
    if "PerFrameFunctionalGroupsSequence" not in ds:
        from pacslab.ingest._prepare import _geometry  # the same record ingest keeps

        return frames_from_geometry(str(ds.SOPInstanceUID), _geometry(ds))
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    frames = []
    n = int(_first(ds.get("NumberOfFrames")) or 1)
    for index, item in enumerate(list(ds.PerFrameFunctionalGroupsSequence)[:n]):
        position = _group(item, shared, "PlanePositionSequence")
        orientation = _group(item, shared, "PlaneOrientationSequence")
        measures = _group(item, shared, "PixelMeasuresSequence")
        transform = _group(item, shared, "PixelValueTransformationSequence")
        content = _group(item, shared, "FrameContentSequence")
        echo = _group(item, shared, "MREchoSequence")
        diffusion = _group(item, shared, "MRDiffusionSequence")
        extra = []
        if echo is not None and _first(echo.get("EffectiveEchoTime")) is not None:
            extra.append(("echo", float(_first(echo.get("EffectiveEchoTime")))))  # type: ignore[arg-type]
        if content is not None and _first(content.get("TemporalPositionIndex")) is not None:
            extra.append(("temporal", float(_first(content.get("TemporalPositionIndex")))))  # type: ignore[arg-type]
        if diffusion is not None and _first(diffusion.get("DiffusionBValue")) is not None:
            extra.append(("bvalue", float(_first(diffusion.get("DiffusionBValue")))))  # type: ignore[arg-type]
        frames.append(
            Frame(
                sop_instance_uid=str(ds.SOPInstanceUID),
                frame=index,
                rows=int(ds.Rows),
                columns=int(ds.Columns),
                samples=int(ds.get("SamplesPerPixel", 1) or 1),
                bits=int(ds.get("BitsAllocated", 16) or 16),
                signed=bool(ds.get("PixelRepresentation", 0)),
                position=_floats(position.get("ImagePositionPatient") if position else None, 3),  # type: ignore[arg-type]
                orientation=_orientation(orientation.get("ImageOrientationPatient") if orientation else None),
                spacing=_floats(measures.get("PixelSpacing") if measures else None, 2),  # type: ignore[arg-type]
                thickness=_first(measures.get("SliceThickness")) if measures else None,
                rescale=(
                    (
                        _first(transform.get("RescaleSlope")) or 1.0,
                        _first(transform.get("RescaleIntercept")) or 0.0,
                    )
                    if transform is not None
                    else (
                        _first(ds.get("RescaleSlope")) or 1.0,
                        _first(ds.get("RescaleIntercept")) or 0.0,
                    )
                ),
                instance_number=int(_first(ds.get("InstanceNumber")) or 0),
                localizer=_is_localizer(ds.get("ImageType")),
                extra=tuple(extra),
            )
        )
    return frames

"""Annotations as DICOM Structured Reports: TID 1500 Measurement Report in a Comprehensive 3D SR.

Each annotation becomes one *Planar ROI Measurements* group (TID 1410) whose region is a SCOORD3D
in the series' frame of reference (POINT, POLYLINE for rulers and angles, POLYGON, ELLIPSE), with
its measurements (length, angle, area, mean, standard deviation, minimum, maximum). The tracking
identifier keeps the pacslab kind, plane and label, so the report loads back as annotations.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np
import pydicom
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from pacslab.widgets._annotations import AnnotationStore
from pacslab.widgets._slices import SliceSource

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = ["read_sr", "write_sr"]

_MEASURES = {
    "length_mm": (codes.SCT.Length, codes.UCUM.Millimeter),
    "angle_deg": (codes.SCT.Angle, codes.UCUM.Degree),
    "area_mm2": (codes.SCT.Area, codes.UCUM.SquareMillimeter),
    "mean": (codes.SCT.Mean, None),
    "std": (codes.SCT.StandardDeviation, None),
    "min": (codes.SCT.Minimum, None),
    "max": (codes.SCT.Maximum, None),
}
_GRAPHIC = {"point": "POINT", "ruler": "POLYLINE", "angle": "POLYLINE", "ellipse": "ELLIPSE"}


def _hd() -> Any:
    try:
        import highdicom
    except ImportError as exc:  # pragma: no cover
        raise ImportError("DICOM SR export needs highdicom: pip install 'pacslab[widgets]'.") from exc
    return highdicom


def _outline(kind: str, display: np.ndarray) -> np.ndarray:
    """Display points of the SCOORD3D: rectangle corners closed, ellipse axis end points, polygons closed."""
    if kind == "rectangle":
        (x0, y0), (x1, y1) = display[0], display[-1]
        display = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    if kind == "ellipse":
        (x0, y0), (x1, y1) = display[0], display[-1]
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        horizontal, vertical = [[x0, cy], [x1, cy]], [[cx, y0], [cx, y1]]
        return np.array(horizontal + vertical)
    if kind in ("rectangle", "polygon", "freehand"):
        return np.vstack([display, display[:1]])
    return display


def write_sr(
    archive: Archive, series_instance_uid: str, *, store: bool = True, source: SliceSource | None = None
) -> pydicom.Dataset:
    """The annotations of a series as a Comprehensive 3D SR (TID 1500), stored in the archive by default.

    Parameters
    ----------
    archive : Archive
    series_instance_uid : str
        The annotated image series.
    store : bool
        Ingest the report through the archive's ingest path, so it is listed with the study.

    Returns
    -------
    pydicom.Dataset
    """
    hd = _hd()
    source = source or SliceSource(archive.open_volume(series_instance_uid))
    frame = AnnotationStore(archive).frame(series_instance_uid=series_instance_uid)
    sop = archive.instances(SeriesInstanceUID=series_instance_uid, limit=1)["SOPInstanceUID"].iloc[0]
    evidence = archive.dataset(sop, stop_before_pixels=True)
    for_uid = evidence.FrameOfReferenceUID
    units = codes.UCUM.HounsfieldUnit if source.attrs.get("units") == "HU" else codes.UCUM.NoUnits
    groups = []
    for row in frame.itertuples():
        display = np.asarray(row.display_points, dtype=float)
        outline = _outline(row.kind, display)
        if row.kind == "ellipse":
            mm = source.to_patient(source.to_voxel(row.plane, row.slice_index, outline))
            if np.linalg.norm(mm[1] - mm[0]) < np.linalg.norm(mm[3] - mm[2]):  # major axis first
                mm = mm[[2, 3, 0, 1]]
        else:
            mm = source.to_patient(source.to_voxel(row.plane, row.slice_index, outline))
        region = hd.sr.ImageRegion3D(
            graphic_type=hd.sr.GraphicTypeValues3D(_GRAPHIC.get(row.kind, "POLYGON")),
            graphic_data=mm.astype(np.float32),
            frame_of_reference_uid=for_uid,
        )
        measurements = []
        for key, (name, unit) in _MEASURES.items():
            value = row.measurements.get(key)
            if value is not None:
                measurements.append(hd.sr.Measurement(name=name, value=float(value), unit=unit or units))
        tracking = hd.sr.TrackingIdentifier(
            identifier=f"pacslab:{row.kind}:{row.plane}:{row.label or ''}", uid=generate_uid()
        )
        groups.append(
            hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=tracking, referenced_region=region, measurements=measurements or None
            )
        )
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(uid=generate_uid(), name="pacslab"),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion
        if source.attrs.get("Modality") == "CT"
        else hd.sr.CodedConcept("18748-4", "LN", "Diagnostic imaging study"),
        imaging_measurements=groups or None,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=[evidence],
        content=report,
        series_instance_uid=generate_uid(),
        series_number=9900,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="pacslab",
        is_complete=True,
    )
    if store:
        buffer = io.BytesIO()
        sr.save_as(buffer, enforce_file_format=True)
        archive.ingest_bytes(buffer.getvalue(), source="pacslab.widgets SR export")
    return sr


def _referenced_series(ds: pydicom.Dataset) -> str:
    for study in ds.get("CurrentRequestedProcedureEvidenceSequence", []):
        for series in study.get("ReferencedSeriesSequence", []):
            return str(series.SeriesInstanceUID)
    raise ValueError("The SR names no evidence series (CurrentRequestedProcedureEvidenceSequence is empty).")


def _display_from(kind: str, display: np.ndarray) -> np.ndarray:
    if kind in ("rectangle",):
        return display[[0, 2]]
    if kind == "ellipse":
        xs, ys = display[:, 0], display[:, 1]
        return np.array([[xs.min(), ys.min()], [xs.max(), ys.max()]])
    if kind in ("polygon", "freehand"):
        return display[:-1]
    return display


def read_sr(archive: Archive, dataset: pydicom.Dataset | bytes, *, source: SliceSource | None = None) -> list[int]:
    """Load the planar ROI groups of a TID 1500 SR back as annotations of the referenced series.

    Returns
    -------
    list of int
        Ids of the annotations created.
    """
    hd = _hd()
    if isinstance(dataset, bytes):
        dataset = pydicom.dcmread(io.BytesIO(dataset))
    sr = hd.sr.Comprehensive3DSR.from_dataset(dataset)
    series = _referenced_series(dataset)
    source = source or SliceSource(archive.open_volume(series))
    store = AnnotationStore(archive)
    ids = []
    for group in sr.content.get_planar_roi_measurement_groups():
        parts = str(group.tracking_identifier).split(":", 3)
        kind, plane, label = (
            (parts[1], parts[2], parts[3]) if len(parts) == 4 and parts[0] == "pacslab" else (None, "axial", "")
        )
        region = group.roi
        mm = np.asarray(region.value, dtype=float).reshape(-1, 3)
        graphic = str(region.graphic_type.value if hasattr(region.graphic_type, "value") else region.graphic_type)
        kind = kind or {"POINT": "point", "ELLIPSE": "ellipse", "POLYGON": "polygon"}.get(
            graphic, "ruler" if len(mm) == 2 else "angle"
        )
        voxels = source.from_patient(mm)
        index, display = source.to_display(plane, voxels)
        display = np.round(display, 3)  # SCOORD3D is float32: undo its rounding noise before measuring
        ids.append(
            store.add(
                series_instance_uid=series,
                kind=kind,
                plane=plane,
                slice_index=int(round(index)),
                display_points=_display_from(kind, display),
                source=source,
                label=label,
            )
        )
    return ids

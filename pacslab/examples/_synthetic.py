"""Deterministic generator of realistic synthetic DICOM studies.

Everything here is made from a seed with :mod:`numpy` and :mod:`pydicom` only:
no downloads, no real patient data.  The same arguments always give the same
datasets, byte for byte once written, so the output can be used as test fixtures,
as the demo archive and as a benchmark corpus.

What is made
------------
* :func:`generate_ct_series` -- CT Image Storage series of an anatomy-like chest
  phantom (body with a fat rim, two lungs, heart, liver dome, spine and ribs),
  Gaussian noise, air inside a circular reconstruction field of view and
  ``PixelPaddingValue`` outside it.
* :func:`generate_oblique_ct` -- the same with a clearly oblique orientation.
* :func:`generate_localizer_mixed_series` -- axial CT slices plus one or two
  localizer (scout) images in the same series.
* :func:`generate_enhanced_ct` -- one Enhanced CT multi-frame instance with
  functional groups and a multi-frame dimension organisation.
* :func:`generate_mr_series` -- MR Image Storage series of a head phantom
  (spin-echo signal model; optionally multi-echo, i.e. 4-D).
* :func:`generate_dx_image` -- one Digital X-Ray (For Presentation) chest
  radiograph.
* :func:`generate_phantom_ct` -- CT volume of ellipsoids with known analytic
  volume and surface area, for tests of analysis code.
* :func:`demo_studies`, :func:`write_demo_archive_input`,
  :func:`write_benchmark_set`, :func:`write_series` -- collections and writers.

Patients and studies
--------------------
``patient`` and ``study`` arguments are mappings (a plain ``dict``), a
dataclass instance or a :class:`pydicom.Dataset`; keys are DICOM keywords.
Patient keys: ``PatientName``, ``PatientID``, ``PatientBirthDate``,
``PatientSex``.  Study keys: ``StudyInstanceUID``, ``StudyDate``, ``StudyTime``,
``AccessionNumber``, ``StudyDescription``, ``StudyID``,
``ReferringPhysicianName``.  Missing keys are generated deterministically from
the seed; other valid DICOM keywords are copied into every instance.  To let
several series share a patient or a study, pass the complete dictionaries made
by :func:`make_patient` and :func:`make_study` (a partial study dictionary is
completed from each call's own seed, so two calls with different seeds would
disagree on, e.g., the study date).

Patient coordinates follow DICOM (LPS): +x towards the patient's left, +y
towards the posterior, +z towards the head.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.datadict import dictionary_VR, keyword_dict
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    UID,
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    EnhancedCTImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

__all__ = [
    "Ellipsoid",
    "demo_studies",
    "ellipsoid_surface_area",
    "generate_ct_series",
    "generate_dx_image",
    "generate_enhanced_ct",
    "generate_localizer_mixed_series",
    "generate_mr_series",
    "generate_oblique_ct",
    "generate_phantom_ct",
    "make_patient",
    "make_study",
    "oblique_orientation",
    "write_benchmark_set",
    "write_demo_archive_input",
    "write_series",
]

# --------------------------------------------------------------------------
# constants
# --------------------------------------------------------------------------

_NAMESPACE = "pacslab.examples.synthetic/1"
_MANUFACTURER = "PACSLAB"
_INSTITUTION = "PACSLAB SYNTHETIC HOSPITAL"
_SOFTWARE_VERSION = "pacslab-synthetic 1.0"
_IMPLEMENTATION_VERSION = "PACSLAB_SYN_1"
_CHARSET = "ISO_IR 100"

_AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
_SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
_CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
_PLANES = {"axial": _AXIAL, "sagittal": _SAGITTAL, "coronal": _CORONAL}

#: CT storage: int16 stored values, HU = stored - 1024, padding outside the FOV.
_CT_INTERCEPT = -1024
_CT_PADDING = -2000
_CT_MIN_HU = -1024
_CT_MAX_HU = 3071
#: reconstruction field of view (mm) at which the chest anatomy has its true size
_CT_REFERENCE_FOV = 358.4
_MR_REFERENCE_FOV = 230.0
_DX_DETECTOR_MM = 430.0

_FAMILY_NAMES = ("DOE", "ROE", "POE", "MOE", "SAMPLE", "EXAMPLE", "PHANTOM", "TESTCASE")
_GIVEN_NAMES = (
    ("JANE", "F"),
    ("JOHN", "M"),
    ("ALEX", "O"),
    ("MARY", "F"),
    ("PAUL", "M"),
    ("ROBIN", "O"),
    ("ANNA", "F"),
    ("OMAR", "M"),
)
_PHYSICIANS = ("REFERRER^ROBIN^^DR", "SENDER^KIM^^DR", "ORDERLY^SAM^^DR", "CLINIC^ALEX^^DR")

_PATIENT_KEYS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")
_STUDY_KEYS = (
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyDescription",
    "StudyID",
    "ReferringPhysicianName",
)

# --------------------------------------------------------------------------
# determinism helpers
# --------------------------------------------------------------------------


def _check_seed(seed: int) -> int:
    """Return ``seed`` as a non-negative ``int`` or raise ``ValueError``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _stable_int(*parts: Any) -> int:
    """Hash ``parts`` to a 64-bit integer that is stable across processes."""
    digest = hashlib.sha256(repr(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


def _rng(seed: int, *parts: Any) -> np.random.Generator:
    """Make a numpy Generator seeded from ``seed`` and a stream name."""
    return np.random.default_rng(np.random.SeedSequence([_check_seed(seed), _stable_int(*parts)]))


def _uid(*parts: Any) -> UID:
    """Derive a deterministic UID under pydicom's root from ``parts``."""
    return generate_uid(entropy_srcs=[_NAMESPACE, *(str(p) for p in parts)])


_IMPLEMENTATION_UID = _uid("implementation-class")


def _ds(value: float) -> str:
    """Format a number as a DICOM DS string of at most 16 characters."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"cannot encode {value!r} as DS")
    if abs(value) < 1e-10:
        return "0"
    for digits in range(14, 0, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= 16:
            return text
    raise ValueError(f"cannot encode {value!r} as DS")  # pragma: no cover


def _set(ds: Dataset, keyword: str, value: Any) -> None:
    """Set ``ds.<keyword>``, turning numeric strings into floats for FD/FL."""
    if dictionary_VR(keyword_dict[keyword]) in ("FD", "FL"):
        if isinstance(value, str):
            value = float(value)
        elif isinstance(value, (list, tuple)):
            value = [float(v) for v in value]
    setattr(ds, keyword, value)


def _ds_list(values: Sequence[float] | np.ndarray) -> list[str]:
    """Format several numbers as DS strings."""
    return [_ds(v) for v in values]


def _da(when: _dt.date) -> str:
    """Format a date as DICOM DA."""
    return when.strftime("%Y%m%d")


def _tm(when: _dt.datetime) -> str:
    """Format a time as DICOM TM with microseconds."""
    return f"{when:%H%M%S}.{when.microsecond:06d}"


def _dt_str(when: _dt.datetime) -> str:
    """Format a datetime as DICOM DT with microseconds."""
    return f"{when:%Y%m%d%H%M%S}.{when.microsecond:06d}"


def _parse_da(text: str) -> _dt.date:
    """Parse a DICOM DA string."""
    return _dt.datetime.strptime(text[:8], "%Y%m%d").date()


def _parse_tm(text: str) -> _dt.time:
    """Parse a DICOM TM string (fractions ignored, short forms padded)."""
    digits = (text.split(".")[0] + "000000")[:6]
    return _dt.time(int(digits[:2]), int(digits[2:4]), int(digits[4:6]))


# --------------------------------------------------------------------------
# patient / study / series identity
# --------------------------------------------------------------------------


def make_patient(*, seed: int = 0) -> dict[str, str]:
    """Make a synthetic patient, deterministic from ``seed``.

    Parameters
    ----------
    seed : int
        Non-negative seed.

    Returns
    -------
    dict of str to str
        ``PatientName`` (a made-up ``FAMILY^GIVEN``), ``PatientID``,
        ``PatientBirthDate`` and ``PatientSex``.
    """
    rng = _rng(seed, "patient")
    family = _FAMILY_NAMES[int(rng.integers(len(_FAMILY_NAMES)))]
    given, sex = _GIVEN_NAMES[int(rng.integers(len(_GIVEN_NAMES)))]
    birth = _dt.date(1940, 1, 1) + _dt.timedelta(days=int(rng.integers(0, 60 * 365)))
    return {
        "PatientName": f"{family}^{given}",
        "PatientID": f"PL{int(rng.integers(0, 10**6)):06d}",
        "PatientBirthDate": _da(birth),
        "PatientSex": sex,
    }


def make_study(*, seed: int = 0, kind: str = "", description: str = "") -> dict[str, str]:
    """Make synthetic study attributes, deterministic from ``seed`` and ``kind``.

    Parameters
    ----------
    seed : int
        Non-negative seed.
    kind : str
        A label that separates studies made from the same seed (the generators
        use the modality, so CT and MR calls with one seed give one patient
        with two studies).
    description : str
        ``StudyDescription``.

    Returns
    -------
    dict of str to str
        ``StudyInstanceUID``, ``StudyDate``, ``StudyTime``, ``AccessionNumber``,
        ``StudyDescription``, ``StudyID`` and ``ReferringPhysicianName``.
    """
    rng = _rng(seed, "study", kind)
    day = _dt.date(2024, 1, 1) + _dt.timedelta(days=int(rng.integers(0, 730)))
    start = _dt.datetime.combine(day, _dt.time(7, 0)) + _dt.timedelta(
        minutes=int(rng.integers(0, 600)), seconds=int(rng.integers(0, 60))
    )
    return {
        "StudyInstanceUID": str(_uid("study", _check_seed(seed), kind)),
        "StudyDate": _da(start.date()),
        "StudyTime": f"{start:%H%M%S}",
        "AccessionNumber": f"ACC{int(rng.integers(0, 10**8)):08d}",
        "StudyDescription": description,
        "StudyID": str(int(rng.integers(1, 100000))),
        "ReferringPhysicianName": _PHYSICIANS[int(rng.integers(len(_PHYSICIANS)))],
    }


def _as_mapping(value: Any, keys: Sequence[str]) -> dict[str, Any]:
    """Turn a mapping, dataclass or Dataset into a plain dict of DICOM keywords."""
    if value is None:
        return {}
    if isinstance(value, Dataset):
        return {k: str(value.get(k, "")) for k in keys if k in value}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a mapping, dataclass or Dataset, got {type(value).__name__}")
    result = {}
    for key, item in value.items():
        if key not in keyword_dict:
            raise ValueError(f"{key!r} is not a DICOM keyword")
        if item is not None:
            result[key] = item
    return result


def _patient_age(birth: str, on: str) -> str:
    """DICOM AS age (years) of someone born on ``birth`` at date ``on``."""
    try:
        b, d = _parse_da(birth), _parse_da(on)
    except ValueError:
        return ""
    years = d.year - b.year - ((d.month, d.day) < (b.month, b.day))
    return f"{max(years, 0):03d}Y"


@dataclasses.dataclass(frozen=True)
class _Context:
    """Identity shared by all instances of one series."""

    attrs: dict[str, Any]
    series_uid: str
    frame_of_reference_uid: str
    start: _dt.datetime
    seed: int


def _context(
    *,
    kind: str,
    modality: str,
    seed: int,
    patient: Any,
    study: Any,
    study_description: str,
    series_number: int,
    series_description: str,
    params: tuple[Any, ...],
) -> _Context:
    """Resolve patient, study and series identity for one series."""
    seed = _check_seed(seed)
    pat = {**make_patient(seed=seed), **_as_mapping(patient, _PATIENT_KEYS)}
    given_study = _as_mapping(study, _STUDY_KEYS)
    stu = {**make_study(seed=seed, kind=modality, description=study_description), **given_study}
    series_uid = str(_uid("series", stu["StudyInstanceUID"], kind, series_number, params))
    for_uid = str(_uid("frame-of-reference", series_uid))
    try:
        start = _dt.datetime.combine(_parse_da(str(stu["StudyDate"])), _parse_tm(str(stu["StudyTime"])))
    except ValueError:
        start = _dt.datetime(2024, 1, 1, 8, 0)
    start += _dt.timedelta(minutes=2 * int(series_number), seconds=_stable_int(series_uid) % 60)
    attrs: dict[str, Any] = {**pat, **stu}
    attrs["PatientAge"] = _patient_age(str(pat.get("PatientBirthDate", "")), str(stu.get("StudyDate", "")))
    attrs.update(
        Modality=modality,
        SeriesInstanceUID=series_uid,
        SeriesNumber=int(series_number),
        SeriesDescription=series_description,
        ProtocolName=series_description,
        SeriesDate=_da(start.date()),
        SeriesTime=_tm(start),
    )
    return _Context(attrs, series_uid, for_uid, start, seed)


def _equipment(modality: str, seed: int) -> dict[str, Any]:
    """General (and Enhanced General) Equipment attributes."""
    model = {"CT": "SYNTHETIC CT 64", "MR": "SYNTHETIC MR 3T", "DX": "SYNTHETIC DR"}[modality]
    return {
        "Manufacturer": _MANUFACTURER,
        "InstitutionName": _INSTITUTION,
        "StationName": f"{modality}SYN{seed % 10}",
        "ManufacturerModelName": model,
        "DeviceSerialNumber": f"{modality}-{_stable_int(modality, 'serial') % 100000:05d}",
        "SoftwareVersions": _SOFTWARE_VERSION,
    }


def _instance_base(ctx: _Context, sop_class: str, sop_uid: str, when: _dt.datetime) -> Dataset:
    """Start a dataset with the patient/study/series/equipment/SOP common attributes."""
    ds = Dataset()
    ds.SpecificCharacterSet = _CHARSET
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.InstanceCreationDate = _da(when.date())
    ds.InstanceCreationTime = _tm(when)
    for key, value in ctx.attrs.items():
        _set(ds, key, value)
    for key, value in _equipment(ctx.attrs["Modality"], ctx.seed).items():
        _set(ds, key, value)
    return ds


def _file_meta(sop_class: str, sop_uid: str) -> FileMetaDataset:
    """File Meta Information for an uncompressed little-endian dataset."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = _IMPLEMENTATION_UID
    meta.ImplementationVersionName = _IMPLEMENTATION_VERSION
    return meta


def _set_pixels(ds: Dataset, pixels: np.ndarray, transfer_syntax: str) -> None:
    """Store ``pixels`` (int16/uint16) in ``ds`` using ``transfer_syntax``.

    Uncompressed little- and big-endian, implicit VR and deflate are written
    natively; compressed syntaxes go through :meth:`pydicom.Dataset.compress`
    and need the matching encoder plugin.
    """
    ts = UID(transfer_syntax)
    ds.file_meta = _file_meta(ds.SOPClassUID, ds.SOPInstanceUID)
    data = np.ascontiguousarray(pixels)
    if ts.is_compressed:
        ds.compress(ts, data, generate_instance_uid=False)
        return
    if ts == ExplicitVRBigEndian:
        data = data.astype(data.dtype.newbyteorder(">"))
    ds.add_new(0x7FE00010, "OW", data.tobytes())
    ds.file_meta.TransferSyntaxUID = ts


def _image_pixel(
    ds: Dataset,
    rows: int,
    columns: int,
    *,
    bits_stored: int,
    signed: bool,
    frames: int | None = None,
) -> None:
    """Image Pixel module attributes for 16-bit grayscale."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = int(rows)
    ds.Columns = int(columns)
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if frames is not None:
        ds.NumberOfFrames = int(frames)


# --------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------


def _orientation(orientation: Sequence[float] | None, default: Sequence[float] = _AXIAL) -> np.ndarray:
    """Validate six direction cosines; return them normalised as a (2, 3) array."""
    values = np.asarray(default if orientation is None else orientation, dtype=np.float64)
    if values.shape != (6,) or not np.all(np.isfinite(values)):
        raise ValueError("orientation must be 6 finite direction cosines")
    row, col = values[:3], values[3:]
    if np.linalg.norm(row) < 1e-6 or np.linalg.norm(col) < 1e-6:
        raise ValueError("orientation cosines must not be zero vectors")
    row = row / np.linalg.norm(row)
    col = col / np.linalg.norm(col)
    if abs(float(row @ col)) > 1e-3:
        raise ValueError("row and column direction cosines must be orthogonal")
    col = col - (row @ col) * row
    return np.stack([row, col / np.linalg.norm(col)])


@dataclasses.dataclass(frozen=True)
class _Plane:
    """A stack of parallel image planes in patient space."""

    rows: int
    columns: int
    row_spacing: float
    column_spacing: float
    cosines: np.ndarray  # (2, 3): row direction, column direction
    first: np.ndarray  # position of the first pixel of the first plane
    step: float
    count: int

    @property
    def normal(self) -> np.ndarray:
        """Unit normal, the direction in which the planes are stacked."""
        return np.cross(self.cosines[0], self.cosines[1])

    @property
    def center(self) -> np.ndarray:
        """Patient position of the centre of the stack."""
        return (
            self.first
            + self.cosines[0] * self.column_spacing * (self.columns - 1) / 2
            + self.cosines[1] * self.row_spacing * (self.rows - 1) / 2
            + self.normal * self.step * (self.count - 1) / 2
        )

    def position(self, k: int) -> np.ndarray:
        """ImagePositionPatient of plane ``k``."""
        return self.first + self.normal * self.step * k

    def points(self, k: int, relative_to: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Patient coordinates (float32, each (rows, columns)) of plane ``k``'s pixels."""
        origin = self.position(k) - relative_to
        cc = (np.arange(self.columns) * self.column_spacing)[None, :]
        rr = (np.arange(self.rows) * self.row_spacing)[:, None]
        out = []
        for axis in range(3):
            a = self.cosines[0][axis] * cc + self.cosines[1][axis] * rr + origin[axis]
            out.append(np.broadcast_to(a, (self.rows, self.columns)).astype(np.float32))
        return out[0], out[1], out[2]

    def fov_mask(self) -> np.ndarray:
        """Boolean mask of the circular reconstruction field of view."""
        radius = min(self.rows * self.row_spacing, self.columns * self.column_spacing) / 2
        u = (np.arange(self.columns) - (self.columns - 1) / 2) * self.column_spacing
        v = (np.arange(self.rows) - (self.rows - 1) / 2) * self.row_spacing
        return (u[None, :] ** 2 + v[:, None] ** 2) <= radius**2


def _make_plane(
    *,
    rows: int,
    columns: int,
    pixel_spacing: Sequence[float],
    orientation: Sequence[float] | None,
    origin: Sequence[float] | None,
    count: int,
    step: float,
    center: Sequence[float] | np.ndarray,
    default_orientation: Sequence[float] = _AXIAL,
) -> _Plane:
    """Build a :class:`_Plane`; without ``origin`` the stack is centred on ``center``."""
    if rows < 1 or columns < 1 or count < 1:
        raise ValueError("rows, columns and the number of slices must be positive")
    row_spacing, column_spacing = (float(v) for v in pixel_spacing)
    if row_spacing <= 0 or column_spacing <= 0 or step <= 0:
        raise ValueError("spacings must be positive")
    cosines = _orientation(orientation, default_orientation)
    plane = _Plane(rows, columns, row_spacing, column_spacing, cosines, np.zeros(3), float(step), count)
    if origin is not None:
        first = np.asarray(origin, dtype=np.float64)
        if first.shape != (3,):
            raise ValueError("origin must be 3 coordinates (mm)")
    else:
        first = np.asarray(center, dtype=np.float64) - plane.center
    return dataclasses.replace(plane, first=first)


def _plane_attrs(plane: _Plane, k: int) -> dict[str, Any]:
    """Image Plane module attributes of plane ``k``."""
    position = plane.position(k)
    return {
        "ImagePositionPatient": _ds_list(position),
        "ImageOrientationPatient": _ds_list(plane.cosines.ravel()),
        "PixelSpacing": _ds_list((plane.row_spacing, plane.column_spacing)),
        "SliceLocation": _ds(float(position @ plane.normal)),
    }


def _rotation(degrees_x: float, degrees_y: float, degrees_z: float) -> np.ndarray:
    """Rotation matrix Rz @ Ry @ Rx (angles in degrees)."""
    ax, ay, az = (math.radians(a) for a in (degrees_x, degrees_y, degrees_z))
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


# --------------------------------------------------------------------------
# anatomy: CT chest (painter's algorithm on patient coordinates)
# --------------------------------------------------------------------------


def _inside(x: np.ndarray, y: np.ndarray, cx: float, cy: float, a: float, b: float) -> np.ndarray:
    """Points inside the axis-aligned ellipse (or elliptic cylinder)."""
    return ((x - cx) * (1.0 / a)) ** 2 + ((y - cy) * (1.0 / b)) ** 2 <= 1.0


def _inside3(x: np.ndarray, y: np.ndarray, z: np.ndarray, center: Sequence[float], semi: Sequence[float]) -> np.ndarray:
    """Points inside the axis-aligned ellipsoid."""
    return (
        ((x - center[0]) * (1.0 / semi[0])) ** 2
        + ((y - center[1]) * (1.0 / semi[1])) ** 2
        + ((z - center[2]) * (1.0 / semi[2])) ** 2
    ) <= 1.0


def _ct_chest_hu(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Noise-free HU of the chest phantom at anatomy coordinates (mm, centre 0).

    Soft tissue 40, subcutaneous fat -100, lungs -850, heart 45, liver 60,
    vertebrae 700 (cortex 1000), discs 90, ribs 900, sternum 600, air -1000.
    """
    hu = np.full(x.shape, -1000.0, dtype=np.float32)
    hu[_inside(x, y, 0, 0, 165, 115)] = -100.0
    hu[_inside(x, y, 0, 0, 150, 100)] = 40.0
    hu[_inside3(x, y, z, (-60, -10, -150), (90, 70, 100))] = 60.0
    for side in (-1.0, 1.0):
        hu[_inside3(x, y, z, (side * 72, -5, 0), (58, 75, 140))] = -850.0
    hu[_inside3(x, y, z, (25, -25, -30), (55, 50, 70))] = 45.0
    hu[_inside(x, y, 22, 45, 12, 12)] = 45.0
    hu[_inside(x, y, 0, -20, 9, 9) & (z > 70)] = -1000.0
    _paint_spine(hu, x, y, z)
    _paint_ribs(hu, x, y, z)
    hu[_inside(x, y, 0, -92, 14, 6) & (z > -120) & (z < 110)] = 600.0
    return hu


def _paint_spine(hu: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> None:
    """Vertebral bodies with discs, spinal canal, lamina and spinous process."""
    body = _inside(x, y, 0, 62, 20, 16)
    disc = np.mod(z + 15.0, 30.0) < 6.0
    hu[body] = 1000.0
    hu[_inside(x, y, 0, 62, 16.5, 12.5) & ~disc] = 700.0
    hu[body & disc] = 90.0
    hu[_inside(x, y, 0, 88, 13, 13)] = 900.0
    hu[_inside(x, y, 0, 88, 8, 8)] = 20.0
    hu[_inside(x, y, 0, 106, 4.5, 9)] = 900.0


def _paint_ribs(hu: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> None:
    """Ribs: a thin shell inside the chest wall, cut into sloping bands."""
    rho2 = (x * (1.0 / 150)) ** 2 + (y * (1.0 / 100)) ** 2
    shell = (rho2 >= 0.86**2) & (rho2 <= 0.93**2) & (z > -140) & (z < 120)
    band = np.mod(z - 0.5 * y, 28.0) < 9.0
    gaps = ((np.abs(x) < 32) & (y > 20)) | ((np.abs(x) < 30) & (y < 0))
    hu[shell & band & ~gaps] = 900.0


def _ct_encode(hu: np.ndarray, fov: np.ndarray | None) -> np.ndarray:
    """HU -> stored int16 (intercept -1024), padding outside the FOV."""
    stored = np.clip(np.rint(hu), _CT_MIN_HU, _CT_MAX_HU) - _CT_INTERCEPT
    stored = stored.astype(np.int16)
    if fov is not None:
        stored[~fov] = _CT_PADDING
    return stored


def _ct_scale(plane: _Plane) -> float:
    """In-plane anatomy scale so the body fits any reconstruction FOV."""
    fov = min(plane.rows * plane.row_spacing, plane.columns * plane.column_spacing)
    return fov / _CT_REFERENCE_FOV


def _ct_slice(
    plane: _Plane,
    k: int,
    center: np.ndarray,
    fov: np.ndarray,
    rng: np.random.Generator,
    noise_sd: float,
) -> np.ndarray:
    """Compute the stored int16 values of CT slice ``k`` of the chest phantom."""
    x, y, z = plane.points(k, center)
    scale = _ct_scale(plane)
    hu = _ct_chest_hu(x / scale, y / scale, z)
    if noise_sd > 0:
        hu += rng.standard_normal(hu.shape, dtype=np.float32) * np.float32(noise_sd)
    return _ct_encode(hu, fov)


# --------------------------------------------------------------------------
# anatomy: projections (radiograph, CT localizer)
# --------------------------------------------------------------------------

#: (center xyz, semi-axes xyz, attenuation delta 1/mm, z exponent) of the chest
_CHEST_PROJECTION = (
    ((0, 0, -400), (160, 110, 530), 0.019, 6.0),  # torso with flat sides
    ((0, 30, 200), (55, 60, 90), 0.020, 2.0),  # neck
    ((-150, 20, 120), (75, 60, 55), 0.020, 2.0),  # shoulders
    ((150, 20, 120), (75, 60, 55), 0.020, 2.0),
    ((-72, -5, 10), (58, 75, 125), -0.016, 2.0),  # right lung (higher hemidiaphragm)
    ((72, -5, 0), (58, 75, 140), -0.016, 2.0),  # left lung
    ((25, -25, -30), (55, 50, 70), 0.010, 2.0),  # heart
    ((-60, -10, -150), (90, 70, 100), 0.003, 2.0),  # liver
    ((-75, -60, 150), (75, 7, 7), 0.030, 2.0),  # clavicles
    ((75, -60, 150), (75, 7, 7), 0.030, 2.0),
)


def _chest_ellipsoids() -> list[tuple[tuple[float, ...], tuple[float, ...], float, float]]:
    """Projection ellipsoids: soft tissue, lungs, heart, clavicles and vertebrae."""
    items = [tuple(e) for e in _CHEST_PROJECTION]
    for zc in np.arange(-330.0, 260.0, 28.0):
        items.append(((0, 62, float(zc)), (20, 16, 13), 0.022, 2.0))
    return items  # type: ignore[return-value]


def _project_ellipsoids(u: np.ndarray, v: np.ndarray, axis: int, ellipsoids: Sequence[tuple[Any, ...]]) -> np.ndarray:
    """Line integrals through ellipsoids along ``axis`` (0: x, 1: y).

    ``u`` (columns) is the other horizontal coordinate and ``v`` (rows) the
    patient z coordinate, both 1-D and in anatomy mm.  Each ellipsoid is only
    evaluated on its bounding box.
    """
    out = np.zeros((v.size, u.size), dtype=np.float32)
    ui = 1 - axis  # x for AP projections, y for lateral ones
    for center, semi, mu, pz in ellipsoids:
        cols = np.nonzero(np.abs(u - center[ui]) < semi[ui])[0]
        rows = np.nonzero(np.abs(v - center[2]) < semi[2])[0]
        if cols.size == 0 or rows.size == 0:
            continue
        c0, c1, r0, r1 = cols[0], cols[-1] + 1, rows[0], rows[-1] + 1
        du = ((u[c0:c1] - center[ui]) / semi[ui])[None, :] ** 2
        dv = (np.abs(v[r0:r1] - center[2]) / semi[2])[:, None] ** pz
        chord = 2.0 * semi[axis] * np.sqrt(np.clip(1.0 - du - dv, 0.0, None))
        out[r0:r1, c0:c1] += (mu * chord).astype(np.float32)
    return out


def _project_ribs(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Posterior rib arcs of a frontal chest projection (anatomy mm)."""
    out = np.zeros((v.size, u.size), dtype=np.float32)
    t = (np.abs(u) - 18.0) / 135.0
    inside = (t >= 0) & (t <= 1)
    if not inside.any():
        return out
    tc = np.clip(t, 0, 1)
    lift = 28.0 * np.sin(np.pi * 0.9 * tc) - 70.0 * tc**2
    radius = 4.5 + 1.5 * tc
    low, high = lift.min() - radius.max(), lift.max() + radius.max()
    for zk in np.arange(150.0, -110.0, -25.0):
        rows = np.nonzero((v > zk + low) & (v < zk + high))[0]
        if rows.size == 0:
            continue
        r0, r1 = rows[0], rows[-1] + 1
        d = np.abs(v[r0:r1, None] - (zk + lift)[None, :]) / radius[None, :]
        chord = 2 * radius * np.sqrt(np.clip(1 - d**2, 0, None))
        out[r0:r1] += np.where(inside[None, :] & (d < 1), 0.035 * chord, 0).astype(np.float32)
    return out


def _chest_projection(u: np.ndarray, v: np.ndarray, *, axis: int) -> np.ndarray:
    """Attenuation line integral image of the chest (rows = -z, columns = u)."""
    ellipsoids = _chest_ellipsoids()
    if axis == 0:  # lateral: arms up, so no shoulders; clavicles end-on
        ellipsoids = [e for e in ellipsoids if abs(e[0][0]) < 60]
    image = _project_ellipsoids(u, v, axis, ellipsoids)
    if axis == 1:
        image += _project_ribs(u, v)
    return np.clip(image, 0.0, None)


# --------------------------------------------------------------------------
# anatomy: MR head
# --------------------------------------------------------------------------

#: proton density, T1 (ms), T2 (ms) per label (3 T-like)
_MR_TISSUES = np.array(
    [
        (0.00, 1000.0, 1.0),  # 0 air
        (0.90, 380.0, 110.0),  # 1 scalp / fat
        (0.05, 300.0, 5.0),  # 2 skull
        (1.00, 4200.0, 1800.0),  # 3 CSF
        (0.80, 1400.0, 100.0),  # 4 grey matter
        (0.68, 850.0, 75.0),  # 5 white matter
        (1.00, 4000.0, 1200.0),  # 6 vitreous
        (0.75, 1400.0, 45.0),  # 7 muscle
    ],
    dtype=np.float64,
)


def _mr_head_labels(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Tissue labels of the head phantom at anatomy coordinates (mm, centre 0)."""
    labels = np.zeros(x.shape, dtype=np.uint8)
    labels[_inside3(x, y, z, (0, 0, 0), (75, 95, 100))] = 1
    labels[_inside3(x, y, z, (0, 0, 0), (70, 90, 95))] = 2
    labels[_inside3(x, y, z, (0, 0, 0), (64.5, 84.5, 89.5))] = 3
    labels[_inside3(x, y, z, (0, 0, 0), (62, 82, 87))] = 4
    gyri = 1.0 + 0.12 * np.sin(0.17 * x + 0.4) * np.sin(0.15 * y + 1.1) * np.sin(0.16 * z + 0.7)
    wm = ((x / 48.0) ** 2 + (y / 66.0) ** 2 + (z / 68.0) ** 2) <= gyri**2
    labels[wm] = 5
    for side in (-1, 1):
        labels[_inside3(x, y, z, (side * 12, 10, 0), (10, 14, 10))] = 4
        labels[_inside3(x, y, z, (side * 9, -5, 12), (6, 25, 13))] = 3
    labels[_inside3(x, y, z, (0, 40, -45), (40, 25, 18))] = 4
    labels[_inside3(x, y, z, (0, 40, -45), (24, 14, 9))] = 5
    labels[_inside3(x, y, z, (0, 10, -45), (11, 11, 30))] = 5
    for side in (-1, 1):
        labels[_inside3(x, y, z, (side * 32, -76, -40), (17, 17, 15))] = 1
        labels[_inside3(x, y, z, (side * 32, -78, -40), (12, 12, 12))] = 6
        labels[_inside3(x, y, z, (side * 62, 0, -35), (10, 30, 25)) & (labels == 1)] = 7
    return labels


def _mr_signal_table(echo_time: float, repetition_time: float) -> np.ndarray:
    """Spin-echo signal per tissue label."""
    pd, t1, t2 = _MR_TISSUES.T
    signal = 3000.0 * pd * (1.0 - np.exp(-repetition_time / t1)) * np.exp(-echo_time / t2)
    return signal.astype(np.float32)


def _mr_bias(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Smooth receive-coil sensitivity (about 0.85 to 1.1)."""
    return (1.05 - 0.08 * ((x / 90.0) ** 2 + (y / 110.0) ** 2) + 0.04 * (z / 100.0)).astype(np.float32)


def _rician(signal: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the signal plus complex Gaussian noise."""
    real = signal + rng.standard_normal(signal.shape, dtype=np.float32) * np.float32(sigma)
    imag = rng.standard_normal(signal.shape, dtype=np.float32) * np.float32(sigma)
    return np.sqrt(real * real + imag * imag)


# --------------------------------------------------------------------------
# CT series
# --------------------------------------------------------------------------


def _ct_acquisition_attrs(plane: _Plane, thickness: float) -> dict[str, Any]:
    """CT Image module acquisition attributes (realistic constants)."""
    fov = min(plane.rows * plane.row_spacing, plane.columns * plane.column_spacing)
    return {
        "KVP": "120",
        "DataCollectionDiameter": "500",
        "ReconstructionDiameter": _ds(fov),
        "DistanceSourceToDetector": "1085.6",
        "DistanceSourceToPatient": "595",
        "GantryDetectorTilt": "0",
        "TableHeight": "160",
        "RotationDirection": "CW",
        "ExposureTime": 500,
        "XRayTubeCurrent": 200,
        "Exposure": 100,
        "FilterType": "BODY FILTER",
        "GeneratorPower": 24,
        "FocalSpots": "1.2",
        "ConvolutionKernel": "STANDARD",
        "RevolutionTime": "0.5",
        "SingleCollimationWidth": "0.625",
        "TotalCollimationWidth": "40",
        "TableSpeed": "78.75",
        "TableFeedPerRotation": "39.375",
        "SpiralPitchFactor": "0.984375",
        "CTDIvol": "8.2",
        "CTDIPhantomTypeCodeSequence": [_code("113691", "DCM", "IEC Body Dosimetry Phantom")],
        "SliceThickness": _ds(thickness),
        "PatientPosition": "HFS",
        "PositionReferenceIndicator": "",
        "BurnedInAnnotation": "NO",
        "RescaleIntercept": str(_CT_INTERCEPT),
        "RescaleSlope": "1",
        "RescaleType": "HU",
    }


def _ct_dataset(
    ctx: _Context,
    *,
    index: int,
    instance_number: int,
    when: _dt.datetime,
    image_type: Sequence[str],
    attrs: Mapping[str, Any],
    pixels: np.ndarray,
    transfer_syntax: str,
    padding: bool = True,
) -> Dataset:
    """One CT Image Storage instance."""
    sop_uid = str(_uid("sop", ctx.series_uid, index))
    ds = _instance_base(ctx, CTImageStorage, sop_uid, when)
    ds.ImageType = list(image_type)
    ds.AcquisitionDate = _da(when.date())
    ds.AcquisitionTime = _tm(when)
    ds.ContentDate = _da(when.date())
    ds.ContentTime = _tm(when)
    ds.InstanceNumber = int(instance_number)
    ds.FrameOfReferenceUID = ctx.frame_of_reference_uid
    for key, value in attrs.items():
        _set(ds, key, value)
    _image_pixel(ds, pixels.shape[0], pixels.shape[1], bits_stored=16, signed=True)
    if padding:
        ds.add_new(0x00280120, "SS", _CT_PADDING)
    _set_pixels(ds, pixels, transfer_syntax)
    return ds


def _iter_ct(
    ctx: _Context,
    plane: _Plane,
    *,
    thickness: float,
    image_type: Sequence[str],
    noise_sd: float,
    transfer_syntax: str,
    body_part: str = "CHEST",
    first_index: int = 0,
    acquisition_number: int = 1,
    extra: Mapping[str, Any] | None = None,
) -> Iterator[Dataset]:
    """Yield the axial (or oblique) slices of a chest CT series."""
    center = plane.center
    fov = plane.fov_mask()
    rng = _rng(ctx.seed, "ct-noise", ctx.series_uid, first_index)
    common = _ct_acquisition_attrs(plane, thickness)
    common.update(
        BodyPartExamined=body_part,
        AcquisitionNumber=acquisition_number,
        SpacingBetweenSlices=_ds(plane.step),
        WindowCenter=["40", "-600"],
        WindowWidth=["400", "1500"],
        WindowCenterWidthExplanation=["SOFT TISSUE", "LUNG"],
        **(extra or {}),
    )
    for k in range(plane.count):
        pixels = _ct_slice(plane, k, center, fov, rng, noise_sd)
        attrs = {**common, **_plane_attrs(plane, k)}
        index = first_index + k
        when = ctx.start + _dt.timedelta(seconds=5 + 0.05 * k)
        yield _ct_dataset(
            ctx,
            index=index,
            instance_number=index + 1,
            when=when,
            image_type=image_type,
            attrs=attrs,
            pixels=pixels,
            transfer_syntax=transfer_syntax,
        )


def _ct_setup(
    *,
    kind: str,
    seed: int,
    n_slices: int,
    rows: int,
    columns: int,
    pixel_spacing: Sequence[float],
    slice_thickness: float,
    spacing_between_slices: float | None,
    patient: Any,
    study: Any,
    orientation: Sequence[float] | None,
    origin: Sequence[float] | None,
    series_number: int,
    series_description: str,
    transfer_syntax: str,
    extra_params: tuple[Any, ...] = (),
) -> tuple[_Context, _Plane]:
    """Context and geometry of a CT series."""
    step = float(slice_thickness if spacing_between_slices is None else spacing_between_slices)
    plane = _make_plane(
        rows=rows,
        columns=columns,
        pixel_spacing=pixel_spacing,
        orientation=orientation,
        origin=origin,
        count=n_slices,
        step=step,
        center=(0.0, 0.0, -150.0),
    )
    params = (
        n_slices,
        rows,
        columns,
        tuple(float(v) for v in pixel_spacing),
        float(slice_thickness),
        step,
        tuple(plane.cosines.ravel().round(12)),
        tuple(plane.first.round(9)),
        *extra_params,
    )
    ctx = _context(
        kind=kind,
        modality="CT",
        seed=seed,
        patient=patient,
        study=study,
        study_description="CT CHEST",
        series_number=series_number,
        series_description=series_description,
        params=params,
    )
    return ctx, plane


def generate_ct_series(
    *,
    seed: int = 0,
    n_slices: int = 40,
    rows: int = 512,
    columns: int = 512,
    pixel_spacing: Sequence[float] = (0.7, 0.7),
    slice_thickness: float = 2.5,
    spacing_between_slices: float | None = None,
    patient: Any = None,
    study: Any = None,
    orientation: Sequence[float] | None = None,
    origin: Sequence[float] | None = None,
    series_number: int = 1,
    series_description: str = "CT CHEST",
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "AXIAL"),
    noise_sd: float = 12.0,
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> list[Dataset]:
    """Generate a CT Image Storage series of an anatomy-like chest phantom.

    The phantom is a body ellipse of soft tissue (40 HU) with a subcutaneous
    fat rim (-100 HU), two lungs (-850 HU), heart, liver dome, vertebrae
    (700 HU, cortex 1000 HU) and ribs (900 HU), plus Gaussian noise.  Air
    (-1000 HU, clipped at -1024) fills the circular reconstruction field of
    view; outside it the stored value is ``PixelPaddingValue`` (-2000).
    Pixels are int16 (BitsStored 16) with ``RescaleIntercept`` -1024 and
    ``RescaleSlope`` 1.  The anatomy is evaluated in patient space, so any
    orientation cuts through it consistently; it is scaled in-plane to the
    field of view so that small test images still show every tissue.

    Parameters
    ----------
    seed : int
        Non-negative seed; every UID, date, name and noise sample derives from it.
    n_slices, rows, columns : int
        Size of the series.
    pixel_spacing : (float, float)
        DICOM ``PixelSpacing`` (row spacing, column spacing) in mm.
    slice_thickness : float
        ``SliceThickness`` in mm.
    spacing_between_slices : float, optional
        Distance between consecutive positions along the normal; defaults to
        ``slice_thickness``.
    patient, study : mapping, dataclass or Dataset, optional
        See the module documentation; missing keys come from the seed.
    orientation : sequence of 6 float, optional
        ``ImageOrientationPatient``; default axial ``[1, 0, 0, 0, 1, 0]``.
        Positions step along the normal (row cosine x column cosine).
    origin : sequence of 3 float, optional
        ``ImagePositionPatient`` of the first slice; by default the stack is
        centred on (0, 0, -150) mm.
    series_number : int
        ``SeriesNumber``.
    series_description : str
        ``SeriesDescription`` (also ``ProtocolName``).
    image_type : sequence of str
        ``ImageType``.
    noise_sd : float
        Standard deviation of the Gaussian noise in HU.
    transfer_syntax : str
        Transfer syntax UID; compressed syntaxes need an encoder plugin.

    Returns
    -------
    list of pydicom.Dataset
        One dataset per slice in acquisition order (``InstanceNumber`` 1..n),
        each with ``file_meta`` set.
    """
    ctx, plane = _ct_setup(
        kind="ct",
        seed=seed,
        n_slices=n_slices,
        rows=rows,
        columns=columns,
        pixel_spacing=pixel_spacing,
        slice_thickness=slice_thickness,
        spacing_between_slices=spacing_between_slices,
        patient=patient,
        study=study,
        orientation=orientation,
        origin=origin,
        series_number=series_number,
        series_description=series_description,
        transfer_syntax=transfer_syntax,
        extra_params=(tuple(image_type), float(noise_sd)),
    )
    return list(
        _iter_ct(
            ctx,
            plane,
            thickness=slice_thickness,
            image_type=image_type,
            noise_sd=noise_sd,
            transfer_syntax=transfer_syntax,
        )
    )


def oblique_orientation(degrees_x: float = 20.0, degrees_y: float = 0.0, degrees_z: float = 10.0) -> list[float]:
    """Direction cosines of the axial plane rotated about x, then y, then z.

    Parameters
    ----------
    degrees_x, degrees_y, degrees_z : float
        Rotation angles in degrees.

    Returns
    -------
    list of float
        Six unit, orthogonal direction cosines (row, then column).
    """
    rotation = _rotation(degrees_x, degrees_y, degrees_z)
    return [float(v) for v in np.concatenate([rotation[:, 0], rotation[:, 1]])]


def generate_oblique_ct(
    *,
    seed: int = 0,
    n_slices: int = 30,
    rows: int = 256,
    columns: int = 256,
    pixel_spacing: Sequence[float] = (1.4, 1.4),
    slice_thickness: float = 2.0,
    angles: Sequence[float] = (20.0, 0.0, 10.0),
    patient: Any = None,
    study: Any = None,
    origin: Sequence[float] | None = None,
    series_number: int = 1,
    series_description: str = "CT CHEST OBLIQUE MPR",
    noise_sd: float = 12.0,
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> list[Dataset]:
    r"""Generate a CT series with a clearly oblique orientation.

    The axial plane is rotated by ``angles`` (degrees about x, then y, then z;
    default 20 deg about x and 10 deg about z).  The cosines are unit and
    orthogonal; positions step along their normal.  ``ImageType`` is
    ``DERIVED\SECONDARY\AXIAL`` as for a multiplanar reformation.

    Parameters
    ----------
    seed : int
        Non-negative seed.
    n_slices, rows, columns : int
        Size of the series.
    pixel_spacing : (float, float)
        ``PixelSpacing`` in mm.
    slice_thickness : float
        ``SliceThickness`` and spacing between slices in mm.
    angles : (float, float, float)
        Rotation angles in degrees about x, y and z.
    patient, study : mapping, dataclass or Dataset, optional
        Shared identity, see the module documentation.
    origin : sequence of 3 float, optional
        Position of the first slice; centred on (0, 0, -150) by default.
    series_number : int
        ``SeriesNumber``.
    series_description : str
        ``SeriesDescription``.
    noise_sd : float
        Noise standard deviation in HU.
    transfer_syntax : str
        Transfer syntax UID.

    Returns
    -------
    list of pydicom.Dataset
        The slices in order.
    """
    orientation = oblique_orientation(*angles)
    ctx, plane = _ct_setup(
        kind="ct-oblique",
        seed=seed,
        n_slices=n_slices,
        rows=rows,
        columns=columns,
        pixel_spacing=pixel_spacing,
        slice_thickness=slice_thickness,
        spacing_between_slices=None,
        patient=patient,
        study=study,
        orientation=orientation,
        origin=origin,
        series_number=series_number,
        series_description=series_description,
        transfer_syntax=transfer_syntax,
        extra_params=(float(noise_sd),),
    )
    extra = {
        "DerivationDescription": "Oblique multiplanar reformation",
        "GantryDetectorTilt": "0",
    }
    return list(
        _iter_ct(
            ctx,
            plane,
            thickness=slice_thickness,
            image_type=("DERIVED", "SECONDARY", "AXIAL"),
            noise_sd=noise_sd,
            transfer_syntax=transfer_syntax,
            extra=extra,
        )
    )


# --------------------------------------------------------------------------
# CT localizer + axial series
# --------------------------------------------------------------------------


def _localizer_plane(axial: _Plane, lateral: bool, shape: Sequence[int], spacing: float) -> _Plane:
    """Geometry of a scout through the centre of ``axial``."""
    rows, columns = (int(v) for v in shape)
    orientation = _SAGITTAL if lateral else _CORONAL
    return _make_plane(
        rows=rows,
        columns=columns,
        pixel_spacing=(spacing, spacing),
        orientation=orientation,
        origin=None,
        count=1,
        step=1.0,
        center=axial.center,
    )


def _localizer_pixels(
    scout: _Plane, axial: _Plane, lateral: bool, rng: np.random.Generator, noise_sd: float
) -> np.ndarray:
    """Compute a scout's stored int16 values: HU-like line integrals of the chest."""
    scale = _ct_scale(axial)
    rel = scout.position(0) - axial.center
    u_axis = 1 if lateral else 0
    u = (rel[u_axis] + np.arange(scout.columns) * scout.column_spacing) / scale
    v = rel[2] - np.arange(scout.rows) * scout.row_spacing
    integral = _chest_projection(u, v, axis=0 if lateral else 1)
    values = -1000.0 + 520.0 * integral * scale
    values += rng.standard_normal(values.shape, dtype=np.float32) * np.float32(noise_sd)
    return _ct_encode(values, None)


#: CT Image attributes that do not apply to a (non-spiral, projection) scout
_NOT_FOR_SCOUTS = (
    "SliceLocation",
    "RescaleType",
    "ReconstructionDiameter",
    "TableSpeed",
    "TableFeedPerRotation",
    "SpiralPitchFactor",
    "RevolutionTime",
)


def generate_localizer_mixed_series(
    *,
    seed: int = 0,
    n_slices: int = 20,
    rows: int = 512,
    columns: int = 512,
    pixel_spacing: Sequence[float] = (0.7, 0.7),
    slice_thickness: float = 5.0,
    n_localizers: int = 2,
    localizer_shape: Sequence[int] = (640, 512),
    localizer_spacing: float = 0.8,
    patient: Any = None,
    study: Any = None,
    series_number: int = 1,
    series_description: str = "TOPOGRAM + CHEST",
    noise_sd: float = 12.0,
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> list[Dataset]:
    r"""Generate a CT series mixing axial slices with localizer (scout) images.

    All instances share one ``SeriesInstanceUID`` and ``FrameOfReferenceUID``.
    The localizers come first (``InstanceNumber`` 1.., ``AcquisitionNumber``
    1, ``ImageType`` ``ORIGINAL\PRIMARY\LOCALIZER``): a frontal scout
    (coronal plane ``[1, 0, 0, 0, 0, -1]``) and, with ``n_localizers=2``, a
    lateral one (sagittal plane ``[0, 1, 0, 0, 0, -1]``), both of
    ``localizer_shape`` pixels and without padding.  The axial slices follow
    (``AcquisitionNumber`` 2).

    Parameters
    ----------
    seed : int
        Non-negative seed.
    n_slices, rows, columns : int
        Size of the axial part.
    pixel_spacing : (float, float)
        Axial ``PixelSpacing`` in mm.
    slice_thickness : float
        Axial slice thickness and spacing in mm.
    n_localizers : {1, 2}
        Number of scouts.
    localizer_shape : (int, int)
        Scout (rows, columns).
    localizer_spacing : float
        Scout pixel spacing in mm.
    patient, study : mapping, dataclass or Dataset, optional
        Shared identity, see the module documentation.
    series_number : int
        ``SeriesNumber``.
    series_description : str
        ``SeriesDescription``.
    noise_sd : float
        Axial noise standard deviation in HU.
    transfer_syntax : str
        Transfer syntax UID.

    Returns
    -------
    list of pydicom.Dataset
        Localizers then axial slices.
    """
    if n_localizers not in (1, 2):
        raise ValueError("n_localizers must be 1 or 2")
    ctx, plane = _ct_setup(
        kind="ct-localizer-mixed",
        seed=seed,
        n_slices=n_slices,
        rows=rows,
        columns=columns,
        pixel_spacing=pixel_spacing,
        slice_thickness=slice_thickness,
        spacing_between_slices=None,
        patient=patient,
        study=study,
        orientation=None,
        origin=None,
        series_number=series_number,
        series_description=series_description,
        transfer_syntax=transfer_syntax,
        extra_params=(
            n_localizers,
            tuple(localizer_shape),
            float(localizer_spacing),
            float(noise_sd),
        ),
    )
    out = []
    rng = _rng(ctx.seed, "localizer-noise", ctx.series_uid)
    for index in range(n_localizers):
        lateral = index == 1
        scout = _localizer_plane(plane, lateral, localizer_shape, localizer_spacing)
        pixels = _localizer_pixels(scout, plane, lateral, rng, 6.0)
        attrs = _ct_acquisition_attrs(scout, 0.6)
        attrs.update(_plane_attrs(scout, 0))
        for key in _NOT_FOR_SCOUTS:
            del attrs[key]
        attrs.update(
            BodyPartExamined="CHEST",
            AcquisitionNumber=1,
            WindowCenter="300",
            WindowWidth="2500",
            ExposureTime=2000,
            XRayTubeCurrent=35,
            Exposure=70,
            ConvolutionKernel="T20s",
            ImageComments="Topogram " + ("lateral" if lateral else "AP"),
        )
        out.append(
            _ct_dataset(
                ctx,
                index=index,
                instance_number=index + 1,
                when=ctx.start + _dt.timedelta(seconds=index * 10),
                image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
                attrs=attrs,
                pixels=pixels,
                transfer_syntax=transfer_syntax,
                padding=False,
            )
        )
    out.extend(
        _iter_ct(
            ctx,
            plane,
            thickness=slice_thickness,
            image_type=("ORIGINAL", "PRIMARY", "AXIAL"),
            noise_sd=noise_sd,
            transfer_syntax=transfer_syntax,
            first_index=n_localizers,
            acquisition_number=2,
        )
    )
    return out


# --------------------------------------------------------------------------
# Enhanced CT
# --------------------------------------------------------------------------


def _item(**attrs: Any) -> Dataset:
    """Make a sequence item with the given attributes."""
    item = Dataset()
    for key, value in attrs.items():
        _set(item, key, value)
    return item


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    """Make a code sequence item."""
    return _item(CodeValue=value, CodingSchemeDesignator=scheme, CodeMeaning=meaning)


def _enhanced_ct_shared(plane: _Plane, thickness: float, irradiation_uid: str) -> Dataset:
    """Build the Shared Functional Groups item of an Enhanced CT instance."""
    fov = min(plane.rows * plane.row_spacing, plane.columns * plane.column_spacing)
    frame_type = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    groups = _item(
        PixelMeasuresSequence=[
            _item(
                PixelSpacing=_ds_list((plane.row_spacing, plane.column_spacing)),
                SliceThickness=_ds(thickness),
            )
        ],
        PlaneOrientationSequence=[_item(ImageOrientationPatient=_ds_list(plane.cosines.ravel()))],
        FrameAnatomySequence=[_item(AnatomicRegionSequence=[_code("51185008", "SCT", "Thorax")], FrameLaterality="U")],
        PixelValueTransformationSequence=[
            _item(RescaleIntercept=str(_CT_INTERCEPT), RescaleSlope="1", RescaleType="HU")
        ],
        FrameVOILUTSequence=[
            _item(
                WindowCenter=["40", "-600"],
                WindowWidth=["400", "1500"],
                WindowCenterWidthExplanation=["SOFT TISSUE", "LUNG"],
            )
        ],
        IrradiationEventIdentificationSequence=[_item(IrradiationEventUID=irradiation_uid)],
        CTImageFrameTypeSequence=[
            _item(
                FrameType=frame_type,
                PixelPresentation="MONOCHROME",
                VolumetricProperties="VOLUME",
                VolumeBasedCalculationTechnique="NONE",
            )
        ],
        CTAcquisitionTypeSequence=[_item(AcquisitionType="SPIRAL", ConstantVolumeFlag="NO", FluoroscopyFlag="NO")],
        CTAcquisitionDetailsSequence=[
            _item(
                DataCollectionDiameter="500",
                GantryDetectorTilt="0",
                TableHeight="160",
                RotationDirection="CW",
                RevolutionTime="0.5",
                SingleCollimationWidth="0.625",
                TotalCollimationWidth="40",
            )
        ],
        CTTableDynamicsSequence=[
            _item(TableSpeed="78.75", TableFeedPerRotation="39.375", SpiralPitchFactor="0.984375")
        ],
        CTGeometrySequence=[_item(DistanceSourceToDetector="1085.6", DistanceSourceToDataCollectionCenter="595")],
        CTReconstructionSequence=[
            _item(
                ReconstructionAlgorithm="FILTER_BACK_PROJ",
                ConvolutionKernel="STANDARD",
                ConvolutionKernelGroup="SOFT_TISSUE",
                ReconstructionDiameter=_ds(fov),
                ReconstructionAngle="360",
                ImageFilter="NONE",
                ReconstructionPixelSpacing=_ds_list((plane.row_spacing, plane.column_spacing)),
            )
        ],
        CTExposureSequence=[
            _item(
                ExposureTimeInms="500",
                XRayTubeCurrentInmA="200",
                ExposureInmAs="100",
                ExposureModulationType="NONE",
                CTDIvol="8.2",
                CTDIPhantomTypeCodeSequence=[_code("113691", "DCM", "IEC Body Dosimetry Phantom")],
            )
        ],
        CTXRayDetailsSequence=[_item(KVP="120", FocalSpots="1.2", FilterType="BODY FILTER", FilterMaterial="ALUMINUM")],
    )
    return groups


def _enhanced_ct_frame(plane: _Plane, k: int, when: _dt.datetime, table_position: float) -> Dataset:
    """Build the Per-frame Functional Groups item of frame ``k`` (true position order)."""
    position = plane.position(k)
    center = position + plane.cosines[0] * plane.column_spacing * (plane.columns - 1) / 2
    center = center + plane.cosines[1] * plane.row_spacing * (plane.rows - 1) / 2
    return _item(
        FrameContentSequence=[
            _item(
                FrameAcquisitionNumber=1,
                FrameReferenceDateTime=_dt_str(when),
                FrameAcquisitionDateTime=_dt_str(when),
                FrameAcquisitionDuration="500",
                StackID="1",
                InStackPositionNumber=k + 1,
                DimensionIndexValues=[1, k + 1],
            )
        ],
        PlanePositionSequence=[_item(ImagePositionPatient=_ds_list(position))],
        CTPositionSequence=[
            _item(
                TablePosition=_ds(table_position),
                ReconstructionTargetCenterPatient=_ds_list(center),
                DataCollectionCenterPatient=_ds_list(center),
            )
        ],
    )


def _dimensions(ds: Dataset, organization_uid: str) -> None:
    """Multi-frame Dimension module: Stack ID, then In-Stack Position Number."""
    ds.DimensionOrganizationSequence = [_item(DimensionOrganizationUID=organization_uid)]
    ds.DimensionOrganizationType = "3D"
    ds.DimensionIndexSequence = [
        _item(
            DimensionOrganizationUID=organization_uid,
            DimensionIndexPointer=0x00209056,
            FunctionalGroupPointer=0x00209111,
            DimensionDescriptionLabel="Stack ID",
        ),
        _item(
            DimensionOrganizationUID=organization_uid,
            DimensionIndexPointer=0x00209057,
            FunctionalGroupPointer=0x00209111,
            DimensionDescriptionLabel="In-Stack Position Number",
        ),
    ]


def generate_enhanced_ct(
    *,
    seed: int = 0,
    n_frames: int = 20,
    rows: int = 256,
    columns: int = 256,
    pixel_spacing: Sequence[float] = (1.4, 1.4),
    slice_thickness: float = 2.5,
    orientation: Sequence[float] | None = None,
    origin: Sequence[float] | None = None,
    shuffle_frames: bool = False,
    patient: Any = None,
    study: Any = None,
    series_number: int = 1,
    series_description: str = "CT CHEST ENHANCED",
    noise_sd: float = 12.0,
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> Dataset:
    """Generate one Enhanced CT Image Storage multi-frame instance.

    Frames are slices of the chest phantom of :func:`generate_ct_series`.
    Shared functional groups hold pixel measures, plane orientation, frame
    anatomy, pixel value transformation, frame VOI LUT, irradiation event and
    the CT frame type / acquisition / reconstruction / exposure groups; per-frame
    groups hold the frame content (``StackID``, ``InStackPositionNumber``,
    ``DimensionIndexValues`` = [stack, position]), plane position and CT
    position.  The dimension organisation is Stack ID then In-Stack Position.

    Parameters
    ----------
    seed : int
        Non-negative seed.
    n_frames, rows, columns : int
        Size of the volume.
    pixel_spacing : (float, float)
        ``PixelSpacing`` in mm.
    slice_thickness : float
        Slice thickness and spacing in mm.
    orientation : sequence of 6 float, optional
        ``ImageOrientationPatient``; axial by default.
    origin : sequence of 3 float, optional
        Position of the first (in space) frame.
    shuffle_frames : bool
        Store the frames in a seeded random order (the per-frame groups follow
        the stored order, so positions and dimension indices are the way to
        sort them).
    patient, study : mapping, dataclass or Dataset, optional
        Shared identity, see the module documentation.
    series_number : int
        ``SeriesNumber``.
    series_description : str
        ``SeriesDescription``.
    noise_sd : float
        Noise standard deviation in HU.
    transfer_syntax : str
        Transfer syntax UID.

    Returns
    -------
    pydicom.Dataset
        The multi-frame instance.
    """
    ctx, plane = _ct_setup(
        kind="enhanced-ct",
        seed=seed,
        n_slices=n_frames,
        rows=rows,
        columns=columns,
        pixel_spacing=pixel_spacing,
        slice_thickness=slice_thickness,
        spacing_between_slices=None,
        patient=patient,
        study=study,
        orientation=orientation,
        origin=origin,
        series_number=series_number,
        series_description=series_description,
        transfer_syntax=transfer_syntax,
        extra_params=(bool(shuffle_frames), float(noise_sd)),
    )
    # noise does not depend on shuffle_frames: shuffled == unshuffled, permuted
    noise_key = (
        ctx.attrs["StudyInstanceUID"],
        (
            n_frames,
            rows,
            columns,
            plane.row_spacing,
            plane.column_spacing,
            plane.step,
            float(noise_sd),
        ),
        tuple(plane.first.round(9)),
        tuple(plane.cosines.ravel().round(12)),
    )
    rng = _rng(ctx.seed, "enhanced-ct-noise", noise_key)
    center, fov = plane.center, plane.fov_mask()
    volume = np.stack([_ct_slice(plane, k, center, fov, rng, noise_sd) for k in range(n_frames)])
    order = np.arange(n_frames)
    if shuffle_frames:
        order = _rng(ctx.seed, "enhanced-ct-order", ctx.series_uid).permutation(n_frames)
    sop_uid = str(_uid("sop", ctx.series_uid, 0))
    when = ctx.start + _dt.timedelta(seconds=5)
    ds = _instance_base(ctx, EnhancedCTImageStorage, sop_uid, when)
    _enhanced_ct_image(ds, when, duration=0.5 * n_frames)
    ds.FrameOfReferenceUID = ctx.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.BodyPartExamined = "CHEST"
    ds.PatientPosition = "HFS"
    _image_pixel(ds, rows, columns, bits_stored=16, signed=True, frames=n_frames)
    ds.add_new(0x00280120, "SS", _CT_PADDING)
    irradiation = str(_uid("irradiation", ctx.series_uid))
    ds.SharedFunctionalGroupsSequence = [_enhanced_ct_shared(plane, slice_thickness, irradiation)]
    frame_table = -150.0 - plane.position(0)[2]
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(
        [
            _enhanced_ct_frame(
                plane,
                int(k),
                when + _dt.timedelta(seconds=0.05 * int(k)),
                frame_table - plane.step * int(k),
            )
            for k in order
        ]
    )
    _dimensions(ds, str(_uid("dimension-organization", ctx.series_uid)))
    _set_pixels(ds, volume[order], transfer_syntax)
    return ds


def _enhanced_ct_image(ds: Dataset, when: _dt.datetime, *, duration: float) -> None:
    """Enhanced CT Image, Multi-frame Functional Groups and Acquisition Context."""
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.InstanceNumber = 1
    ds.ContentDate = _da(when.date())
    ds.ContentTime = _tm(when)
    ds.AcquisitionNumber = 1
    ds.AcquisitionDateTime = _dt_str(when)
    ds.AcquisitionDuration = float(duration)
    ds.ContentQualification = "PRODUCT"
    ds.PixelPresentation = "MONOCHROME"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.BurnedInAnnotation = "NO"
    ds.RecognizableVisualFeatures = "NO"
    ds.LossyImageCompression = "00"
    ds.PresentationLUTShape = "IDENTITY"
    ds.AcquisitionContextSequence = DicomSequence([])


# --------------------------------------------------------------------------
# MR
# --------------------------------------------------------------------------


def _mr_attrs(plane: _Plane, thickness: float, repetition_time: float, n_echoes: int) -> dict[str, Any]:
    """MR Image module acquisition attributes."""
    return {
        "ImageType": ["ORIGINAL", "PRIMARY", "OTHER"],
        "ScanningSequence": "SE",
        "SequenceVariant": ["SK", "SP"],
        "ScanOptions": "",
        "MRAcquisitionType": "2D",
        "SequenceName": "se2d" + str(n_echoes),
        "AngioFlag": "N",
        "SliceThickness": _ds(thickness),
        "SpacingBetweenSlices": _ds(plane.step),
        "RepetitionTime": _ds(repetition_time),
        "NumberOfAverages": "1",
        "ImagingFrequency": "123.2",
        "ImagedNucleus": "1H",
        "MagneticFieldStrength": "3",
        "EchoTrainLength": n_echoes,
        "NumberOfPhaseEncodingSteps": plane.rows,
        "PercentSampling": "100",
        "PercentPhaseFieldOfView": "100",
        "PixelBandwidth": "220",
        "ReceiveCoilName": "HEAD 32",
        "TransmitCoilName": "BODY",
        "AcquisitionMatrix": [0, plane.columns, plane.rows, 0],
        "InPlanePhaseEncodingDirection": "ROW",
        "FlipAngle": "90",
        "VariableFlipAngleFlag": "N",
        "SAR": "1.2",
        "PatientPosition": "HFS",
        "BodyPartExamined": "HEAD",
        "PositionReferenceIndicator": "",
        "BurnedInAnnotation": "NO",
        "AcquisitionNumber": 1,
    }


def _mr_window(signal: np.ndarray) -> tuple[str, str]:
    """Choose a window (centre, width) from zero to the bright end of the head."""
    head = signal[signal > 0.05 * float(signal.max(initial=0.0))]
    high = float(np.percentile(head, 99.5)) if head.size else 1000.0
    width = max(int(high * 1.1), 2)
    return str(width // 2), str(width)


def _mr_dataset(
    ctx: _Context,
    *,
    index: int,
    when: _dt.datetime,
    attrs: Mapping[str, Any],
    pixels: np.ndarray,
    transfer_syntax: str,
) -> Dataset:
    """One MR Image Storage instance."""
    sop_uid = str(_uid("sop", ctx.series_uid, index))
    ds = _instance_base(ctx, MRImageStorage, sop_uid, when)
    ds.InstanceNumber = index + 1
    ds.AcquisitionDate = _da(when.date())
    ds.AcquisitionTime = _tm(when)
    ds.ContentDate = _da(when.date())
    ds.ContentTime = _tm(when)
    ds.FrameOfReferenceUID = ctx.frame_of_reference_uid
    for key, value in attrs.items():
        _set(ds, key, value)
    _image_pixel(ds, pixels.shape[0], pixels.shape[1], bits_stored=12, signed=False)
    _set_pixels(ds, pixels, transfer_syntax)
    return ds


def generate_mr_series(
    *,
    seed: int = 0,
    n_slices: int = 24,
    rows: int = 256,
    columns: int = 256,
    echo_times: Sequence[float] | None = None,
    repetition_time: float = 3000.0,
    plane: str = "axial",
    pixel_spacing: Sequence[float] = (0.9, 0.9),
    slice_thickness: float = 5.0,
    spacing_between_slices: float | None = None,
    orientation: Sequence[float] | None = None,
    origin: Sequence[float] | None = None,
    patient: Any = None,
    study: Any = None,
    series_number: int = 1,
    series_description: str | None = None,
    noise_sigma: float = 12.0,
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> list[Dataset]:
    """Generate an MR Image Storage series of a head phantom.

    Tissues (scalp fat, skull, CSF, grey and white matter with gyral folds,
    ventricles, deep grey nuclei, cerebellum, brainstem, eyes) get a spin-echo
    signal ``PD (1 - exp(-TR/T1)) exp(-TE/T2)``, a smooth coil bias and Rician
    noise.  Pixels are uint16 (BitsStored 12) without rescale.

    With more than one echo time the series is 4-D: the same positions are
    repeated once per echo (echo-major order), with ``EchoTime`` and
    ``EchoNumbers`` set; instance numbers run 1..n_slices * n_echoes.

    Parameters
    ----------
    seed : int
        Non-negative seed.
    n_slices, rows, columns : int
        Size of one echo's stack.
    echo_times : sequence of float, optional
        Echo times in ms; default ``[90]`` (T2-weighted).
    repetition_time : float
        TR in ms.
    plane : {"axial", "sagittal", "coronal"}
        Slice plane, unless ``orientation`` is given.
    pixel_spacing : (float, float)
        ``PixelSpacing`` in mm; the head is scaled to the field of view.
    slice_thickness : float
        ``SliceThickness`` in mm.
    spacing_between_slices : float, optional
        Step along the normal; defaults to ``slice_thickness``.
    orientation : sequence of 6 float, optional
        Explicit ``ImageOrientationPatient``.
    origin : sequence of 3 float, optional
        Position of the first slice; centred on the head by default.
    patient, study : mapping, dataclass or Dataset, optional
        Shared identity, see the module documentation.
    series_number : int
        ``SeriesNumber``.
    series_description : str, optional
        ``SeriesDescription``; derived from the plane and echoes by default.
    noise_sigma : float
        Standard deviation of each complex noise component.
    transfer_syntax : str
        Transfer syntax UID.

    Returns
    -------
    list of pydicom.Dataset
        ``n_slices * len(echo_times)`` datasets.
    """
    if plane not in _PLANES:
        raise ValueError(f"plane must be one of {sorted(_PLANES)}, got {plane!r}")
    tes = [90.0] if echo_times is None else [float(t) for t in echo_times]
    if not tes or any(t <= 0 for t in tes):
        raise ValueError("echo_times must be positive")
    step = float(slice_thickness if spacing_between_slices is None else spacing_between_slices)
    geometry = _make_plane(
        rows=rows,
        columns=columns,
        pixel_spacing=pixel_spacing,
        orientation=orientation,
        origin=origin,
        count=n_slices,
        step=step,
        center=(0.0, -20.0, 40.0),
        default_orientation=_PLANES[plane],
    )
    if series_description is None:
        prefix = "ME T2" if len(tes) > 1 else "T2"
        series_description = f"{prefix} {plane[:3].upper()}"
    params = (
        n_slices,
        rows,
        columns,
        tuple(tes),
        float(repetition_time),
        tuple(float(v) for v in pixel_spacing),
        float(slice_thickness),
        step,
        tuple(geometry.cosines.ravel().round(12)),
        tuple(geometry.first.round(9)),
        float(noise_sigma),
    )
    ctx = _context(
        kind="mr",
        modality="MR",
        seed=seed,
        patient=patient,
        study=study,
        study_description="MR HEAD",
        series_number=series_number,
        series_description=series_description,
        params=params,
    )
    return list(_iter_mr(ctx, geometry, tes, repetition_time, slice_thickness, noise_sigma, transfer_syntax))


def _iter_mr(
    ctx: _Context,
    plane: _Plane,
    echo_times: Sequence[float],
    repetition_time: float,
    thickness: float,
    noise_sigma: float,
    transfer_syntax: str,
) -> Iterator[Dataset]:
    """Yield the images of an MR series, echo-major."""
    center = plane.center
    fov = min(plane.rows * plane.row_spacing, plane.columns * plane.column_spacing)
    scale = fov / _MR_REFERENCE_FOV
    rng = _rng(ctx.seed, "mr-noise", ctx.series_uid)
    labels, bias = [], []
    for k in range(plane.count):
        x, y, z = (c / scale for c in plane.points(k, center))
        labels.append(_mr_head_labels(x, y, z))
        bias.append(_mr_bias(x, y, z))
    common = _mr_attrs(plane, thickness, repetition_time, len(echo_times))
    middle = plane.count // 2
    for e, te in enumerate(echo_times):
        table = _mr_signal_table(te, repetition_time)
        window = _mr_window(table[labels[middle]] * bias[middle])
        for k in range(plane.count):
            signal = _rician(table[labels[k]] * bias[k], noise_sigma, rng)
            pixels = np.clip(np.rint(signal), 0, 4095).astype(np.uint16)
            index = e * plane.count + k
            attrs = {
                **common,
                **_plane_attrs(plane, k),
                "EchoTime": _ds(te),
                "EchoNumbers": e + 1,
                "WindowCenter": window[0],
                "WindowWidth": window[1],
            }
            when = ctx.start + _dt.timedelta(seconds=10 + 0.2 * k)
            yield _mr_dataset(
                ctx,
                index=index,
                when=when,
                attrs=attrs,
                pixels=pixels,
                transfer_syntax=transfer_syntax,
            )


# --------------------------------------------------------------------------
# DX
# --------------------------------------------------------------------------


def _dx_pixels(rows: int, columns: int, spacing: float, magnification: float, rng: np.random.Generator) -> np.ndarray:
    """Render a processed PA chest radiograph (uint16, 12 bits, bone bright)."""
    u = (np.arange(columns) - (columns - 1) / 2) * spacing / magnification
    v = 20.0 - (np.arange(rows) - (rows - 1) / 2) * spacing / magnification
    integral = _chest_projection(u, v, axis=1)
    values = 150.0 + 700.0 * integral
    sd = 3.0 + 2.0 * np.exp(0.4 * integral)
    values += rng.standard_normal(values.shape, dtype=np.float32) * sd
    return np.clip(np.rint(values), 0, 4095).astype(np.uint16)


def generate_dx_image(
    *,
    seed: int = 0,
    rows: int = 2048,
    columns: int = 2048,
    imager_pixel_spacing: float | None = None,
    patient: Any = None,
    study: Any = None,
    series_number: int = 1,
    series_description: str = "CHEST PA",
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> Dataset:
    """Generate one Digital X-Ray Image Storage - For Presentation instance.

    A PA chest radiograph: torso, neck and shoulders, lungs with domed
    hemidiaphragms, heart shadow, vertebrae, clavicles and posterior ribs as
    line integrals of ellipsoids, with signal-dependent noise.  uint16,
    BitsStored 12, ``MONOCHROME2`` (bone bright), ``PresentationIntentType``
    ``FOR PRESENTATION``.

    Parameters
    ----------
    seed : int
        Non-negative seed.
    rows, columns : int
        Detector matrix.
    imager_pixel_spacing : float, optional
        ``ImagerPixelSpacing`` in mm; by default the detector is 430 mm wide.
    patient, study : mapping, dataclass or Dataset, optional
        Shared identity, see the module documentation.
    series_number : int
        ``SeriesNumber``.
    series_description : str
        ``SeriesDescription``.
    transfer_syntax : str
        Transfer syntax UID.

    Returns
    -------
    pydicom.Dataset
        The radiograph.
    """
    if rows < 1 or columns < 1:
        raise ValueError("rows and columns must be positive")
    spacing = float(imager_pixel_spacing or _DX_DETECTOR_MM / max(rows, columns))
    params = (rows, columns, spacing)
    ctx = _context(
        kind="dx",
        modality="DX",
        seed=seed,
        patient=patient,
        study=study,
        study_description="XR CHEST",
        series_number=series_number,
        series_description=series_description,
        params=params,
    )
    magnification = 1800.0 / 1650.0
    pixels = _dx_pixels(rows, columns, spacing, magnification, _rng(ctx.seed, "dx", ctx.series_uid))
    when = ctx.start + _dt.timedelta(seconds=30)
    ds = _instance_base(ctx, DigitalXRayImageStorageForPresentation, str(_uid("sop", ctx.series_uid, 0)), when)
    _dx_attrs(ds, when, spacing, magnification)
    _image_pixel(ds, rows, columns, bits_stored=12, signed=False)
    _set_pixels(ds, pixels, transfer_syntax)
    return ds


def _dx_attrs(ds: Dataset, when: _dt.datetime, spacing: float, magnification: float) -> None:
    """DX Series, DX Image, DX Anatomy, DX Detector, positioning and acquisition."""
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.InstanceNumber = 1
    ds.AcquisitionNumber = 1
    ds.AcquisitionDate = _da(when.date())
    ds.AcquisitionTime = _tm(when)
    ds.ContentDate = _da(when.date())
    ds.ContentTime = _tm(when)
    ds.PatientOrientation = ["L", "F"]
    ds.ImageLaterality = "U"
    ds.BodyPartExamined = "CHEST"
    ds.AnatomicRegionSequence = [_code("51185008", "SCT", "Thorax")]
    ds.ViewPosition = "PA"
    ds.ViewCodeSequence = [_code("399348003", "SCT", "postero-anterior")]
    ds.PixelIntensityRelationship = "LOG"
    ds.PixelIntensityRelationshipSign = -1
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.PresentationLUTShape = "IDENTITY"
    ds.LossyImageCompression = "00"
    ds.BurnedInAnnotation = "NO"
    ds.WindowCenter = "2000"
    ds.WindowWidth = "3600"
    ds.DetectorType = "SCINTILLATOR"
    ds.DetectorConfiguration = "AREA"
    ds.DetectorID = "DET-01"
    ds.ImagerPixelSpacing = _ds_list((spacing, spacing))
    ds.KVP = "120"
    ds.ExposureTime = 10
    ds.XRayTubeCurrent = 250
    ds.Exposure = 3
    ds.ExposureInuAs = 2500
    ds.DistanceSourceToDetector = "1800"
    ds.DistanceSourceToPatient = "1650"
    ds.EstimatedRadiographicMagnificationFactor = _ds(magnification)
    ds.Grid = ["FOCUSED", "RECIPROCATING"]
    ds.FocalSpots = "1.2"
    ds.PatientPosition = ""
    ds.PositionerType = "COLUMN"
    ds.AcquisitionContextSequence = DicomSequence([])


# --------------------------------------------------------------------------
# ellipsoid phantom with analytic truth
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Ellipsoid:
    """An ellipsoid of constant HU in patient space.

    Attributes
    ----------
    center : (float, float, float)
        Centre in patient coordinates (mm).
    semi_axes : (float, float, float)
        Semi-axis lengths (mm), along ``axes``.
    hu : float
        Value inside.
    name : str
        Label used in the truth.
    axes : 3x3 nested sequence of float, optional
        Unit direction of each semi-axis (rows); patient x, y, z by default.
    """

    center: tuple[float, float, float]
    semi_axes: tuple[float, float, float]
    hu: float
    name: str = ""
    axes: tuple[tuple[float, float, float], ...] | None = None


_DEFAULT_ELLIPSOIDS = (
    Ellipsoid((-30.0, -25.0, 0.0), (20.0, 20.0, 20.0), 100.0, "sphere"),
    Ellipsoid((25.0, 10.0, -5.0), (30.0, 18.0, 12.0), 400.0, "ellipsoid"),
    Ellipsoid((-25.0, 35.0, 10.0), (12.0, 15.0, 20.0), -500.0, "low_density"),
)


def _as_ellipsoid(value: Ellipsoid | Mapping[str, Any], index: int) -> Ellipsoid:
    """Normalise an ellipsoid specification."""
    if isinstance(value, Mapping):
        value = Ellipsoid(**value)
    center, semi = _triple(value.center, "center"), _triple(value.semi_axes, "semi_axes")
    if min(semi) <= 0:
        raise ValueError("semi_axes must be 3 positive lengths (mm)")
    axes = None
    if value.axes is not None:
        matrix = np.asarray(value.axes, dtype=np.float64)
        if matrix.shape != (3, 3) or not np.allclose(matrix @ matrix.T, np.eye(3), atol=1e-6):
            raise ValueError("axes must be 3 orthonormal direction vectors")
        axes = tuple(_triple(row, "axes") for row in matrix)
    return Ellipsoid(center, semi, float(value.hu), value.name or f"ellipsoid_{index}", axes)


def _triple(values: Sequence[float] | np.ndarray, what: str) -> tuple[float, float, float]:
    """Return three floats or raise ``ValueError``."""
    items = [float(v) for v in values]
    if len(items) != 3:
        raise ValueError(f"{what} must have 3 values")
    return items[0], items[1], items[2]


def ellipsoid_surface_area(a: float, b: float, c: float, *, n: int = 200) -> float:
    """Surface area (mm^2) of an ellipsoid by Gauss-Legendre quadrature.

    With ``t = cos(theta)`` the area is the integral over t in [-1, 1] and
    phi in [0, 2 pi) of ``sqrt((1 - t^2)((bc cos phi)^2 + (ac sin phi)^2) +
    (ab t)^2)``, an analytic integrand: Gauss-Legendre in t and the periodic
    midpoint rule in phi converge to machine precision.

    Parameters
    ----------
    a, b, c : float
        Semi-axes (mm).
    n : int
        Quadrature points in t (twice as many in phi).

    Returns
    -------
    float
        The area.
    """
    t, weights = np.polynomial.legendre.leggauss(n)
    phi = (np.arange(2 * n) + 0.5) * np.pi / n
    s2 = (1.0 - t**2)[:, None]
    integrand = np.sqrt(
        s2 * ((b * c * np.cos(phi)[None, :]) ** 2 + (a * c * np.sin(phi)[None, :]) ** 2) + (a * b * t[:, None]) ** 2
    )
    return float((weights[:, None] * integrand).sum() * np.pi / n)


def _ellipsoid_mask(x: np.ndarray, y: np.ndarray, z: np.ndarray, e: Ellipsoid) -> np.ndarray:
    """Voxels whose centres lie inside ``e``."""
    d = [x - e.center[0], y - e.center[1], z - e.center[2]]
    local = d
    if e.axes is not None:
        local = [e.axes[i][0] * d[0] + e.axes[i][1] * d[1] + e.axes[i][2] * d[2] for i in range(3)]
    return (
        (local[0] / e.semi_axes[0]) ** 2 + (local[1] / e.semi_axes[1]) ** 2 + (local[2] / e.semi_axes[2]) ** 2
    ) <= 1.0


def generate_phantom_ct(
    *,
    seed: int = 0,
    ellipsoids: Sequence[Ellipsoid | Mapping[str, Any]] | None = None,
    spacing: Sequence[float] = (2.0, 1.0, 1.0),
    shape: Sequence[int] = (40, 128, 128),
    orientation: Sequence[float] | None = None,
    origin: Sequence[float] | None = None,
    background_hu: float = 0.0,
    noise_sd: float = 0.0,
    patient: Any = None,
    study: Any = None,
    series_number: int = 1,
    series_description: str = "CT ELLIPSOID PHANTOM",
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> tuple[list[Dataset], dict[str, Any]]:
    """Generate a CT volume of ellipsoids with analytic ground truth.

    Each voxel's centre is placed in patient space (so oblique orientations
    and anisotropic spacing work) and takes the HU of the last ellipsoid that
    contains it (painter's order), else ``background_hu``.  The analytic
    values in the truth assume the ellipsoids do not overlap.

    Parameters
    ----------
    seed : int
        Non-negative seed (UIDs and noise).
    ellipsoids : sequence of Ellipsoid or mapping, optional
        Mappings take the :class:`Ellipsoid` field names (``center``,
        ``semi_axes``, ``hu``, optional ``name`` and ``axes``).  By default a
        sphere (r 20 mm, 100 HU), an ellipsoid (30 x 18 x 12 mm, 400 HU) and a
        low-density ellipsoid (12 x 15 x 20 mm, -500 HU), all inside the
        default volume.
    spacing : (float, float, float)
        (between slices, between rows, between columns) in mm.
    shape : (int, int, int)
        (slices, rows, columns).
    orientation : sequence of 6 float, optional
        ``ImageOrientationPatient``; axial by default.
    origin : sequence of 3 float, optional
        Position of the first slice; by default the volume is centred on the
        patient-space origin (0, 0, 0).
    background_hu : float
        Value outside every ellipsoid.
    noise_sd : float
        Gaussian noise in HU (0: exact values).
    patient, study : mapping, dataclass or Dataset, optional
        Shared identity, see the module documentation.
    series_number : int
        ``SeriesNumber``.
    series_description : str
        ``SeriesDescription``.
    transfer_syntax : str
        Transfer syntax UID.

    Returns
    -------
    datasets : list of pydicom.Dataset
        CT slices, in order along the normal.
    truth : dict
        ``"ellipsoids"``: list (painter's order) of dicts with ``name``,
        ``label`` (1-based), ``center_mm``, ``semi_axes_mm``, ``hu``,
        ``volume_ml`` (4/3 pi abc), ``surface_area_mm2`` (exact to ~1e-9),
        ``voxel_count`` and ``voxelized_volume_ml`` (voxels whose centre is
        inside and not painted over).  Also ``labels`` (uint8 array of shape
        ``shape``, 0 = background), ``background_hu``, ``noise_sd``,
        ``spacing``, ``shape``, ``orientation``, ``origin``,
        ``voxel_volume_mm3``, ``series_instance_uid`` and
        ``frame_of_reference_uid``.
    """
    items = [_as_ellipsoid(e, i) for i, e in enumerate(_DEFAULT_ELLIPSOIDS if ellipsoids is None else ellipsoids)]
    if len(items) > 255:
        raise ValueError("at most 255 ellipsoids")
    sz, sy, sx = (float(v) for v in spacing)
    nz, ny, nx = (int(v) for v in shape)
    plane = _make_plane(
        rows=ny,
        columns=nx,
        pixel_spacing=(sy, sx),
        orientation=orientation,
        origin=origin,
        count=nz,
        step=sz,
        center=(0.0, 0.0, 0.0),
    )
    params = (
        tuple(dataclasses.astuple(e) for e in items),
        (sz, sy, sx),
        (nz, ny, nx),
        tuple(plane.cosines.ravel().round(12)),
        tuple(plane.first.round(9)),
        float(background_hu),
        float(noise_sd),
    )
    ctx = _context(
        kind="phantom",
        modality="CT",
        seed=seed,
        patient=patient,
        study=study,
        study_description="CT PHANTOM",
        series_number=series_number,
        series_description=series_description,
        params=params,
    )
    rng = _rng(ctx.seed, "phantom-noise", ctx.series_uid)
    labels = np.zeros((nz, ny, nx), dtype=np.uint8)
    hu_of_label = np.array([background_hu] + [e.hu for e in items], dtype=np.float32)
    common = _ct_acquisition_attrs(plane, sz)
    common.update(
        BodyPartExamined="CHEST",
        AcquisitionNumber=1,
        SpacingBetweenSlices=_ds(sz),
        WindowCenter="0",
        WindowWidth="1200",
    )
    datasets = []
    origin_zero = np.zeros(3)
    for k in range(nz):
        x, y, z = plane.points(k, origin_zero)
        for label, e in enumerate(items, start=1):
            labels[k][_ellipsoid_mask(x, y, z, e)] = label
        hu = hu_of_label[labels[k]]
        if noise_sd > 0:
            hu = hu + rng.standard_normal(hu.shape, dtype=np.float32) * np.float32(noise_sd)
        datasets.append(
            _ct_dataset(
                ctx,
                index=k,
                instance_number=k + 1,
                when=ctx.start + _dt.timedelta(seconds=5 + 0.05 * k),
                image_type=("ORIGINAL", "PRIMARY", "AXIAL"),
                attrs={**common, **_plane_attrs(plane, k)},
                pixels=_ct_encode(hu, None),
                transfer_syntax=transfer_syntax,
                padding=False,
            )
        )
    truth = _phantom_truth(items, labels, plane, ctx, background_hu=background_hu, noise_sd=noise_sd)
    return datasets, truth


def _phantom_truth(
    items: Sequence[Ellipsoid],
    labels: np.ndarray,
    plane: _Plane,
    ctx: _Context,
    *,
    background_hu: float,
    noise_sd: float,
) -> dict[str, Any]:
    """Analytic and voxelised truth of an ellipsoid phantom."""
    voxel_mm3 = plane.step * plane.row_spacing * plane.column_spacing
    counts = np.bincount(labels.ravel(), minlength=len(items) + 1)
    ellipsoids = []
    for label, e in enumerate(items, start=1):
        a, b, c = e.semi_axes
        ellipsoids.append(
            {
                "name": e.name,
                "label": label,
                "center_mm": tuple(e.center),
                "semi_axes_mm": tuple(e.semi_axes),
                "hu": e.hu,
                "volume_ml": 4.0 / 3.0 * math.pi * a * b * c / 1000.0,
                "surface_area_mm2": ellipsoid_surface_area(a, b, c),
                "voxel_count": int(counts[label]),
                "voxelized_volume_ml": float(counts[label]) * voxel_mm3 / 1000.0,
            }
        )
    return {
        "ellipsoids": ellipsoids,
        "labels": labels,
        "background_hu": float(background_hu),
        "noise_sd": float(noise_sd),
        "spacing": (plane.step, plane.row_spacing, plane.column_spacing),
        "shape": labels.shape,
        "orientation": [float(v) for v in plane.cosines.ravel()],
        "origin": [float(v) for v in plane.first],
        "voxel_volume_mm3": voxel_mm3,
        "series_instance_uid": ctx.series_uid,
        "frame_of_reference_uid": ctx.frame_of_reference_uid,
    }


# --------------------------------------------------------------------------
# collections and writers
# --------------------------------------------------------------------------


def demo_studies(*, seed: int = 0) -> list[list[Dataset]]:
    """Generate the content of the demo archive: three patients, four studies.

    * Patient 1, "CT CHEST": a localizer-mixed series (2 scouts + 20 axial
      256x256), the chest CT (40 slices 512x512) and an oblique MPR
      (30 slices 256x256).
    * Patient 1, "CT CHEST FOLLOW-UP": an Enhanced CT multi-frame instance
      (20 frames 256x256, frames stored shuffled).
    * Patient 2, "MR HEAD": a sagittal T2 (20 slices) and an axial multi-echo
      series (3 echoes x 20 slices).
    * Patient 3, "XR CHEST": one PA radiograph (2048x2048).

    About 52 MB uncompressed.

    Parameters
    ----------
    seed : int
        Non-negative seed.

    Returns
    -------
    list of list of pydicom.Dataset
        One list per series.
    """
    seed = _check_seed(seed)
    p1, p2, p3 = (make_patient(seed=_stable_int(seed, "demo-patient", i) % 2**31) for i in range(3))
    ct = make_study(seed=seed, kind="demo-ct", description="CT CHEST")
    follow = make_study(seed=seed, kind="demo-ct-follow-up", description="CT CHEST FOLLOW-UP")
    _after(follow, ct, days=90)
    mr = make_study(seed=seed, kind="demo-mr", description="MR HEAD")
    dx = make_study(seed=seed, kind="demo-dx", description="XR CHEST")
    return [
        generate_localizer_mixed_series(
            seed=seed,
            n_slices=20,
            rows=256,
            columns=256,
            pixel_spacing=(1.4, 1.4),
            patient=p1,
            study=ct,
            series_number=1,
        ),
        generate_ct_series(seed=seed, patient=p1, study=ct, series_number=2, series_description="CT CHEST 2.5mm"),
        generate_oblique_ct(seed=seed, patient=p1, study=ct, series_number=3),
        [generate_enhanced_ct(seed=seed, patient=p1, study=follow, series_number=1, shuffle_frames=True)],
        generate_mr_series(
            seed=seed,
            n_slices=20,
            plane="sagittal",
            patient=p2,
            study=mr,
            series_number=1,
            slice_thickness=4.0,
            spacing_between_slices=4.4,
        ),
        generate_mr_series(
            seed=seed,
            n_slices=20,
            echo_times=(20.0, 60.0, 100.0),
            repetition_time=2500.0,
            patient=p2,
            study=mr,
            series_number=2,
        ),
        [generate_dx_image(seed=seed, patient=p3, study=dx, series_number=1)],
    ]


def _after(study: dict[str, str], earlier: Mapping[str, str], *, days: int) -> None:
    """Move ``study``'s date to ``days`` after ``earlier``'s."""
    study["StudyDate"] = _da(_parse_da(earlier["StudyDate"]) + _dt.timedelta(days=days))


def _random_names(datasets: Sequence[Dataset], seed: int) -> list[str]:
    """Meaningless, shuffled, unique file names for ``datasets``."""
    key = tuple(str(ds.get("SOPInstanceUID", i)) for i, ds in enumerate(datasets))
    rng = _rng(seed, "file-names", key)
    tokens: set[str] = set()
    while len(tokens) < len(datasets):
        tokens.add(f"{int(rng.integers(0, 16**12)):012X}")
    names = sorted(tokens)
    rng.shuffle(names)
    return names


def write_series(
    datasets: Sequence[Dataset],
    directory: str | Path,
    *,
    naming: str = "uid",
    seed: int = 0,
) -> list[Path]:
    """Write datasets as DICOM Part 10 files (preamble and File Meta).

    Parameters
    ----------
    datasets : sequence of pydicom.Dataset
        Instances, typically one series; ``file_meta`` is created if missing.
    directory : str or Path
        Created if needed.
    naming : {"uid", "random", "index"}
        ``"uid"``: ``<SOPInstanceUID>.dcm``; ``"random"``: meaningless
        12-character hex names without extension whose sorted order is
        unrelated to the instance order (deterministic from ``seed``);
        ``"index"``: ``IM00001.dcm``... in list order.
    seed : int
        Seed of the random names.

    Returns
    -------
    list of Path
        The written files, in the order of ``datasets``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if naming == "uid":
        names = [f"{ds.SOPInstanceUID}.dcm" for ds in datasets]
    elif naming == "random":
        names = _random_names(datasets, seed)
    elif naming == "index":
        names = [f"IM{i + 1:05d}.dcm" for i in range(len(datasets))]
    else:
        raise ValueError(f"naming must be 'uid', 'random' or 'index', got {naming!r}")
    paths = []
    for ds, name in zip(datasets, names, strict=True):
        if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
            ds.file_meta = _file_meta(ds.SOPClassUID, ds.SOPInstanceUID)
        path = directory / name
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def _series_directory(root: Path, first: Dataset) -> Path:
    """``root/<PatientID>/<StudyInstanceUID>/<SeriesInstanceUID>``."""
    return root / str(first.PatientID) / str(first.StudyInstanceUID) / str(first.SeriesInstanceUID)


def write_demo_archive_input(directory: str | Path, *, seed: int = 0, naming: str = "uid") -> list[Path]:
    """Write :func:`demo_studies` as ``directory/<PatientID>/<StudyUID>/<SeriesUID>/``.

    Parameters
    ----------
    directory : str or Path
        Root folder, created if needed.
    seed : int
        Non-negative seed.
    naming : str
        File naming, see :func:`write_series`.

    Returns
    -------
    list of Path
        Every file written.
    """
    root = Path(directory)
    paths = []
    for series in demo_studies(seed=seed):
        paths.extend(write_series(series, _series_directory(root, series[0]), naming=naming, seed=seed))
    return paths


def _write_streamed(root: Path, datasets: Iterator[Dataset], naming: str, seed: int) -> list[Path]:
    """Write a stream of one series' datasets without holding them all."""
    paths: list[Path] = []
    for index, ds in enumerate(datasets):
        folder = _series_directory(root, ds)
        if naming == "index":
            (path,) = write_series([ds], folder, naming="uid")
            path = path.rename(folder / f"IM{index + 1:05d}.dcm")
        else:
            (path,) = write_series([ds], folder, naming="uid" if naming == "uid" else "random", seed=seed + index)
        paths.append(path)
    return paths


def write_benchmark_set(
    directory: str | Path,
    *,
    seed: int = 0,
    n_ct_series: int = 5,
    ct_slices: int = 160,
    ct_size: int = 512,
    n_mr_series: int = 4,
    mr_slices: int = 40,
    mr_echoes: int = 4,
    mr_size: int = 256,
    n_dx: int = 20,
    dx_size: int = 2048,
    naming: str = "uid",
) -> list[Path]:
    """Write a benchmark corpus under ``directory/<PatientID>/<StudyUID>/<SeriesUID>/``.

    Defaults give 1,460 files, about 670 MB (640 MiB): five CT chest series
    of 160 slices 512x512, four multi-echo MR head series of 40 slices x 4
    echoes 256x256 and twenty 2048x2048 chest radiographs, each series for
    its own patient.  CT slices are generated and written one at a time, so
    memory stays small; the whole set takes about half a minute on one core.

    Parameters
    ----------
    directory : str or Path
        Root folder, created if needed.
    seed : int
        Non-negative seed.
    n_ct_series, ct_slices, ct_size : int
        Number of CT series, slices per series, rows = columns.
    n_mr_series, mr_slices, mr_echoes, mr_size : int
        Number of MR series, slices per echo, echoes, rows = columns.
    n_dx, dx_size : int
        Number of radiographs and their rows = columns.
    naming : {"uid", "random", "index"}
        File naming, see :func:`write_series`.

    Returns
    -------
    list of Path
        Every file written.
    """
    seed = _check_seed(seed)
    root = Path(directory)
    paths: list[Path] = []
    for i in range(n_ct_series):
        sub = _stable_int(seed, "bench-ct", i) % 2**31
        ctx, plane = _ct_setup(
            kind="ct",
            seed=sub,
            n_slices=ct_slices,
            rows=ct_size,
            columns=ct_size,
            pixel_spacing=(_CT_REFERENCE_FOV / ct_size,) * 2,
            slice_thickness=2.5,
            spacing_between_slices=None,
            patient=None,
            study=None,
            orientation=None,
            origin=None,
            series_number=2,
            series_description="CT CHEST 2.5mm",
            transfer_syntax=ExplicitVRLittleEndian,
        )
        stream = _iter_ct(
            ctx,
            plane,
            thickness=2.5,
            image_type=("ORIGINAL", "PRIMARY", "AXIAL"),
            noise_sd=12.0,
            transfer_syntax=ExplicitVRLittleEndian,
        )
        paths.extend(_write_streamed(root, stream, naming, sub))
    for i in range(n_mr_series):
        sub = _stable_int(seed, "bench-mr", i) % 2**31
        echoes = [15.0 + 30.0 * e for e in range(mr_echoes)]
        series = generate_mr_series(
            seed=sub,
            n_slices=mr_slices,
            rows=mr_size,
            columns=mr_size,
            echo_times=echoes,
            pixel_spacing=(_MR_REFERENCE_FOV / mr_size,) * 2,
            repetition_time=2500.0,
        )
        paths.extend(_write_streamed(root, iter(series), naming, sub))
        del series
    for i in range(n_dx):
        sub = _stable_int(seed, "bench-dx", i) % 2**31
        ds = generate_dx_image(seed=sub, rows=dx_size, columns=dx_size)
        paths.extend(_write_streamed(root, iter([ds]), naming, sub))
    return paths

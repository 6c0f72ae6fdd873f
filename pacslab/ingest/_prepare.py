"""One file in, one catalog record out: parse, validate, hash, store the original.

This is the per-file work of every ingest path (folders, zips, watch folders,
C-STORE, STOW-RS). It runs in worker processes, so it returns plain records.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import warnings
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from pacslab.catalog.models import (
    INSTANCE_COLUMNS,
    INTEGER_COLUMNS,
    PATIENT_COLUMNS,
    SERIES_COLUMNS,
    STUDY_COLUMNS,
    InstanceRecord,
)
from pacslab.ingest._dicomjson import dataset_to_json_dict
from pacslab.storage import OriginalStore

__all__ = ["Rejection", "dataset_to_json", "prepare_instance", "read_dataset"]

REQUIRED_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
#: Binary values longer than this are bulk data, left out of the stored header.
BULK_THRESHOLD = 1024

_GEOMETRY_KEYWORDS = (
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "SamplesPerPixel",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "PhotometricInterpretation",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "EchoTime",
    "EchoNumbers",
    "TemporalPositionIdentifier",
    "TriggerTime",
    "DiffusionBValue",
    "AcquisitionNumber",
    "InstanceNumber",
    "ImageType",
    "WindowCenter",
    "WindowWidth",
    "PixelPaddingValue",
    "Modality",
    "FrameIncrementPointer",
    "FrameTime",
)


@dataclasses.dataclass(frozen=True)
class Rejection:
    """An input that could not be archived, and why."""

    source: str
    reason: str
    sha256: str | None = None
    quarantine_path: str | None = None


def read_dataset(data: bytes, *, check: bool = True) -> Dataset:
    """Parse DICOM bytes (Part 10 file, or a bare dataset without File Meta).

    Parameters
    ----------
    data : bytes
    check : bool
        Convert every value now, so that malformed or truncated data fails here.

    Raises
    ------
    InvalidDicomError
        When the bytes are not DICOM.
    """
    if not data:
        raise InvalidDicomError("the file is empty (0 bytes)")
    buffer = io.BytesIO(data)
    has_preamble = len(data) >= 132 and data[128:132] == b"DICM"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(buffer, force=not has_preamble)
        if check:  # touch every element so that truncated or malformed values fail here, not later
            for _ in ds.iterall():
                pass
    return ds


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, pydicom.multival.MultiValue):
        return "\\".join(str(v) for v in value)
    return str(value).strip().rstrip("\x00") or None


def _attributes(ds: Dataset, transfer_syntax: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for keyword in PATIENT_COLUMNS + STUDY_COLUMNS + SERIES_COLUMNS + INSTANCE_COLUMNS:
        if keyword == "TransferSyntaxUID":
            continue
        value = _text(ds.get(keyword))
        if keyword in INTEGER_COLUMNS and value is not None:
            try:
                out[keyword] = int(float(value.split("\\")[0]))
            except ValueError:
                out[keyword] = None
            continue
        out[keyword] = value
    out["TransferSyntaxUID"] = transfer_syntax
    return out


def _transfer_syntax(ds: Dataset) -> str | None:
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return str(meta.TransferSyntaxUID)
    implicit, little = ds.original_encoding
    if little is False:
        return pydicom.uid.ExplicitVRBigEndian
    return pydicom.uid.ImplicitVRLittleEndian if implicit else pydicom.uid.ExplicitVRLittleEndian


def _bulk_uri(element: pydicom.DataElement) -> str:
    return f"bulk:{element.tag:08X}"


def dataset_to_json(ds: Dataset) -> dict[str, Any]:
    """The header of *ds* as DICOM JSON (PS3.18 F.2), bulk data as ``BulkDataURI`` stubs.

    Elements whose values pydicom cannot convert are left out rather than failing
    the whole header.
    """
    try:
        return ds.to_json_dict(bulk_data_threshold=BULK_THRESHOLD, bulk_data_element_handler=_bulk_uri)
    except Exception:  # noqa: BLE001 - fall back to element by element
        out: dict[str, Any] = {}
        for element in ds:
            sub = Dataset()
            sub.add(element)
            try:
                out.update(sub.to_json_dict(bulk_data_threshold=BULK_THRESHOLD, bulk_data_element_handler=_bulk_uri))
            except Exception:  # noqa: BLE001, S112
                continue
        return out


def _header_json(ds: Dataset) -> str:
    """The header as DICOM JSON text; raises when the dataset itself cannot be read (truncated).

    The text is pydicom's ``to_json_dict`` output, computed from the raw values by
    :func:`~pacslab.ingest._dicomjson.dataset_to_json_dict` when it can; anything that
    fails there is redone by pydicom, whose errors decide.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return json.dumps(
                dataset_to_json_dict(ds, bulk_data_threshold=BULK_THRESHOLD, bulk_data_element_handler=_bulk_uri),
                separators=(",", ":"),
            )
        except Exception:  # noqa: BLE001, S110 - pydicom below says what is wrong, or that nothing is
            pass
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return json.dumps(
                ds.to_json_dict(bulk_data_threshold=BULK_THRESHOLD, bulk_data_element_handler=_bulk_uri),
                separators=(",", ":"),
            )
    except Exception:  # noqa: BLE001 - find out whether the file is broken or only some values are odd
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in ds.iterall():
                pass
        return json.dumps(dataset_to_json(ds), separators=(",", ":"))


def _geometry(ds: Dataset) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for keyword in _GEOMETRY_KEYWORDS:
        value = ds.get(keyword)
        if value is None or value == "":
            continue
        if isinstance(value, pydicom.multival.MultiValue):
            out[keyword] = [_plain(v) for v in value]
        else:
            out[keyword] = _plain(value)
    out["multiframe"] = "PerFrameFunctionalGroupsSequence" in ds or int(out.get("NumberOfFrames", 1) or 1) > 1
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, int | float | str):
        return value if not isinstance(value, str) else value.strip()
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _has_pixels(ds: Dataset) -> bool:
    return any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")) and "Rows" in ds


def _check_pixels(ds: Dataset, transfer_syntax: str | None) -> str | None:
    """A reason when native pixel data is shorter than its Rows × Columns × … say."""
    if "PixelData" not in ds or transfer_syntax is None or UID(transfer_syntax).is_compressed:
        return None
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        bits, samples = int(ds.BitsAllocated), int(ds.get("SamplesPerPixel", 1) or 1)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError) as exc:
        return f"the image pixel module is incomplete ({exc})"
    expected = rows * cols * samples * frames * bits // 8
    actual = len(ds.PixelData)
    if actual + 1 < expected:
        return (
            f"the pixel data is truncated: Rows×Columns×SamplesPerPixel×NumberOfFrames×BitsAllocated "
            f"need {expected} bytes but (7FE0,0010) PixelData has {actual}"
        )
    return None


def _validate(ds: Dataset) -> str | None:
    for keyword in REQUIRED_UIDS:
        value = _text(ds.get(keyword))
        if value is None:
            tag = pydicom.datadict.tag_for_keyword(keyword)
            return f"the required {keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X}) is missing or empty"
        if len(value) > 64 or not _UID_RE.match(value):
            return f"{keyword} {value!r} is not a valid UID (digits and dots, at most 64 characters)"
    return None


def _itemsize(ds: Dataset, transfer_syntax: str | None) -> int:
    if "PixelData" not in ds or transfer_syntax is None or UID(transfer_syntax).is_compressed:
        return 1
    bits = int(ds.get("BitsAllocated", 8) or 8)
    return 2 if bits == 16 else 4 if bits == 32 else 1


def prepare_instance(data: bytes, source: str, store: OriginalStore) -> InstanceRecord | Rejection:
    """Validate one file and store it as an original.

    Parameters
    ----------
    data : bytes
        The file exactly as received.
    source : str
        Where it came from, for reports.
    store : OriginalStore
        Where the original goes.

    Returns
    -------
    InstanceRecord or Rejection
        The catalog record, or why the file cannot be archived (nothing is stored then).
    """
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        ds = read_dataset(data, check=False)
        header = _header_json(ds)
    except InvalidDicomError as exc:
        return Rejection(source, f"not a DICOM file: {exc}", sha256)
    except Exception as exc:  # noqa: BLE001 - anything pydicom raises on garbage
        return Rejection(
            source,
            f"unreadable DICOM ({type(exc).__name__}: {exc}); the file may be truncated",
            sha256,
        )
    reason = _validate(ds)
    if reason is not None and not data[128:132] == b"DICM" and "SOPClassUID" not in ds:
        reason = (
            "not recognised as DICOM: there is no 'DICM' prefix at byte 128 and, read as a bare "
            "dataset, it has no SOP Class UID (0008,0016)"
        )
    transfer_syntax = _transfer_syntax(ds)
    reason = reason or _check_pixels(ds, transfer_syntax)
    if reason is not None:
        return Rejection(source, reason, sha256)
    itemsize = _itemsize(ds, transfer_syntax)
    has_pixels = _has_pixels(ds)
    # Native pixel data will move into the volume: do not compress what is about to be dropped.
    defer = has_pixels and "PixelData" in ds and int(ds.get("SamplesPerPixel", 1) or 1) == 1 and itemsize > 1
    key, codec, stored_size = store.put(data, sha256, itemsize=itemsize, defer=defer)
    return InstanceRecord(
        attributes=_attributes(ds, transfer_syntax),
        header=header,
        geometry=json.dumps(_geometry(ds), separators=(",", ":")),
        sha256=sha256,
        size=len(data),
        stored_key=key,
        stored_codec=codec.value,
        stored_size=stored_size,
        source=source,
        has_pixels=has_pixels,
    )

"""One file in, one catalog record out: parse, validate, hash, store the original.

This is the per-file work of every ingest path (folders, zips, watch folders,
C-STORE, STOW-RS). It runs in worker processes, so it returns plain records.
"""

from __future__ import annotations

import dataclasses
import functools
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
from pacslab.ingest._dicomjson import dumps as dumps_header
from pacslab.ingest._rawread import read_part10
from pacslab.storage import Codec, OriginalStore

__all__ = ["PIXEL_DATA_OFFSET", "Rejection", "dataset_to_json", "prepare_instance", "read_dataset"]

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
    has_preamble = len(data) >= 132 and data[128:132] == b"DICM"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = read_part10(data) if has_preamble else None  # the common case, read as pydicom reads it, faster
        if ds is None:
            ds = pydicom.dcmread(io.BytesIO(data), force=not has_preamble)
        if check:  # touch every element so that truncated or malformed values fail here, not later
            for _ in ds.iterall():
                pass
    return ds


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, pydicom.multival.MultiValue | list):  # binary VRs of VM > 1 give lists
        return "\\".join(str(v) for v in value)
    return str(value).strip().rstrip("\x00") or None


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


def _header(ds: Dataset) -> tuple[str, dict[str, Any] | None]:
    """The header as DICOM JSON text, and as the dict it was dumped from when that has every element.

    The text is pydicom's ``to_json_dict`` output, computed from the raw values by
    :func:`~pacslab.ingest._dicomjson.dataset_to_json_dict` when it can; anything that
    fails there is redone by pydicom, whose errors decide. Raises when the dataset itself
    cannot be read (truncated). The dict is None when some elements had to be left out.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            header = dataset_to_json_dict(ds, bulk_data_threshold=BULK_THRESHOLD, bulk_data_element_handler=_bulk_uri)
            return dumps_header(header), header
        except Exception:  # noqa: BLE001, S110 - pydicom below says what is wrong, or that nothing is
            pass
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header = ds.to_json_dict(bulk_data_threshold=BULK_THRESHOLD, bulk_data_element_handler=_bulk_uri)
            return json.dumps(header, separators=(",", ":")), header
    except Exception:  # noqa: BLE001 - find out whether the file is broken or only some values are odd
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in ds.iterall():
                pass
        return json.dumps(dataset_to_json(ds), separators=(",", ":")), None


#: Handed back by the header readers below when only pydicom can say what the value is.
_ASK_PYDICOM: Any = object()
#: VRs whose JSON value is not the text ``str()`` of pydicom's value gives (DS "1.50" is 1.5 in JSON; a PN
#: of more than three component groups keeps them all in pydicom, three in JSON).
_NOT_TEXT_VRS = frozenset({"DS", "FL", "FD", "AT", "PN", "SQ", "OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_NUMBER_VRS = frozenset({"DS", "FL", "FD"})
#: VRs whose JSON value is not pydicom's as a plain number or text.
_NOT_PLAIN_VRS = _NOT_TEXT_VRS - _NUMBER_VRS - {"AT"}
_PLAIN = (int, float, str)


@functools.lru_cache(maxsize=256)
def _json_key(keyword: str) -> str:
    return f"{pydicom.datadict.tag_for_keyword(keyword):08X}"


def _header_values(element: dict[str, Any] | None) -> list[Any] | None:
    """The ``Value`` list of a DICOM JSON *element* (None when absent or empty), or ``_ASK_PYDICOM``."""
    if element is None:
        return None
    values = element.get("Value")
    if not values:
        return _ASK_PYDICOM if "BulkDataURI" in element or "InlineBinary" in element else None
    if None in values:  # an empty value among several: pydicom keeps ""
        return _ASK_PYDICOM
    return values


def _header_text(header: dict[str, Any] | None, keyword: str) -> str | None:
    """:func:`_text` of pydicom's value of *keyword*, from the header; ``_ASK_PYDICOM`` when it cannot tell."""
    if header is None:
        return _ASK_PYDICOM
    element = header.get(_json_key(keyword))
    values = _header_values(element)
    if values is None or values is _ASK_PYDICOM:
        return values
    vr = element["vr"]  # type: ignore[index]
    if vr == "PN":
        values = [_person_name_text(v) for v in values]
        if None in values:
            return _ASK_PYDICOM
    elif vr in _NOT_TEXT_VRS:
        return _ASK_PYDICOM
    if len(values) == 1:
        return str(values[0]).strip().rstrip("\x00") or None
    return "\\".join(str(v) for v in values)


def _person_name_text(name: Any) -> str | None:
    """``str()`` of pydicom's ``PersonName`` from a JSON name of one or two groups; None when it cannot tell.

    pydicom keeps every ``=`` group of a name, JSON at most three: a name with three groups may
    have had more.
    """
    if not isinstance(name, dict) or len(name) > 2 or not all(isinstance(v, str) for v in name.values()):
        return None
    return "=".join(name.values())  # Alphabetic, then Ideographic: the groups in order, trailing empty ones dropped


#: The catalog columns read from a file (its transfer syntax is not in its dataset).
_ATTRIBUTE_KEYWORDS = tuple(
    k for k in PATIENT_COLUMNS + STUDY_COLUMNS + SERIES_COLUMNS + INSTANCE_COLUMNS if k != "TransferSyntaxUID"
)


def _attributes(ds: Dataset, transfer_syntax: str | None, header: dict[str, Any] | None = None) -> dict[str, Any]:
    """The catalog columns of an instance: from its DICOM JSON *header* when given, else from *ds*."""
    out: dict[str, Any] = {}
    for keyword in _ATTRIBUTE_KEYWORDS:
        value = _header_text(header, keyword)
        if value is _ASK_PYDICOM:
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


def _geometry(ds: Dataset, header: dict[str, Any] | None = None) -> dict[str, Any]:
    """What volume building needs of an instance: from its DICOM JSON *header* when given, else from *ds*."""
    out: dict[str, Any] = {}
    for keyword in _GEOMETRY_KEYWORDS:
        value = _header_plain(header, keyword)
        if value is _ASK_PYDICOM:
            value = ds.get(keyword)
            if value is None or value == "":
                continue
            if isinstance(value, pydicom.multival.MultiValue | list):  # binary VRs of VM > 1 give lists
                value = [_plain(v) for v in value]
            else:
                value = _plain(value)
        elif value is None:
            continue
        out[keyword] = value
    multiframe = (
        "PerFrameFunctionalGroupsSequence" in ds
        if header is None
        else _json_key("PerFrameFunctionalGroupsSequence") in header
    )
    try:
        frames = int(out.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):  # not a number: the pixel module checks reject the file, with that reason
        frames = 1
    out["multiframe"] = multiframe or frames > 1
    return out


def _header_plain(header: dict[str, Any] | None, keyword: str) -> Any:
    """:func:`_plain` of pydicom's value of *keyword* (a list when multi-valued), from the header."""
    if header is None:
        return _ASK_PYDICOM
    element = header.get(_json_key(keyword))
    values = _header_values(element)
    if values is None or values is _ASK_PYDICOM:
        return values
    vr = element["vr"]  # type: ignore[index]
    if vr == "AT":
        values = [int(v, 16) for v in values]
    elif vr in _NOT_PLAIN_VRS:
        return _ASK_PYDICOM
    elif vr not in _NUMBER_VRS:
        values = [v.strip() if isinstance(v, str) else v for v in values]
    if not all(isinstance(v, _PLAIN) for v in values):
        return _ASK_PYDICOM
    if len(values) == 1:
        return None if values[0] == "" else values[0]
    return values


def _plain(value: Any) -> Any:
    if isinstance(value, int | float | str):
        return value if not isinstance(value, str) else value.strip()
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _has_pixels(ds: Dataset) -> bool:
    return any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")) and "Rows" in ds


def _pixel_module(ds: Dataset, geometry: dict[str, Any]) -> tuple[int, int, int, int, int]:
    """Rows, Columns, BitsAllocated, SamplesPerPixel and NumberOfFrames, from *geometry* when it has them as integers.

    Raises AttributeError, TypeError or ValueError when the module is incomplete or not numbers.
    """
    values = [geometry.get(k) for k in ("Rows", "Columns", "BitsAllocated")]
    if all(isinstance(v, int) for v in values):
        rows, cols, bits = values
    else:
        rows, cols, bits = int(ds.Rows), int(ds.Columns), int(ds.BitsAllocated)
    samples, frames = geometry.get("SamplesPerPixel", 1), geometry.get("NumberOfFrames", 1)
    return rows, cols, bits, int(samples or 1), int(frames or 1)


def _check_pixels(ds: Dataset, transfer_syntax: str | None, geometry: dict[str, Any]) -> str | None:
    """A reason when native pixel data is shorter than its Rows × Columns × … say."""
    if "PixelData" not in ds or transfer_syntax is None or UID(transfer_syntax).is_compressed:
        return None
    try:
        rows, cols, bits, samples, frames = _pixel_module(ds, geometry)
    except (AttributeError, TypeError, ValueError) as exc:
        return f"the image pixel module is incomplete ({exc})"
    expected = rows * cols * samples * frames * bits // 8
    actual = len(ds.get_item(0x7FE00010).value)  # its bytes as read: converting would not change them
    if actual + 1 < expected:
        return (
            f"the pixel data is truncated: Rows×Columns×SamplesPerPixel×NumberOfFrames×BitsAllocated "
            f"need {expected} bytes but (7FE0,0010) PixelData has {actual}"
        )
    return None


def _validate(ds: Dataset, header: dict[str, Any] | None = None) -> str | None:
    """Why *ds* cannot be archived for want of valid UIDs (read from its DICOM JSON *header* when given)."""
    for keyword in REQUIRED_UIDS:
        value = _header_text(header, keyword)
        if value is _ASK_PYDICOM:
            value = _text(ds.get(keyword))
        if value is None:
            tag = pydicom.datadict.tag_for_keyword(keyword)
            return f"the required {keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X}) is missing or empty"
        if len(value) > 64 or not _UID_RE.match(value):
            return f"{keyword} {value!r} is not a valid UID (digits and dots, at most 64 characters)"
    return None


def _itemsize(ds: Dataset, transfer_syntax: str | None, geometry: dict[str, Any]) -> int:
    if "PixelData" not in ds or transfer_syntax is None or UID(transfer_syntax).is_compressed:
        return 1
    bits = geometry.get("BitsAllocated", 8)
    bits = bits if isinstance(bits, int) else int(ds.get("BitsAllocated", 8) or 8)
    return 2 if bits == 16 else 4 if bits == 32 else 1


#: Geometry key of where little-endian native pixel data starts in a file it ends (volume building reads it there).
PIXEL_DATA_OFFSET = "pixel_data_offset"


def _native_pixel_offset(ds: Dataset, transfer_syntax: str | None, size: int) -> int | None:
    """Where the value of (7FE0,0010) starts in the file, when it is little-endian native and ends the file."""
    if transfer_syntax not in (pydicom.uid.ExplicitVRLittleEndian, pydicom.uid.ImplicitVRLittleEndian):
        return None
    element = ds.get_item(0x7FE00010)
    if isinstance(element, pydicom.dataelem.RawDataElement):
        offset, length = element.value_tell, element.length
    else:
        offset, length = element.file_tell, len(element.value)
    if offset is None or length == 0xFFFFFFFF or offset + length != size:
        return None
    return int(offset)


def prepare_instance(
    data: bytes, source: str, store: OriginalStore, *, hold: bool = False, received: str | None = None
) -> InstanceRecord | Rejection:
    """Validate one file and store it as an original.

    Parameters
    ----------
    data : bytes
        The file exactly as received.
    source : str
        Where it came from, for reports.
    store : OriginalStore
        Where the original goes.
    hold : bool
        Do not store an original whose uncompressed pixel data will go into its volume: the
        caller builds that from memory and stores what it does not take (``InstanceRecord.held``).
    received : str, optional
        A file on the store's disk that holds *data* (:meth:`OriginalStore.put`).

    Returns
    -------
    InstanceRecord or Rejection
        The catalog record, or why the file cannot be archived (nothing is stored then).
    """
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        ds = read_dataset(data, check=False)
        header, header_dict = _header(ds)
    except InvalidDicomError as exc:
        return Rejection(source, f"not a DICOM file: {exc}", sha256)
    except Exception as exc:  # noqa: BLE001 - anything pydicom raises on garbage
        return Rejection(
            source,
            f"unreadable DICOM ({type(exc).__name__}: {exc}); the file may be truncated",
            sha256,
        )
    reason = _validate(ds, header_dict)
    if reason is not None and not data[128:132] == b"DICM" and "SOPClassUID" not in ds:
        reason = (
            "not recognised as DICOM: there is no 'DICM' prefix at byte 128 and, read as a bare "
            "dataset, it has no SOP Class UID (0008,0016)"
        )
    transfer_syntax = _transfer_syntax(ds)
    geometry = _geometry(ds, header_dict)
    reason = reason or _check_pixels(ds, transfer_syntax, geometry)
    if reason is not None:
        return Rejection(source, reason, sha256)
    itemsize = _itemsize(ds, transfer_syntax, geometry)
    has_pixels = _has_pixels(ds)
    # Native pixel data will move into the volume: do not compress what is about to be dropped.
    defer = has_pixels and "PixelData" in ds and geometry.get("SamplesPerPixel", 1) == 1 and itemsize > 1
    if defer:
        offset = _native_pixel_offset(ds, transfer_syntax, len(data))
        if offset is not None:
            geometry[PIXEL_DATA_OFFSET] = offset
    held = hold and defer and not store.encrypted and store.whole_file(sha256) is None
    if held:
        key, codec, stored_size = store.key(sha256, Codec.RAW), Codec.RAW, len(data)
    else:
        key, codec, stored_size = store.put(data, sha256, itemsize=itemsize, defer=defer, received=received)
    return InstanceRecord(
        attributes=_attributes(ds, transfer_syntax, header_dict),
        header=header,
        geometry=json.dumps(geometry, separators=(",", ":")),
        sha256=sha256,
        size=len(data),
        stored_key=key,
        stored_codec=codec.value,
        stored_size=stored_size,
        source=source,
        has_pixels=has_pixels,
        held=held,
    )

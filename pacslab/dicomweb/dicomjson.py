"""DICOM JSON (PS3.18 F.2) for QIDO-RS results and WADO-RS metadata, built from catalog rows.

QIDO-RS answers carry the required return attributes of PS3.18 Table 6.7.1-2
(studies), 6.7.1-2a (series) and 6.7.1-2b (instances). They are built from the
catalog's indexed columns — no original file is read — and ``includefield``
attributes are copied verbatim from the DICOM JSON header the catalog keeps of
one instance of each result.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from pacslab.errors import InvalidDicomInputError

__all__ = [
    "DicomJsonElement",
    "element",
    "INSTANCE_REQUIRED",
    "parse_attribute",
    "rewrite_bulk_uris",
    "row_to_json",
    "SERIES_REQUIRED",
    "STUDY_REQUIRED",
    "tag_hex",
]


class DicomJsonElement(TypedDict, total=False):
    """One attribute of a DICOM JSON object (PS3.18 F.2.2)."""

    vr: str
    Value: list[Any]
    BulkDataURI: str
    InlineBinary: str


#: PS3.18 Table 6.7.1-2: study attributes every QIDO-RS study result carries.
STUDY_REQUIRED = (
    "SpecificCharacterSet",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "InstanceAvailability",
    "ModalitiesInStudy",
    "ReferringPhysicianName",
    "TimezoneOffsetFromUTC",
    "RetrieveURL",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyID",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)

#: PS3.18 Table 6.7.1-2a: series attributes.
SERIES_REQUIRED = (
    "SpecificCharacterSet",
    "Modality",
    "TimezoneOffsetFromUTC",
    "SeriesDescription",
    "RetrieveURL",
    "SeriesInstanceUID",
    "SeriesNumber",
    "NumberOfSeriesRelatedInstances",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "RequestAttributesSequence",
)

#: PS3.18 Table 6.7.1-2b: instance attributes.
INSTANCE_REQUIRED = (
    "SpecificCharacterSet",
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceAvailability",
    "TimezoneOffsetFromUTC",
    "RetrieveURL",
    "InstanceNumber",
    "Rows",
    "Columns",
    "BitsAllocated",
    "NumberOfFrames",
)

#: Required attributes that no catalog column holds: read from the stored header of one instance.
FROM_HEADER = frozenset(
    {
        "SpecificCharacterSet",
        "TimezoneOffsetFromUTC",
        "PerformedProcedureStepStartDate",
        "PerformedProcedureStepStartTime",
        "RequestAttributesSequence",
        "BitsAllocated",
    }
)

#: Attributes that ``includefield=all`` adds at the study and series levels (the instance level returns the header).
STUDY_ALL = (
    "StudyDescription",
    "IssuerOfPatientID",
    "OtherPatientIDs",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "PatientComments",
    "AdmittingDiagnosesDescription",
    "ProcedureCodeSequence",
    "NameOfPhysiciansReadingStudy",
    "InstitutionName",
)
SERIES_ALL = (
    "BodyPartExamined",
    "SeriesDate",
    "SeriesTime",
    "ProtocolName",
    "Laterality",
    "FrameOfReferenceUID",
    "PatientPosition",
    "Manufacturer",
    "ManufacturerModelName",
    "StationName",
    "OperatorsName",
    "PerformingPhysicianName",
)

_TAG_RE = re.compile(r"^[0-9A-Fa-f]{8}$")
_NUMBER_VRS = {"IS", "DS", "US", "SS", "UL", "SL", "UV", "SV", "FL", "FD"}


@functools.lru_cache(maxsize=4096)
def tag_hex(keyword: str) -> str:
    """The 8 hex digits of a keyword's tag, as DICOM JSON names attributes."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise InvalidDicomInputError(f"{keyword!r} is not a DICOM keyword.")
    return f"{tag:08X}"


@functools.lru_cache(maxsize=4096)
def vr_of(keyword: str) -> str:
    """The VR of a keyword (the first one where the dictionary lists several)."""
    return str(dictionary_VR(int(tag_hex(keyword), 16))).split(" or ")[0]


def parse_attribute(name: str) -> str:
    """A QIDO-RS attribute name (keyword, ``GGGGEEEE`` tag, or a dotted sequence path) as a keyword.

    Raises
    ------
    InvalidDicomInputError
        *name* is neither a DICOM keyword nor a known tag.
    """
    text = name.strip()
    if _TAG_RE.match(text):
        keyword = keyword_for_tag(int(text, 16))
        if keyword:
            return str(keyword)
    elif tag_for_keyword(text) is not None:
        return text
    raise InvalidDicomInputError(
        f"{name!r} is not a DICOM attribute: give a keyword such as PatientName or a tag such as 00100010."
    )


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value == ""


def element(keyword: str, value: Any) -> DicomJsonElement:
    """A DICOM JSON element of *keyword* from a catalog value (``None`` or ``""`` → no ``Value``)."""
    vr = vr_of(keyword)
    out: DicomJsonElement = {"vr": vr}
    if _is_missing(value):
        return out
    items = value if isinstance(value, list) else (str(value).split("\\") if isinstance(value, str) else [value])
    if vr == "PN":
        out["Value"] = [{"Alphabetic": str(v)} for v in items]
    elif vr in ("IS", "US", "SS", "UL", "SL", "UV", "SV"):
        out["Value"] = [int(float(v)) for v in items]
    elif vr in ("DS", "FL", "FD"):
        out["Value"] = [float(v) for v in items]
    else:
        out["Value"] = [str(v) for v in items]
    return out


def row_to_json(
    row: Mapping[str, Any],
    keywords: Iterable[str],
    *,
    header: Mapping[str, Any] | None = None,
    extra: Mapping[str, DicomJsonElement] | None = None,
) -> dict[str, DicomJsonElement]:
    """One QIDO-RS result: the *keywords* from a catalog *row* (or from *header* when the row lacks them).

    Attributes with no value anywhere are returned with their VR and no ``Value``,
    as PS3.18 asks of required attributes that are empty or unknown; sequences
    and header-only attributes that are absent are left out.
    """
    out: dict[str, DicomJsonElement] = {}
    for keyword in keywords:
        tag = tag_hex(keyword)
        if keyword in row and not (keyword in FROM_HEADER and _is_missing(row[keyword])):
            out[tag] = element(keyword, row[keyword])
        elif header is not None and tag in header:
            out[tag] = dict(header[tag])  # type: ignore[assignment]
        elif keyword not in FROM_HEADER:
            out[tag] = {"vr": vr_of(keyword)}
    for tag, value in (extra or {}).items():
        out[tag] = value
    return dict(sorted(out.items()))


def rewrite_bulk_uris(header: dict[str, Any], base: str) -> dict[str, Any]:
    """Replace the catalog's ``bulk:GGGGEEEE`` placeholders with URLs under *base* (an instance URL)."""
    for value in header.values():
        if not isinstance(value, dict):
            continue
        uri = value.get("BulkDataURI")
        if isinstance(uri, str) and uri.startswith("bulk:"):
            value["BulkDataURI"] = f"{base}/bulk/{uri[5:]}"
        for item in value.get("Value", ()) if value.get("vr") == "SQ" else ():
            if isinstance(item, dict):
                rewrite_bulk_uris(item, base)
    return header


def without_bulk(header: Mapping[str, Any]) -> dict[str, Any]:
    """A header without its bulk data elements (``includefield`` never returns them)."""
    return {
        t: v for t, v in header.items() if isinstance(v, dict) and "BulkDataURI" not in v and "InlineBinary" not in v
    }


def loads_header(text: str) -> dict[str, Any]:
    """The catalog's header text as a dict."""
    value = json.loads(text)
    return value if isinstance(value, dict) else {}

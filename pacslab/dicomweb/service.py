"""The DICOMweb service, free of any web framework: a request in, a status, headers and a body out.

:class:`DicomwebService` implements QIDO-RS (search), WADO-RS (retrieve: instances,
metadata, bulk data, frames, rendered, thumbnails) and STOW-RS (store) of PS3.18
over a :class:`pacslab.Archive`, plus DELETE of studies and series. Every method
takes a :class:`Request` and returns a :class:`Response`; pacslab errors propagate
and are converted to HTTP statuses once, by :func:`status_for`, in the web layer
(:mod:`pacslab.dicomweb.handlers`). Methods do blocking I/O: call them from an executor.

Notes
-----
- Person names already match regardless of case, so ``fuzzymatching=true`` is
  accepted and changes nothing.
- Searches return at most ``max_results`` matches; when more match, a
  ``Warning: 299`` header says so and ``offset`` pages on.
- STOW-RS parts go through :func:`pacslab.ingest.pipeline.ingest_many`, the
  archive's single ingest path: each instance is stored atomically or not at all,
  rejected ones are quarantined, and volumes of new series are left pending.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import io
import json
import logging
import os
import re
import uuid
import warnings
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from pacslab.dicomweb.auth import AuthenticationError, Principal, RoleValues
from pacslab.dicomweb.dicomjson import (
    FROM_HEADER,
    INSTANCE_REQUIRED,
    SERIES_ALL,
    SERIES_REQUIRED,
    STUDY_ALL,
    STUDY_REQUIRED,
    loads_header,
    parse_attribute,
    rewrite_bulk_uris,
    row_to_json,
    vr_of,
    without_bulk,
)
from pacslab.dicomweb.multipart import (
    MediaType,
    Part,
    SpooledParts,
    multipart_content_type,
    multipart_length,
    multipart_stream,
    new_boundary,
    parse_accept,
    parse_media_type,
    parse_multipart,
)
from pacslab.errors import (
    AccessDeniedError,
    CatalogError,
    InstanceNotFoundError,
    InvalidDicomInputError,
    NotFoundError,
    PacslabError,
    SeriesNotFoundError,
    StudyNotFoundError,
    is_out_of_space,
)

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = [
    "AuditEntry",
    "DicomwebError",
    "DicomwebService",
    "NotAcceptableError",
    "PayloadTooLargeError",
    "Request",
    "Response",
    "error_message",
    "status_for",
    "UnsupportedMediaTypeError",
    "warning_header",
]

logger = logging.getLogger(__name__)

DICOM_JSON = "application/dicom+json"
_STUDY_UPPER = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyID",
)
_RESERVED = {"limit", "offset", "includefield", "fuzzymatching", "emptyvaluematching", "multiplevaluematching"}
#: Media types of frames kept in their stored (compressed) transfer syntax, PS3.18 Table 8.7.3-2.
_FRAME_MEDIA = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}
EXPLICIT_LE = "1.2.840.10008.1.2.1"

# PS3.18 Table 10.5.3-2 / PS3.4 Annex B failure reasons.
FAILURE_PROCESSING = 0x0110
FAILURE_DUPLICATE = 0x0111
FAILURE_CANNOT_UNDERSTAND = 0xC000
FAILURE_MISMATCH = 0xA900


# -- errors ---------------------------------------------------------------------------
class DicomwebError(PacslabError):
    """A request the DICOMweb service cannot serve; ``status`` is its HTTP status."""

    status = 400


class NotAcceptableError(DicomwebError):
    """None of the media types the client accepts can be produced (HTTP 406)."""

    status = 406


class UnsupportedMediaTypeError(DicomwebError):
    """The request body is of a media type the service does not take (HTTP 415)."""

    status = 415


class PayloadTooLargeError(DicomwebError, ValueError):
    """The request body is larger than ``max_body_size`` (HTTP 413)."""

    status = 413


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def status_for(exc: BaseException) -> int:
    """The HTTP status of an exception: the one place errors become statuses."""
    if isinstance(exc, DicomwebError):
        return exc.status
    if isinstance(exc, AuthenticationError):
        return 401
    if isinstance(exc, AccessDeniedError):
        return 403
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, InvalidDicomInputError | CatalogError | ValueError):
        return 400
    if is_out_of_space(exc):
        return 507  # Insufficient Storage (RFC 4918): a want of space, not anything the request sent
    return 500


def error_message(exc: BaseException, status: int) -> str:
    """What the client is told of an exception answered with *status* (:func:`status_for`).

    Its own words below 500; a full disk said as such, with what to do; nothing of the
    server's insides otherwise.
    """
    if status == 507:
        return (
            f"The archive's storage is full ({getattr(exc, 'strerror', None) or exc}): what this request sent was "
            "not stored. Free space on the server, then send it again."
        )
    return str(exc) if status < 500 else f"Internal server error ({type(exc).__name__})."


def warning_header(text: str) -> str:
    r"""A ``Warning`` header value (code 299, RFC 9111 5.5) carrying *text*, safe to send in HTTP.

    Reasons quote what the client sent (a query parameter, a UID from a rejected file), which
    may hold quotes, control characters or non-ASCII text that HTTP headers cannot carry: quotes
    become apostrophes, control characters spaces, other characters ``\x..``/``\u....`` escapes,
    and the text is cut to 1000 characters.

    Examples
    --------
    >>> print(warning_header('viewport="0,0" is out of range (1–8192)\n'))
    299 pacslab: "viewport='0,0' is out of range (1\u20138192) "
    """
    text = _CONTROL.sub(" ", text.replace('"', "'")).encode("ascii", "backslashreplace").decode("ascii")
    return f'299 pacslab: "{text[:1000]}"'


# -- request / response -------------------------------------------------------------------
@dataclasses.dataclass
class Request:
    """What a service method needs of an HTTP request.

    Attributes
    ----------
    base_url : str
        The absolute URL of the service root, e.g. ``http://127.0.0.1:8080/dicom-web``
        (RetrieveURL and BulkDataURI values are built on it).
    params : dict
        Query parameters, each name to the list of its values.
    headers : dict
        Header fields by lower-case name.
    body : bytes
    principal : Principal
        The authenticated caller.
    address : str, optional
        The client's address, for the audit table.
    parts : list of Part, optional
        The parts of a multipart body the server split into files as it arrived
        (:meth:`DicomwebService.spool`); *body* is empty then.
    """

    base_url: str
    principal: Principal
    params: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: bytes = b""
    address: str | None = None
    parts: list[Part] | None = None

    def param(self, name: str) -> str | None:
        """The last value of a query parameter."""
        values = self.params.get(name)
        return values[-1] if values else None

    @property
    def accept(self) -> list[MediaType]:
        """The media ranges of the Accept header."""
        return parse_accept(self.headers.get("accept"))


@dataclasses.dataclass
class AuditEntry:
    """What a request did, for the audit table."""

    action: str
    uids: list[str] = dataclasses.field(default_factory=list)
    count: int | None = None
    outcome: str = "success"
    detail: str | None = None


@dataclasses.dataclass
class Response:
    """A status, headers, and a body given whole or as an iterator of chunks (streamed)."""

    status: int = 200
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: bytes | Iterator[bytes | memoryview] = b""
    audit: AuditEntry | None = None


def _json_response(value: Any, *, status: int = 200, audit: AuditEntry | None = None) -> Response:
    body = json.dumps(value, separators=(",", ":")).encode()
    return Response(status, {"Content-Type": DICOM_JSON}, body, audit)


# -- the service -----------------------------------------------------------------------------
class DicomwebService:
    """QIDO-RS, WADO-RS and STOW-RS over an archive.

    Parameters
    ----------
    archive : Archive
    max_results : int
        Most matches one search returns (clients page with ``offset``).
    max_body_size : int
        Largest STOW-RS request body, in bytes (larger ones get HTTP 413).
    ingest_executor : concurrent.futures.Executor, optional
        Where STOW-RS parts are parsed, hashed and stored
        (:func:`pacslab.ingest.pipeline.ingest_executor`); the calling thread when None.
        The caller shuts it down.

    Examples
    --------
    >>> service = DicomwebService(archive)  # doctest: +SKIP
    >>> request = Request("http://host/dicom-web", principal, params={"PatientID": ["P1"]})  # doctest: +SKIP
    >>> r = service.search_studies(request)  # doctest: +SKIP
    >>> r.status, r.headers["Content-Type"]  # doctest: +SKIP
    (200, 'application/dicom+json')
    """

    def __init__(
        self,
        archive: Archive,
        *,
        max_results: int = 1000,
        max_body_size: int = 2**30,
        ingest_executor: cf.Executor | None = None,
    ) -> None:
        if max_results < 1:
            raise ValueError(f"max_results must be at least 1, not {max_results!r}.")
        if max_body_size < 1:
            raise ValueError(f"max_body_size must be a positive number of bytes, not {max_body_size!r}.")
        self.archive = archive
        self.catalog = archive.catalog
        self.max_results = max_results
        self.max_body_size = max_body_size
        self.ingest_executor = ingest_executor
        self._spool_checked = False

    # -- QIDO-RS -------------------------------------------------------------------------
    def search_studies(self, request: Request) -> Response:
        """QIDO-RS ``GET /studies``."""
        return self._search(request, "studies")

    def search_series(self, request: Request, study: str | None = None) -> Response:
        """QIDO-RS ``GET /series`` and ``GET /studies/{study}/series``."""
        return self._search(request, "series", study=study)

    def search_instances(self, request: Request, study: str | None = None, series: str | None = None) -> Response:
        """QIDO-RS ``GET /instances``, ``/studies/{s}/instances`` and ``/studies/{s}/series/{se}/instances``."""
        return self._search(request, "instances", study=study, series=series)

    def _qido_params(self, request: Request) -> tuple[dict[str, Any], list[str], bool, int, int]:
        filters: dict[str, Any] = {}
        include: list[str] = []
        include_all = False
        for name, values in request.params.items():
            key = name.lower()
            if key == "includefield":
                for v in values:
                    for item in v.split(","):
                        if item.strip().lower() == "all":
                            include_all = True
                        elif item.strip():
                            include.append(parse_attribute(item))
            elif key in _RESERVED:
                continue
            else:
                keyword = parse_attribute(name)
                value: Any = values[-1]
                if vr_of(keyword) == "UI" and (
                    len(values) > 1 or "," in value
                ):  # a UID list, repeated or comma-separated
                    value = [u.strip() for v in values for u in v.replace("\\", ",").split(",") if u.strip()]
                filters[keyword] = value
        limit = _non_negative(request.param("limit"), "limit")
        offset = _non_negative(request.param("offset"), "offset") or 0
        if not limit or limit > self.max_results:  # none, 0, or more than the server gives
            limit = self.max_results
        return filters, include, include_all, limit, offset

    def _search(self, request: Request, level: str, *, study: str | None = None, series: str | None = None) -> Response:
        filters, include, include_all, limit, offset = self._qido_params(request)
        if study is not None:
            filters["StudyInstanceUID"] = study
        if series is not None:
            filters["SeriesInstanceUID"] = series
        keywords = self._return_keywords(level, study=study, series=series)
        header_fields = [k for k in keywords if k in FROM_HEADER and k != "RequestAttributesSequence"]
        rows = self.catalog.query_records(level, filters, fields=header_fields, limit=limit + 1, offset=offset)
        truncated = len(rows) > limit
        rows = rows[:limit]
        extra_keywords = _level_all(level) if include_all else ()
        results = []
        for row in rows:
            row["InstanceAvailability"] = "ONLINE"
            row["RetrieveURL"] = self._retrieve_url(request.base_url, level, row)
            header = None
            if include or include_all or "RequestAttributesSequence" in keywords:
                header = self._representative_header(level, row)
            wanted = list(keywords) + [k for k in (*include, *extra_keywords) if k not in keywords]
            result = row_to_json(row, wanted, header=header)
            if include_all and level == "instances" and header is not None:
                result = dict(sorted({**without_bulk(header), **result}.items()))
            results.append(result)
        response = _json_response(results, audit=self._query_audit(level, filters, rows))
        if truncated:
            response.headers["Warning"] = (
                f'299 pacslab: "There are more than {limit} matches; ask again with offset={offset + limit}."'
            )
        return response

    def _return_keywords(self, level: str, *, study: str | None, series: str | None) -> tuple[str, ...]:
        if level == "studies":
            return STUDY_REQUIRED
        out: tuple[str, ...]
        if level == "series":
            out = SERIES_REQUIRED + ("StudyInstanceUID",)
            return out if study is not None else out + _STUDY_UPPER
        out = INSTANCE_REQUIRED + ("StudyInstanceUID", "SeriesInstanceUID")
        if series is None:
            out += ("Modality", "SeriesNumber", "SeriesDescription")
        if study is None:
            out += _STUDY_UPPER
        return out

    @staticmethod
    def _retrieve_url(base: str, level: str, row: Mapping[str, Any]) -> str:
        url = f"{base}/studies/{row['StudyInstanceUID']}"
        if level in ("series", "instances"):
            url += f"/series/{row['SeriesInstanceUID']}"
        if level == "instances":
            url += f"/instances/{row['SOPInstanceUID']}"
        return url

    def _representative_header(self, level: str, row: Mapping[str, Any]) -> dict[str, Any] | None:
        if level == "instances":
            sop = row["SOPInstanceUID"]
        else:
            key = "study_instance_uid" if level == "studies" else "series_instance_uid"
            uid = row["StudyInstanceUID"] if level == "studies" else row["SeriesInstanceUID"]
            keys = self.catalog.instance_keys(**{key: uid})
            if not keys:
                return None
            sop = keys[0]["SOPInstanceUID"]
        return loads_header(self.catalog.instance(sop)["header"])

    @staticmethod
    def _query_audit(level: str, filters: Mapping[str, Any], rows: list[dict[str, Any]]) -> AuditEntry:
        key = {"studies": "StudyInstanceUID", "series": "SeriesInstanceUID", "instances": "SOPInstanceUID"}[level]
        uids = [str(r[key]) for r in rows[:100]]
        return AuditEntry("query", uids=uids, count=len(rows), detail=f"{level} {sorted(filters)}")

    # -- WADO-RS: instances ------------------------------------------------------------
    def _keys(self, study: str, series: str | None = None, instance: str | None = None) -> list[dict[str, Any]]:
        if instance is not None:
            rows = self.catalog.instance_keys(sop_instance_uid=instance)
        elif series is not None:
            rows = self.catalog.instance_keys(series_instance_uid=series)
        else:
            rows = self.catalog.instance_keys(study_instance_uid=study)
        rows = [
            r for r in rows if r["StudyInstanceUID"] == study and (series is None or r["SeriesInstanceUID"] == series)
        ]
        if not rows:
            if instance is not None:
                raise InstanceNotFoundError(
                    f"No instance {instance!r} in series {series!r} of study {study!r} is in the archive."
                )
            if series is not None:
                raise SeriesNotFoundError(f"No series {series!r} of study {study!r} is in the archive.")
            raise StudyNotFoundError(f"No study with StudyInstanceUID {study!r} is in the archive.")
        return rows

    def retrieve(
        self, request: Request, study: str, series: str | None = None, instance: str | None = None
    ) -> Response:
        """WADO-RS ``GET`` of a study, series or instance: the original files as ``multipart/related``.

        Parts are the instances byte for byte as received (``transfer-syntax`` names
        the stored one), streamed one instance at a time.
        """
        _negotiate(request, ("application/dicom",), multipart=True)
        rows = self._keys(study, series, instance)
        syntax = {r["SOPInstanceUID"]: r["TransferSyntaxUID"] or EXPLICIT_LE for r in rows}
        uid = instance or series or study
        boundary = new_boundary()

        def part_type(sop: str) -> str:
            return f"application/dicom; transfer-syntax={syntax[sop]}"

        def parts() -> Iterator[tuple[str, list[bytes | memoryview]]]:
            for sop, buffers in self.archive.iter_instances(uid, as_buffers=True):  # frames sent from the volume
                if sop in syntax:
                    yield part_type(sop), buffers

        # the length is known from the catalog, so the body goes out as it is read, not re-framed in chunks
        length = multipart_length([(part_type(r["SOPInstanceUID"]), int(r["size"])) for r in rows], boundary)
        headers = {
            "Content-Type": multipart_content_type("application/dicom", boundary),
            "Content-Length": str(length),
        }
        audit = AuditEntry("retrieve", uids=[uid], count=len(rows), detail="instances")
        return Response(200, headers, multipart_stream(parts(), boundary), audit)

    def metadata(
        self, request: Request, study: str, series: str | None = None, instance: str | None = None
    ) -> Response:
        """WADO-RS ``GET .../metadata``: DICOM JSON headers with BulkDataURIs pointing at ``.../bulk/{tag}``."""
        _negotiate(request, (DICOM_JSON, "application/json"), multipart=False)
        rows = self._keys(study, series, instance)
        out = []
        for r in rows:
            header = loads_header(self.catalog.instance(r["SOPInstanceUID"])["header"])
            base = f"{request.base_url}/studies/{r['StudyInstanceUID']}/series/{r['SeriesInstanceUID']}"
            out.append(rewrite_bulk_uris(header, f"{base}/instances/{r['SOPInstanceUID']}"))
        uid = instance or series or study
        return _json_response(out, audit=AuditEntry("retrieve", uids=[uid], count=len(rows), detail="metadata"))

    def bulkdata(self, request: Request, study: str, series: str, instance: str, tag: str) -> Response:
        """WADO-RS ``GET .../instances/{i}/bulk/{tag}``: one bulk data value as ``application/octet-stream``."""
        self._keys(study, series, instance)
        try:
            wanted = int(tag, 16)
        except ValueError:
            raise InvalidDicomInputError(f"{tag!r} is not a tag; bulk data is named by 8 hex digits.") from None
        ds = self.archive.dataset(instance)
        element = ds.get(wanted) or next((e for e in ds.iterall() if e.tag == wanted), None)
        if element is None or not isinstance(element.value, bytes | bytearray):
            raise NotFoundError(f"Instance {instance!r} has no bulk data element {tag!r}.")
        boundary = new_boundary()
        body = b"".join(multipart_stream([("application/octet-stream", bytes(element.value))], boundary))
        headers = {"Content-Type": multipart_content_type("application/octet-stream", boundary)}
        return Response(200, headers, body, AuditEntry("retrieve", uids=[instance], count=1, detail=f"bulk {tag}"))

    # -- WADO-RS: frames and rendered ------------------------------------------------------
    def frames(self, request: Request, study: str, series: str, instance: str, frames: str) -> Response:
        """WADO-RS ``GET .../frames/{list}``: uncompressed, or in the stored transfer syntax when asked for."""
        self._keys(study, series, instance)
        numbers = _frame_numbers(frames)
        ds = self.archive.dataset(instance)
        if "PixelData" not in ds:
            raise NotFoundError(f"Instance {instance!r} has no pixel data, so no frames.")
        n = int(ds.get("NumberOfFrames", 1) or 1)
        for k in numbers:
            if k > n:
                raise NotFoundError(f"Instance {instance!r} has {n} frame(s); there is no frame {k}.")
        syntax = str(ds.file_meta.get("TransferSyntaxUID", EXPLICIT_LE))
        stored_type = _FRAME_MEDIA.get(syntax, "application/octet-stream")
        keep = _wants_stored(request.accept, syntax, stored_type)
        boundary = new_boundary()
        if keep and syntax in _FRAME_MEDIA:
            from pydicom.encaps import generate_frames

            encoded = list(generate_frames(ds.PixelData, number_of_frames=n))
            parts = [(f"{stored_type}; transfer-syntax={syntax}", encoded[k - 1]) for k in numbers]
            part_type = stored_type
        else:
            _negotiate(request, ("application/octet-stream",), multipart=True)
            parts = [
                ("application/octet-stream; transfer-syntax=" + EXPLICIT_LE, _native_frame(ds, k, n)) for k in numbers
            ]
            part_type = "application/octet-stream"
        headers = {"Content-Type": multipart_content_type(part_type, boundary)}
        audit = AuditEntry("retrieve", uids=[instance], count=len(numbers), detail=f"frames {frames}")
        return Response(200, headers, b"".join(multipart_stream(parts, boundary)), audit)

    def rendered(
        self,
        request: Request,
        study: str,
        series: str,
        instance: str | None = None,
        frames: str | None = None,
        *,
        thumbnail: bool = False,
    ) -> Response:
        """WADO-RS ``GET .../rendered``: a PNG or JPEG of an instance frame (the middle instance of a series).

        Query parameters: ``window=center,width[,linear|linear_exact|sigmoid]``,
        ``viewport=width,height`` (the image is scaled to fit, keeping its aspect),
        ``quality`` (JPEG, 1–100).
        """
        from pacslab.dicomweb.render import render_frame

        media = _negotiate_image(request)
        if instance is None:
            instance = self._middle_instance(study, series)
        else:
            self._keys(study, series, instance)
        number = _frame_numbers(frames)[0] if frames else None
        ds = self.archive.dataset(instance)
        viewport = request.param("viewport") or ("128,128" if thumbnail else None)
        body = render_frame(
            ds,
            number,
            media=media,
            window=request.param("window"),
            viewport=viewport,
            quality=request.param("quality"),
        )
        audit = AuditEntry("retrieve", uids=[instance], count=1, detail="thumbnail" if thumbnail else "rendered")
        return Response(200, {"Content-Type": media}, body, audit)

    def thumbnail(
        self, request: Request, study: str, series: str | None = None, instance: str | None = None
    ) -> Response:
        """WADO-RS ``GET .../thumbnail`` of a study, series or instance (128×128 unless ``viewport`` says)."""
        if series is None:
            series = self._image_series(study)
        return self.rendered(request, study, series, instance, thumbnail=True)

    def _image_rows(self, study: str, series: str | None) -> list[dict[str, Any]]:
        filters: dict[str, Any] = {"StudyInstanceUID": study}
        if series is not None:
            filters["SeriesInstanceUID"] = series
        return [r for r in self.catalog.query_records("instances", filters) if not _missing(r.get("Rows"))]

    def _middle_instance(self, study: str, series: str) -> str:
        rows = self._image_rows(study, series)
        if not rows:
            self._keys(study, series)
            raise NotFoundError(f"Series {series!r} has no image instances to render.")
        return str(rows[len(rows) // 2]["SOPInstanceUID"])

    def _image_series(self, study: str) -> str:
        rows = self._image_rows(study, None)
        if not rows:
            self._keys(study)
            raise NotFoundError(f"Study {study!r} has no image instances to render.")
        return str(rows[0]["SeriesInstanceUID"])

    # -- STOW-RS ------------------------------------------------------------------------------
    def store(self, request: Request, study: str | None = None) -> Response:
        """STOW-RS ``POST /studies`` and ``/studies/{study}``.

        Returns 200 when every instance was stored, 202 when some failed, 409 when none
        was, and 400 when no part was DICOM at all. Each failure is in the
        FailedSOPSequence with its FailureReason, and the reasons are in a ``Warning`` header.
        """
        if len(request.body) > self.max_body_size:
            raise PayloadTooLargeError(
                f"The request body has {len(request.body)} bytes; this server takes at most {self.max_body_size}."
            )
        content_type = request.headers.get("content-type", "")
        media = parse_media_type(content_type)
        if media.type != "multipart/related":
            raise UnsupportedMediaTypeError(
                f'STOW-RS takes multipart/related; type="application/dicom" bodies, not {content_type!r}.'
            )
        part_type = (media.param("type") or "application/dicom").lower()
        if part_type != "application/dicom":
            raise UnsupportedMediaTypeError(
                f"This server stores application/dicom parts only, not {part_type!r} (metadata and bulk data)."
            )
        parts = request.parts if request.parts is not None else parse_multipart(request.body, content_type)
        return self._store_parts(request, parts, study)

    def spool(self, content_type: str) -> SpooledParts | None:
        """Where a STOW-RS body of *content_type* is split into files as it arrives, or None to keep it in memory.

        A server that receives a body chunk by chunk feeds them to the returned
        :class:`SpooledParts` and passes its parts as :attr:`Request.parts`. None when the
        body is not multipart ``application/dicom`` with a boundary (:meth:`store` answers
        what is wrong with it) or the archive cannot move received files into place
        (:meth:`OriginalStore.spool`). Folders left by a server that stopped mid-request are
        removed once they are an hour old.
        """
        media = parse_media_type(content_type)
        boundary = media.param("boundary")
        folder = self.archive.originals.spool()
        if media.type != "multipart/related" or not boundary or folder is None:
            return None
        if (media.param("type") or "application/dicom").lower() != "application/dicom":
            return None
        if not self._spool_checked:
            self._spool_checked = True
            self.archive.originals.remove_stale_spool()
        try:
            os.makedirs(folder, exist_ok=True)
            return SpooledParts(boundary, os.path.join(folder, uuid.uuid4().hex))
        except OSError:
            logger.warning("cannot spool STOW-RS bodies in %s; keeping them in memory", folder, exc_info=True)
            return None

    def _store_parts(self, request: Request, parts: list[Any], study: str | None) -> Response:
        from pacslab.ingest.pipeline import Spooled, ingest_many

        referenced: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        reasons: list[str] = []
        not_dicom = 0
        studies: list[str] = []
        source = f"stow:{request.principal.name}@{request.address or '?'}"
        accepted: list[tuple[int, Any, dict[str, Any]]] = []  # (part number, part, identity when parsed)
        for index, part in enumerate(parts, 1):
            if part.content_type.type not in ("application/dicom", "application/octet-stream"):
                failed.append(_failed({}, FAILURE_CANNOT_UNDERSTAND))
                reasons.append(f"part {index} is {part.content_type.type!r}, not application/dicom")
                not_dicom += 1
                continue
            ident = _identify(part.read()) if study is not None else {}  # parsed again in ingest: only for the study
            if study is not None and ident.get("StudyInstanceUID") not in (None, study):
                failed.append(_failed(ident, FAILURE_MISMATCH))
                reasons.append(f"part {index} belongs to study {ident['StudyInstanceUID']}, not {study}")
                continue
            accepted.append((index, part, ident))
        items = [(source, part.data if part.path is None else Spooled(part.path)) for _, part, _ in accepted]
        results = ingest_many(self.archive, items, executor=self.ingest_executor)
        for (index, part, ident), (outcome, record) in zip(accepted, results, strict=True):
            if outcome in ("new", "duplicate"):
                uid = record.study_instance_uid  # type: ignore[union-attr]
                studies += [uid] if uid not in studies else []
                url = f"{request.base_url}/studies/{uid}/series/{record.series_instance_uid}"  # type: ignore[union-attr]
                referenced.append(
                    {
                        "00081150": {"vr": "UI", "Value": [record.attributes["SOPClassUID"]]},  # type: ignore[union-attr]
                        "00081155": {"vr": "UI", "Value": [record.sop_instance_uid]},  # type: ignore[union-attr]
                        "00081190": {"vr": "UR", "Value": [f"{url}/instances/{record.sop_instance_uid}"]},  # type: ignore[union-attr]
                    }
                )
            elif outcome == "conflict":
                attrs = record.attributes  # type: ignore[union-attr]
                failed.append(_failed({k: str(attrs[k]) for k in ("SOPClassUID", "SOPInstanceUID")}, FAILURE_DUPLICATE))
                reasons.append(f"part {index}: another instance with SOPInstanceUID {attrs['SOPInstanceUID']} "
                               "and other content is already stored")  # fmt: skip
            else:
                ident = ident or _identify(part.read())
                failed.append(_failed(ident, FAILURE_CANNOT_UNDERSTAND if not ident else FAILURE_PROCESSING))
                reasons.append(f"part {index}: {record.reason}")  # type: ignore[union-attr]
                not_dicom += 0 if ident else 1
        body: dict[str, Any] = {}
        if len(studies) == 1 or study is not None:
            body["00081190"] = {"vr": "UR", "Value": [f"{request.base_url}/studies/{study or studies[0]}"]}
        if referenced:
            body["00081199"] = {"vr": "SQ", "Value": referenced}
        if failed:
            body["00081198"] = {"vr": "SQ", "Value": failed}
        if not failed:
            status, outcome_text = 200, "success"
        elif referenced:
            status, outcome_text = 202, "partial"
        else:
            status, outcome_text = (400 if not_dicom == len(parts) else 409), "failure"
        audit = AuditEntry("store", uids=studies, count=len(referenced), outcome=outcome_text,
                           detail="; ".join(reasons)[:2000] or None)  # fmt: skip
        response = _json_response(body, status=status, audit=audit)
        if reasons:
            response.headers["Warning"] = warning_header("; ".join(reasons))
        return response

    # -- DELETE -------------------------------------------------------------------------------
    def delete(self, request: Request, study: str, series: str | None = None) -> Response:
        """``DELETE /studies/{study}`` or ``/studies/{study}/series/{series}`` (admin): 204 when done."""
        request.principal.require(RoleValues.ADMIN, "Deleting studies and series")
        self._keys(study, series)
        if series is not None:
            n = self.archive.delete(series_instance_uid=series)
        else:
            n = self.archive.delete(study_instance_uid=study)
        return Response(204, {}, b"", AuditEntry("delete", uids=[series or study], count=n))


# -- helpers ------------------------------------------------------------------------------------
def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _level_all(level: str) -> tuple[str, ...]:
    return {"studies": STUDY_ALL, "series": SERIES_ALL + STUDY_ALL, "instances": ()}[level]


def _non_negative(text: str | None, name: str) -> int | None:
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise InvalidDicomInputError(f"The query parameter {name}={text!r} must be a non-negative integer.")
    return value


def _frame_numbers(text: str) -> list[int]:
    try:
        numbers = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        numbers = []
    if not numbers or min(numbers) < 1:
        raise InvalidDicomInputError(f"{text!r} is not a frame list; give frame numbers from 1, e.g. frames/1,3.")
    return numbers


def _negotiate(request: Request, types: tuple[str, ...], *, multipart: bool) -> None:
    """Raise :class:`NotAcceptableError` unless the Accept header allows one of *types*."""
    ranges = request.accept
    if not ranges:
        return
    for media in ranges:
        if media.type in ("*/*", "multipart/*"):
            return
        inner = media.param("type", "").lower() if media.type == "multipart/related" else media.type  # type: ignore[union-attr]
        if media.type == "multipart/related" and not inner:
            return
        if inner in types or inner == "*/*" or (inner.endswith("/*") and any(t.startswith(inner[:-1]) for t in types)):
            return
    offered = ", ".join(f'multipart/related; type="{t}"' if multipart else t for t in types)
    raise NotAcceptableError(
        f"Cannot produce any of the media types accepted ({request.headers.get('accept')!r}); "
        f"this resource is {offered}."
    )


def _negotiate_image(request: Request) -> str:
    for media in request.accept or [MediaType("image/jpeg", {})]:
        if media.type in ("image/png", "image/jpeg"):
            return media.type
        if media.type in ("*/*", "image/*"):
            return "image/jpeg"
    raise NotAcceptableError(
        f"Rendered resources are image/jpeg or image/png; the request accepts {request.headers.get('accept')!r}."
    )


def _wants_stored(ranges: list[MediaType], syntax: str, stored_type: str) -> bool:
    for media in ranges:
        inner = media.param("type", "") if media.type == "multipart/related" else media.type
        wanted = media.param("transfer-syntax")
        if wanted == "*" or wanted == syntax:
            return True
        if inner == stored_type and stored_type != "application/octet-stream":
            return True
    return False


def _native_frame(ds: Any, number: int, n: int) -> bytes:
    from pydicom.uid import UID

    syntax = UID(str(ds.file_meta.get("TransferSyntaxUID", EXPLICIT_LE)))
    bits = int(ds.get("BitsAllocated", 8))
    if not syntax.is_compressed and syntax != "1.2.840.10008.1.2.2" and bits % 8 == 0:
        size = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1) or 1) * bits // 8
        return bytes(ds.PixelData[(number - 1) * size : number * size])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        array = ds.pixel_array
    frame = array[number - 1] if n > 1 else array
    return np.ascontiguousarray(frame).astype(frame.dtype.newbyteorder("<"), copy=False).tobytes()


def _identify(data: bytes) -> dict[str, str]:
    """SOP class, instance and study UIDs of a part, if it reads as DICOM (else an empty dict)."""
    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            has_preamble = len(data) >= 132 and data[128:132] == b"DICM"
            ds = pydicom.dcmread(io.BytesIO(data), force=not has_preamble, stop_before_pixels=True,
                                 specific_tags=["SOPClassUID", "SOPInstanceUID", "StudyInstanceUID"])  # fmt: skip
            out = {k: str(ds.get(k)) for k in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID") if ds.get(k)}
    except Exception:  # noqa: BLE001 - not DICOM
        return {}
    return out


def _failed(ident: Mapping[str, str], reason: int) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if "SOPClassUID" in ident:
        item["00081150"] = {"vr": "UI", "Value": [ident["SOPClassUID"]]}
    if "SOPInstanceUID" in ident:
        item["00081155"] = {"vr": "UI", "Value": [ident["SOPInstanceUID"]]}
    item["00081197"] = {"vr": "US", "Value": [reason]}
    return item

"""Sending: to a remote AE through :func:`pacslab.dimse.send` (C-STORE), or to a DICOMweb server (STOW-RS)."""

from __future__ import annotations

import json
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pacslab.errors import RemoteError
from pacslab.export._dicom import Item, write_folder
from pacslab.export.models import ExportError, ExportReport

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = ["STOW_BATCH_BYTES", "check_url", "is_dicomweb_url", "send_dimse", "send_stow"]

#: Largest STOW-RS request body we build, in bytes (more instances go in further requests).
STOW_BATCH_BYTES = 32 * 2**20
_REFERENCED_SOP_SEQUENCE, _FAILED_SOP_SEQUENCE = "00081199", "00081198"
_REFERENCED_SOP_INSTANCE_UID, _FAILURE_REASON = "00081155", "00081197"


def is_dicomweb_url(remote: object) -> bool:
    """Whether *remote* names a DICOMweb server (``http://`` or ``https://``) rather than an AE."""
    return isinstance(remote, str) and remote.lower().startswith(("http://", "https://"))


# -- DIMSE ------------------------------------------------------------------------------------------
def send_dimse(
    archive: Archive,
    remote: Any,
    rows: list[dict[str, Any]],
    items: Iterable[Item] | None,
    report: ExportReport,
    *,
    calling_ae_title: str | None = None,
) -> None:
    """C-STORE through the archive's DIMSE client: originals byte for byte (*rows*), or de-identified *items*.

    De-identified instances are written to a private temporary folder first and sent
    from there, so that a large cohort never sits in memory at once.
    """
    from pacslab.dimse import send

    if items is None:
        sops = [str(r["SOPInstanceUID"]) for r in rows]
        transfer = send(remote, archive=archive, sop_instance_uid=sops, calling_ae_title=calling_ae_title)
    else:
        with tempfile.TemporaryDirectory(prefix="pacslab-send-") as folder:
            scratch = ExportReport("dicom", folder)
            write_folder(items, folder, scratch)
            transfer = send(remote, scratch.written, archive=archive, calling_ae_title=calling_ae_title)
    report.destination = transfer.remote
    report.written += transfer.sop_instance_uids
    report.failures += transfer.failures
    missing = transfer.failed - len(transfer.failures)
    report.failures += [("", "the remote AE refused an instance")] * max(missing, 0)


# -- STOW-RS ----------------------------------------------------------------------------------------
def check_url(url: str) -> str:
    """The STOW-RS endpoint (``…/studies``) of a DICOMweb base URL.

    Raises
    ------
    ExportError
        Not an http(s) URL with a host, or one with credentials, a query or a fragment.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ExportError(f"{url!r} is not a DICOMweb URL; expected e.g. 'https://pacs.example/dicom-web'.")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ExportError(
            f"The DICOMweb URL {url!r} must not carry credentials, a query or a fragment; pass a token instead."
        )
    return url.rstrip("/") + "/studies"


def _batches(items: Iterable[Item], limit: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    size = 0
    for item in items:
        if batch and size + len(item.data) > limit:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += len(item.data)
    if batch:
        yield batch


def send_stow(
    items: Iterable[Item],
    url: str,
    report: ExportReport,
    *,
    token: str | None = None,
    timeout: float = 300.0,
    batch_bytes: int = STOW_BATCH_BYTES,
) -> None:
    """POST the items to ``url/studies`` in ``multipart/related; type="application/dicom"`` requests.

    Instances the server lists in its ReferencedSOPSequence go to ``report.written``, those
    in its FailedSOPSequence (with the FailureReason) to ``report.failures``.

    Raises
    ------
    RemoteError
        The server cannot be reached, refuses the token (401, 403) or fails otherwise.
    """
    endpoint = check_url(url)
    for batch in _batches(items, batch_bytes):
        status, body = _post(endpoint, batch, token=token, timeout=timeout)
        _account(batch, status, body, report)


def _post(endpoint: str, batch: list[Item], *, token: str | None, timeout: float) -> tuple[int, Any]:
    from pacslab.dicomweb.multipart import multipart_content_type, multipart_stream, new_boundary

    boundary = new_boundary()
    body = b"".join(multipart_stream((("application/dicom", item.data) for item in batch), boundary))
    headers = {"Content-Type": multipart_content_type("application/dicom", boundary),
               "Accept": "application/dicom+json"}  # fmt: skip
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(endpoint, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the scheme is checked
            return response.status, _json(response.read())
    except urllib.error.HTTPError as exc:
        payload = _json(exc.read())
        if exc.code == 409 or (exc.code == 400 and isinstance(payload, dict) and _FAILED_SOP_SEQUENCE in payload):
            return exc.code, payload
        message = payload.get("message") if isinstance(payload, dict) else None
        hint = {401: " (a bearer token is needed: pass token=…)", 403: " (the token's role may not store)"}
        raise RemoteError(
            f"The DICOMweb server at {endpoint!r} answered HTTP {exc.code}{hint.get(exc.code, '')}: "
            f"{message or exc.reason}."
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        raise RemoteError(f"The DICOMweb server at {endpoint!r} could not be reached: {exc}.") from None


def _json(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


def _sequence(body: Any, tag: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        return []
    value = body.get(tag, {}).get("Value", [])
    return [item for item in value if isinstance(item, dict)]


def _first(item: dict[str, Any], tag: str) -> Any:
    values = item.get(tag, {}).get("Value") or [None]
    return values[0]


def _account(batch: list[Item], status: int, body: Any, report: ExportReport) -> None:
    stored = {str(_first(i, _REFERENCED_SOP_INSTANCE_UID)) for i in _sequence(body, _REFERENCED_SOP_SEQUENCE)}
    failed = {str(_first(i, _REFERENCED_SOP_INSTANCE_UID)): _first(i, _FAILURE_REASON)
              for i in _sequence(body, _FAILED_SOP_SEQUENCE)}  # fmt: skip
    if status == 200 and not stored and not failed:  # a server that says nothing more: all stored
        stored = {item.sop_instance_uid for item in batch}
    for item in batch:
        if item.sop_instance_uid in stored:
            report.written.append(item.sop_instance_uid)
        elif item.sop_instance_uid in failed:
            reason = failed[item.sop_instance_uid]
            report.failures.append((item.sop_instance_uid, f"STOW-RS failure reason {reason}"))
        else:
            report.failures.append((item.sop_instance_uid, f"not confirmed by the server (HTTP {status})"))

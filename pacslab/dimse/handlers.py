"""pynetdicom event handlers that serve an archive: Verification, Storage, Query/Retrieve.

Each handler takes ``(event, service)`` and is bound with
``[(evt.EVT_C_STORE, handle_store, [service]), …]`` (see :func:`handler_list`).
Errors become DIMSE statuses here, once: a handler never lets an exception reach
pynetdicom, and logs it with ``logger.exception`` (PS3.7 C: failures carry an
*Error Comment*).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as _dt
import json
import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset
from pynetdicom import evt
from pynetdicom.dsutils import encode_file_meta
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
)

from pacslab.config import config
from pacslab.dimse._query import QueryError, build_query, find_responses, retrieve_filters
from pacslab.dimse._raw import EncodedInstance, set_nodelay
from pacslab.dimse._spool import Spool, check_uids
from pacslab.ingest._prepare import Rejection
from pacslab.ingest.pipeline import ingest_bytes

if TYPE_CHECKING:
    from pacslab.archive import Archive
    from pacslab.dimse._settings import DimseSettings

__all__ = [
    "ArchiveService",
    "archived_instances",
    "encoded_instance",
    "handle_echo",
    "handle_find",
    "handle_get",
    "handle_move",
    "handle_store",
    "handler_list",
    "received_part10",
]

logger = logging.getLogger(__name__)

#: Longest Error Comment (LO, PS3.5 6.2).
_COMMENT_MAX = 64
_PATIENT_ROOT = {
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
}
_MAX_UIDS_AUDITED = 50


def failure(status: int, comment: str) -> Dataset:
    """A status dataset with an *Error Comment* (cut to 64 ASCII characters)."""
    ds = Dataset()
    ds.Status = status
    text = comment.encode("ascii", "replace").decode().replace("\\", "/").replace("\n", " ")
    ds.ErrorComment = text if len(text) <= _COMMENT_MAX else text[: _COMMENT_MAX - 3] + "..."
    return ds


@dataclasses.dataclass
class AssociationRecord:
    """What one association did, for the audit table."""

    calling_ae: str
    address: str
    started: str
    services: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    counts: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    uids: dict[str, None] = dataclasses.field(default_factory=dict)  # ordered set of study UIDs
    errors: list[str] = dataclasses.field(default_factory=list)
    state: str = "requested"  # established, rejected, released, aborted
    spooled: int = 0  # C-STORE instances acknowledged but not archived yet
    closed: bool = False  # the connection closed; the audit entry waits for the spooled instances

    def add_uid(self, uid: str) -> None:
        """Remember a study UID the association touched (up to a cap)."""
        if len(self.uids) < _MAX_UIDS_AUDITED:
            self.uids[uid] = None


class ArchiveService:
    """The archive side of the DIMSE server: the archive, settings and per-association records.

    Parameters
    ----------
    archive : Archive
    settings : DimseSettings
    """

    def __init__(self, archive: Archive, settings: DimseSettings) -> None:
        self.archive = archive
        self.settings = settings
        self._records: dict[int, AssociationRecord] = {}
        self._lock = threading.Lock()
        self._closed: dict[int, AssociationRecord] = {}
        self.log_identifiers = bool(config.get("logging.log-identifiers"))
        #: The C-STORE spool (set by :class:`~pacslab.dimse.DicomServer` when ``dimse.spool`` is on).
        self.spool: Spool | None = None

    # -- bookkeeping -------------------------------------------------------------------
    def record(self, event: Any) -> AssociationRecord:
        """The record of the event's association (created on first use)."""
        key = id(event.assoc)
        with self._lock:
            rec = self._records.get(key)
            if rec is None:
                requestor = event.assoc.requestor
                rec = AssociationRecord(
                    calling_ae=str(requestor.ae_title or "").strip(),
                    address=f"{requestor.address}:{requestor.port}",
                    started=_dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds"),
                )
                self._records[key] = rec
            return rec

    def finish(self, event: Any) -> None:
        """Write the association's audit entry once its connection closed and its spooled instances are archived."""
        with self._lock:
            rec = self._records.pop(id(event.assoc), None)
            if rec is None:
                return
            if rec.state == "established":  # closed without release: the peer went away
                rec.state = "aborted"
            rec.closed = True
            if rec.spooled:
                self._closed[id(rec)] = rec
                return
        self._audit(rec)

    def spooled_done(self, rec: AssociationRecord | None, label: str, outcome: str, result: Any) -> None:
        """The spool archived (or rejected) an instance that *rec*'s association stored: count it."""
        if outcome == "rejected":
            logger.warning(
                "C-STORE from %s was answered Success, but archiving the instance failed: %s (quarantined as %s)",
                label, result.reason, result.quarantine_path,
            )  # fmt: skip
        elif outcome == "conflict":
            logger.warning(
                "C-STORE from %s: instance %s differs from the archived one with that UID; kept aside as a conflict",
                label, result.sop_instance_uid if self.log_identifiers else "(uid hidden)",
            )  # fmt: skip
        if rec is None:
            return
        with self._lock:
            rec.counts[outcome] += 1
            if outcome == "rejected":
                rec.errors.append(f"C-STORE acknowledged, then rejected: {result.reason}")
            rec.spooled -= 1
            ready = rec.closed and rec.spooled <= 0 and self._closed.pop(id(rec), None) is not None
        if ready:
            self._audit(rec)

    def audit_unfinished(self) -> None:
        """Write the audit entries still waiting for spooled instances (when the server stops)."""
        with self._lock:
            records = list(self._closed.values())
            self._closed.clear()
        for rec in records:
            self._audit(rec)

    def _audit(self, rec: AssociationRecord) -> None:
        outcome = {
            "released": "failure" if rec.errors and not rec.counts.get("ok") else "success",
            "rejected": "rejected",
            "aborted": "aborted",
        }.get(rec.state, rec.state)
        if rec.state == "released" and rec.errors and rec.counts.get("ok"):
            outcome = "partial"
        services = ",".join(sorted(rec.services)) or None
        detail = {
            "started": rec.started,
            "services": dict(rec.services),
            "counts": dict(rec.counts),
            "state": rec.state,
        }
        if rec.errors:
            detail["errors"] = rec.errors[:10]
        count = sum(rec.counts[k] for k in ("new", "duplicate", "conflict", "rejected", "matches", "sent"))
        try:
            self.archive.catalog.audit(
                "association",
                outcome=outcome,
                actor=rec.calling_ae or None,
                address=rec.address,
                service=services,
                uids=list(rec.uids),
                count=count,
                detail=json.dumps(detail),
            )
        except Exception:  # noqa: BLE001 - the catalog is closing; nothing else to do
            logger.exception("could not write the audit entry of an association from %s", rec.address)

    def instances(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        """Catalog rows of the instances matching *filters* (see :func:`archived_instances`)."""
        return archived_instances(self.archive, filters)

    def encoded(self, row: dict[str, Any]) -> EncodedInstance:
        """An archived instance ready to send byte for byte."""
        return encoded_instance(self.archive, row)

    def wait_for_spool(self) -> None:
        """Before answering a query: wait (``dimse.spool-query-wait`` at most) for what was spooled until now."""
        if self.spool is not None and self.spool.pending:
            if not self.spool.flush(self.settings.spool_query_wait):
                logger.warning("answering a query while %d received instances are still spooled", self.spool.pending)


def archived_instances(archive: Archive, filters: dict[str, Any]) -> list[dict[str, Any]]:
    """SOP class, transfer syntax and UIDs of every archived instance matching *filters*.

    Parameters
    ----------
    archive : Archive
    filters : dict
        Catalog filters at the instance level (``{"StudyInstanceUID": uid}``, lists allowed).

    Returns
    -------
    list of dict
        In study, series, instance-number order.
    """
    frame = archive.catalog.query(
        "instances", filters, fields=(), order_by="StudyInstanceUID, SeriesInstanceUID, InstanceNumber"
    )
    columns = ["SOPInstanceUID", "SOPClassUID", "TransferSyntaxUID", "StudyInstanceUID", "SeriesInstanceUID"]
    return [] if frame.empty else frame[columns].to_dict("records")


def encoded_instance(archive: Archive, row: dict[str, Any]) -> EncodedInstance:
    """An archived instance (a row of :func:`archived_instances`) ready to send byte for byte."""
    return EncodedInstance(
        archive.read_instance(row["SOPInstanceUID"]),
        sop_class_uid=row["SOPClassUID"],
        sop_instance_uid=row["SOPInstanceUID"],
        transfer_syntax=row["TransferSyntaxUID"],
    )


# -- association events --------------------------------------------------------------------
def on_established(event: Any, service: ArchiveService) -> None:
    """EVT_ESTABLISHED."""
    service.record(event).state = "established"


def on_rejected(event: Any, service: ArchiveService) -> None:
    """EVT_REJECTED: an allow-listed AE title did not match, or too many associations."""
    rec = service.record(event)
    rec.state = "rejected"
    logger.warning("association from %s (%s) rejected", rec.calling_ae, rec.address)


def on_released(event: Any, service: ArchiveService) -> None:
    """EVT_RELEASED."""
    service.record(event).state = "released"


def on_aborted(event: Any, service: ArchiveService) -> None:
    """EVT_ABORTED."""
    service.record(event).state = "aborted"


def on_closed(event: Any, service: ArchiveService) -> None:
    """EVT_CONN_CLOSE: write the audit entry."""
    service.finish(event)


def on_dimse_sent(event: Any, service: ArchiveService) -> None:
    """EVT_DIMSE_SENT: count the outcome of C-GET / C-MOVE sub-operations from the final response."""
    name = type(event.message).__name__
    if name not in ("C_GET_RSP", "C_MOVE_RSP"):
        return
    cs = event.message.command_set
    if int(getattr(cs, "Status", 0xFF00)) in (0xFF00, 0xFF01):
        return
    rec = service.record(event)
    rec.counts["sent"] += int(cs.get("NumberOfCompletedSuboperations", 0) or 0)
    failed = int(cs.get("NumberOfFailedSuboperations", 0) or 0)
    if failed:
        rec.counts["send-failed"] += failed
        rec.errors.append(f"{name[:6]}: {failed} sub-operations failed")


# -- services -------------------------------------------------------------------------------
def handle_echo(event: Any, service: ArchiveService) -> int:
    """C-ECHO: always Success."""
    rec = service.record(event)
    rec.services["C-ECHO"] += 1
    rec.counts["ok"] += 1
    return 0x0000


def received_part10(event: Any) -> bytes:
    """A received C-STORE dataset as a Part 10 file: preamble, file meta, then the dataset bytes as received."""
    return b"".join((b"\x00" * 128, b"DICM", encode_file_meta(event.file_meta), event.encoded_dataset(False)))


def _store_status(reason: str) -> int:
    if reason.startswith(("not a DICOM", "unreadable", "not recognised")):
        return 0xC000  # Error: cannot understand
    if reason.startswith("internal error"):
        return 0xA700  # Refused: out of resources
    return 0xA900  # Error: data set does not match SOP class


def handle_store(event: Any, service: ArchiveService) -> int | Dataset:
    """C-STORE: archive the dataset as received (a Part 10 file with pynetdicom's file meta).

    With the spool (``dimse.spool``), Success means: the four required UIDs are valid and the
    received bytes are in ``ROOT/spool``; the spool's ingester archives them a moment later. An
    instance failing the UID check goes through the synchronous pipeline, which quarantines it
    and gives the failure status with its reason.
    """
    rec = service.record(event)
    rec.services["C-STORE"] += 1
    source = f"dimse:{rec.calling_ae}@{rec.address}"
    try:
        spool = service.spool
        if spool is not None:
            dataset = event.encoded_dataset(False)
            data = b"".join((b"\x00" * 128, b"DICM", encode_file_meta(event.file_meta), dataset))
            ts = event.context.transfer_syntax
            uids, reason = check_uids(data) if ts.is_deflated else check_uids(dataset, ts)
            if reason is None:
                return _spool_store(service, rec, spool, data, source, uids)
        else:
            data = received_part10(event)
        outcome, result = ingest_bytes(service.archive, data, source=source)
    except Exception as exc:  # noqa: BLE001 - the protocol edge: report, never raise into pynetdicom
        logger.exception("C-STORE from %s failed", rec.calling_ae)
        rec.errors.append(f"C-STORE: {type(exc).__name__}: {exc}")
        return failure(0xA700, f"archive error: {type(exc).__name__}: {exc}")
    rec.counts[outcome] += 1
    if isinstance(result, Rejection):
        rec.errors.append(f"C-STORE rejected: {result.reason}")
        return failure(_store_status(result.reason), result.reason)
    rec.counts["ok"] += 1
    rec.add_uid(result.study_instance_uid)
    if outcome == "conflict":
        logger.warning(
            "C-STORE from %s: instance %s differs from the archived one with that UID; kept aside as a conflict",
            rec.calling_ae,
            result.sop_instance_uid if service.log_identifiers else "(uid hidden)",
        )
    return 0x0000


def _spool_store(
    service: ArchiveService, rec: AssociationRecord, spool: Spool, data: bytes, source: str, uids: dict[str, str]
) -> int | Dataset:
    with service._lock:
        rec.spooled += 1  # before the file is visible to the ingester, which counts it down
    try:
        spool.put(data, label=source, token=rec, series_instance_uid=uids["SeriesInstanceUID"])
    except Exception as exc:  # noqa: BLE001 - disk full, permissions: refuse, the sender keeps the instance
        with service._lock:
            rec.spooled -= 1
        logger.exception("C-STORE from %s: cannot write the spool", rec.calling_ae)
        rec.errors.append(f"C-STORE: cannot spool: {type(exc).__name__}: {exc}")
        return failure(0xA700, f"out of resources: cannot spool ({type(exc).__name__}: {exc})")
    rec.counts["ok"] += 1
    rec.counts["spooled"] += 1
    rec.add_uid(uids["StudyInstanceUID"])
    return 0x0000


def _model(event: Any) -> str:
    return "patient" if event.request.AffectedSOPClassUID in _PATIENT_ROOT else "study"


def handle_find(event: Any, service: ArchiveService) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    """C-FIND: match the identifier against the catalog, one pending response per match."""
    rec = service.record(event)
    rec.services["C-FIND"] += 1
    try:
        service.wait_for_spool()
        query = build_query(event.identifier, _model(event))
        for response in find_responses(service.archive.catalog, query, ae_title=service.settings.ae_title):
            if event.is_cancelled:
                yield 0xFE00, None
                return
            rec.counts["matches"] += 1
            yield 0xFF00, response
    except QueryError as exc:
        rec.errors.append(f"C-FIND: {exc}")
        yield failure(exc.status, str(exc)), None
        return
    except Exception as exc:  # noqa: BLE001 - the protocol edge
        logger.exception("C-FIND from %s failed", rec.calling_ae)
        rec.errors.append(f"C-FIND: {type(exc).__name__}: {exc}")
        yield failure(0xC000, f"archive error: {type(exc).__name__}: {exc}"), None
        return
    rec.counts["ok"] += 1


def _matches(event: Any, service: ArchiveService, rec: AssociationRecord, name: str) -> list[dict[str, Any]]:
    level, filters = retrieve_filters(event.identifier, _model(event))
    service.wait_for_spool()
    rows = service.instances(filters)
    for row in rows:
        rec.add_uid(row["StudyInstanceUID"])
    logger.info("%s from %s: %s level, %d instances", name, rec.calling_ae, level, len(rows))
    return rows


def _sub_operations(
    event: Any, service: ArchiveService, rows: list[dict[str, Any]]
) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    for row in rows:
        if event.is_cancelled:
            yield 0xFE00, None
            return
        try:
            instance = service.encoded(row)
        except Exception as exc:  # noqa: BLE001 - a missing original fails this sub-operation only
            logger.exception("cannot read the original of an instance")
            yield failure(0xA702, f"cannot read an archived instance: {exc}"), None
            return
        yield 0xFF00, instance


def handle_get(event: Any, service: ArchiveService) -> Iterator[Any]:
    """C-GET: send the matching instances over the same association, byte for byte as archived."""
    rec = service.record(event)
    rec.services["C-GET"] += 1
    try:
        rows = _matches(event, service, rec, "C-GET")
    except Exception as exc:  # noqa: BLE001 - the protocol edge
        if not isinstance(exc, QueryError):
            logger.exception("C-GET from %s failed", rec.calling_ae)
        rec.errors.append(f"C-GET: {exc}")
        yield 1
        yield failure(getattr(exc, "status", 0xC000), str(exc)), None
        return
    yield len(rows)
    rec.counts["ok"] += 1
    yield from _sub_operations(event, service, rows)


def handle_move(event: Any, service: ArchiveService) -> Iterator[Any]:
    """C-MOVE: open an association to the destination (a configured remote) and send the matches."""
    rec = service.record(event)
    rec.services["C-MOVE"] += 1
    destination = service.settings.remote_by_ae_title(str(event.move_destination or "").strip())
    if destination is None:
        rec.errors.append(f"C-MOVE: unknown destination {event.move_destination!r}")
        logger.warning("C-MOVE from %s to unknown destination %r", rec.calling_ae, event.move_destination)
        yield None, None
        return
    try:
        rows = _matches(event, service, rec, "C-MOVE")
        error = None
    except Exception as exc:  # noqa: BLE001 - the protocol edge
        if not isinstance(exc, QueryError):
            logger.exception("C-MOVE from %s failed", rec.calling_ae)
        rows, error = [], exc
    pairs = sorted({(r["SOPClassUID"], r["TransferSyntaxUID"]) for r in rows})
    contexts = [build_context(sop, [ts]) for sop, ts in pairs[:128]] or [build_context("1.2.840.10008.1.1")]
    kwargs: dict[str, Any] = {"contexts": contexts, "evt_handlers": [(evt.EVT_CONN_OPEN, set_nodelay)]}
    if destination.tls:
        tls = service.settings.tls
        if tls is None:
            rec.errors.append("C-MOVE: the destination needs TLS but dimse.tls is not configured")
            yield None, None
            return
        kwargs["tls_args"] = (tls.client_context(), destination.host if tls.check_hostname else None)
    yield destination.host, destination.port, kwargs
    if error is not None:
        rec.errors.append(f"C-MOVE: {error}")
        yield 1
        yield failure(getattr(error, "status", 0xC000), str(error)), None
        return
    yield len(rows)
    rec.counts["ok"] += 1
    yield from _sub_operations(event, service, rows)


def handler_list(service: ArchiveService) -> list[tuple[Any, Any, list[Any]]]:
    """The ``evt_handlers`` list that makes an AE serve *service*'s archive."""
    bound = [
        (evt.EVT_C_ECHO, handle_echo),
        (evt.EVT_C_STORE, handle_store),
        (evt.EVT_C_FIND, handle_find),
        (evt.EVT_C_GET, handle_get),
        (evt.EVT_C_MOVE, handle_move),
        (evt.EVT_ESTABLISHED, on_established),
        (evt.EVT_REJECTED, on_rejected),
        (evt.EVT_RELEASED, on_released),
        (evt.EVT_ABORTED, on_aborted),
        (evt.EVT_CONN_CLOSE, on_closed),
        (evt.EVT_DIMSE_SENT, on_dimse_sent),
    ]
    out: list[tuple[Any, Any, list[Any]]] = [(event, fn, [service]) for event, fn in bound]
    out.append((evt.EVT_CONN_OPEN, set_nodelay, []))  # type: ignore[list-item]
    return out

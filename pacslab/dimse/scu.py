"""DIMSE clients: echo, send, find, get and move against a remote AE (a hospital PACS, Orthanc, …).

Every function takes the remote as a :class:`RemoteAE`, the name of a configured remote,
``"AET@host:port"`` or ``(ae_title, host, port)``. Instances leave and arrive byte for
byte: archived instances are sent as stored, and received ones are archived as received.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.presentation import build_context, build_role
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from pacslab.dimse import _raw
from pacslab.dimse._query import UNIQUE_KEYS, identifier_from_filters
from pacslab.dimse._settings import DimseSettings, RemoteAE, check_ae_title, resolve_remote
from pacslab.dimse.handlers import archived_instances, encoded_instance, received_part10
from pacslab.errors import RemoteError

if TYPE_CHECKING:
    import ssl

    import pandas as pd
    from pynetdicom.association import Association

    from pacslab.archive import Archive

__all__ = ["TransferReport", "echo", "find", "get", "move", "send"]

RemoteLike = RemoteAE | str | tuple[str, str, int]

_MODELS = {
    "patient": (
        PatientRootQueryRetrieveInformationModelFind,
        PatientRootQueryRetrieveInformationModelGet,
        PatientRootQueryRetrieveInformationModelMove,
    ),
    "study": (
        StudyRootQueryRetrieveInformationModelFind,
        StudyRootQueryRetrieveInformationModelGet,
        StudyRootQueryRetrieveInformationModelMove,
    ),
}
_DEFAULT_RETURN_KEYS = {
    "PATIENT": ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "NumberOfPatientRelatedStudies"),
    "STUDY": ("StudyInstanceUID", "PatientName", "PatientID", "StudyDate", "StudyTime", "AccessionNumber",
              "StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"),
    "SERIES": ("StudyInstanceUID", "SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription",
               "NumberOfSeriesRelatedInstances"),
    "IMAGE": ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID", "InstanceNumber"),
}  # fmt: skip
#: Storage SOP classes proposed for C-GET when the remote cannot say which ones a study holds.
_COMMON_STORAGE = (
    "1.2.840.10008.5.1.4.1.1.2",  # CT
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT
    "1.2.840.10008.5.1.4.1.1.4",  # MR
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR
    "1.2.840.10008.5.1.4.1.1.1",  # CR
    "1.2.840.10008.5.1.4.1.1.1.1",  # DX presentation
    "1.2.840.10008.5.1.4.1.1.1.1.1",  # DX processing
    "1.2.840.10008.5.1.4.1.1.1.2",  # MG
    "1.2.840.10008.5.1.4.1.1.6.1",  # US
    "1.2.840.10008.5.1.4.1.1.3.1",  # US multi-frame
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary capture
    "1.2.840.10008.5.1.4.1.1.12.1",  # XA
    "1.2.840.10008.5.1.4.1.1.20",  # NM
    "1.2.840.10008.5.1.4.1.1.128",  # PET
    "1.2.840.10008.5.1.4.1.1.481.2",  # RT dose
    "1.2.840.10008.5.1.4.1.1.481.3",  # RT structure set
    "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic text SR
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.59",  # Key object selection
    "1.2.840.10008.5.1.4.1.1.11.1",  # Grayscale softcopy presentation state
)
_COMMON_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.90")
_MAX_CONTEXTS = 128


@dataclasses.dataclass
class TransferReport:
    """What a send, get or move did.

    Attributes
    ----------
    remote : str
        The peer, as ``AET@host:port``.
    completed, failed, warning : int
        Instances (or C-STORE sub-operations) that succeeded, failed, or succeeded with a warning.
    status : int or None
        The final DIMSE status of a C-GET / C-MOVE (0 is success).
    sop_instance_uids : list of str
        Instances sent (send) or received (get).
    failures : list of (str, str)
        SOP Instance UID and reason of each failure known by UID.
    outcomes : Counter
        How received instances were archived: new, duplicate, conflict, rejected (get into an archive).
    received : dict
        SOP Instance UID → Part 10 bytes, for a get with neither an archive nor a directory.
    seconds : float
        Wall time.
    """

    remote: str
    completed: int = 0
    failed: int = 0
    warning: int = 0
    status: int | None = None
    sop_instance_uids: list[str] = dataclasses.field(default_factory=list)
    failures: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    outcomes: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    received: dict[str, bytes] = dataclasses.field(default_factory=dict, repr=False)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """No failure, and a success (or warning-free) final status when there is one."""
        return self.failed == 0 and self.status in (None, 0x0000)

    def summary(self) -> str:
        """One line for people."""
        status = f", final status 0x{self.status:04X}" if self.status is not None else ""
        return (
            f"{self.remote}: {self.completed} completed, {self.failed} failed, {self.warning} warnings"
            f"{status} in {self.seconds:.2f} s"
        )


# -- associations ----------------------------------------------------------------------------
def _settings(archive: Archive | None) -> DimseSettings:
    return DimseSettings.resolve(archive.settings if archive is not None else None)


def _associate(
    remote: RemoteAE,
    contexts: list[Any],
    settings: DimseSettings,
    *,
    calling_ae_title: str | None,
    handlers: list[Any] | None = None,
    roles: list[Any] | None = None,
) -> Association:
    ae = AE(ae_title=check_ae_title(calling_ae_title or settings.ae_title, what="calling AE title"))
    ae.acse_timeout, ae.dimse_timeout, ae.network_timeout = (
        settings.acse_timeout,
        settings.dimse_timeout,
        settings.network_timeout,
    )
    ae.maximum_pdu_size = settings.max_pdu
    ae.requested_contexts = contexts
    tls_args = None
    if remote.tls:
        if settings.tls is None:
            raise ValueError(f"The remote {remote} needs TLS, but dimse.tls is not enabled and configured.")
        hostname = remote.host if settings.tls.check_hostname else None
        tls_args = cast("tuple[ssl.SSLContext, str]", (settings.tls.client_context(), hostname))
    _raw.install()
    assoc = ae.associate(
        remote.host,
        remote.port,
        ae_title=remote.ae_title,
        ext_neg=roles or None,
        evt_handlers=[(evt.EVT_CONN_OPEN, _raw.set_nodelay), *(handlers or [])],
        tls_args=tls_args,
    )
    if not assoc.is_established:
        if assoc.is_rejected:
            why = "rejected the association (is our AE title on its list of known AEs?)"
        elif assoc.is_aborted:
            why = "aborted the association"
        else:
            why = "could not be reached"
        raise RemoteError(f"The remote AE {remote} {why}.")
    _raw.keep_responses(assoc)
    return assoc


def _audit(archive: Archive | None, action: str, remote: RemoteAE, report: TransferReport, uids: list[str]) -> None:
    if archive is None:
        return
    archive.catalog.audit(
        action,
        outcome="success" if report.ok else ("partial" if report.completed else "failure"),
        actor=None,
        address=str(remote),
        service="dimse-scu",
        uids=uids[:50],
        count=report.completed,
        detail=report.summary(),
    )


# -- echo -----------------------------------------------------------------------------------------
def echo(
    remote: RemoteLike,
    *,
    calling_ae_title: str | None = None,
    archive: Archive | None = None,
) -> float:
    """Verify that a remote AE answers (C-ECHO).

    Parameters
    ----------
    remote : RemoteAE, str or tuple
        The peer (see the module docstring).
    calling_ae_title : str, optional
        Our AE title (``dimse.ae-title``).
    archive : Archive, optional
        Whose configuration names the remotes.

    Returns
    -------
    float
        Round-trip seconds of the association and the C-ECHO.

    Raises
    ------
    RemoteError
        The association failed or the status was not Success.

    Examples
    --------
    >>> echo("ORTHANC@127.0.0.1:4242")  # doctest: +SKIP
    0.004
    """
    settings = _settings(archive)
    peer = resolve_remote(remote, settings)
    start = time.perf_counter()
    assoc = _associate(peer, [build_context(Verification)], settings, calling_ae_title=calling_ae_title)
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    if "Status" not in status or status.Status != 0:
        raise RemoteError(f"The remote AE {peer} answered C-ECHO with status {status.get('Status')!r}.")
    return time.perf_counter() - start


# -- send -------------------------------------------------------------------------------------
def _iter_paths(items: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    for item in items:
        path = Path(item)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path
        else:
            raise FileNotFoundError(f"There is no file or folder {os.fspath(path)!r} to send.")


def _outgoing(instances: Any) -> list[tuple[str, str, str, Any]]:
    """(SOP class, transfer syntax, SOP instance, loader) for each instance to send."""
    if instances is None:
        return []
    if isinstance(instances, (str, os.PathLike, bytes, Dataset)):
        instances = [instances]
    out: list[tuple[str, str, str, Any]] = []
    paths: list[str | os.PathLike[str]] = []
    for item in instances:
        if isinstance(item, bytes):
            inst = _raw.EncodedInstance(item)
            out.append((inst.SOPClassUID, inst.transfer_syntax, inst.SOPInstanceUID, lambda inst=inst: inst))
        elif isinstance(item, Dataset):
            ts = getattr(getattr(item, "file_meta", None), "TransferSyntaxUID", None)
            if ts is None:
                implicit = item.original_encoding[0]
                ts = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
                item.file_meta = pydicom.dataset.FileMetaDataset()
                item.file_meta.TransferSyntaxUID = ts
            out.append((item.SOPClassUID, ts, item.SOPInstanceUID, lambda ds=item: ds))
        else:
            paths.append(item)
    for path in _iter_paths(paths):
        data = path.read_bytes()
        inst = _raw.EncodedInstance(data)
        out.append((inst.SOPClassUID, inst.transfer_syntax, inst.SOPInstanceUID,
                    lambda p=path: _raw.EncodedInstance(p.read_bytes())))  # fmt: skip
    return out


def send(
    remote: RemoteLike,
    instances: Any = None,
    *,
    archive: Archive | None = None,
    study_instance_uid: str | list[str] | None = None,
    series_instance_uid: str | list[str] | None = None,
    sop_instance_uid: str | list[str] | None = None,
    calling_ae_title: str | None = None,
) -> TransferReport:
    """Send instances to a remote AE (C-STORE), byte for byte.

    Parameters
    ----------
    remote : RemoteAE, str or tuple
        The peer.
    instances : path, bytes, Dataset, or an iterable of them, optional
        Files, folders (recursively), Part 10 bytes or pydicom datasets.
    archive : Archive, optional
        Send archived instances: those of the study, series or instance UIDs given.
    study_instance_uid, series_instance_uid, sop_instance_uid : str or list of str, optional
        Which archived instances to send.
    calling_ae_title : str, optional
        Our AE title.

    Returns
    -------
    TransferReport

    Raises
    ------
    RemoteError
        The association failed.

    Examples
    --------
    >>> send("PACS", archive=archive, study_instance_uid=uid)  # doctest: +SKIP
    """
    settings = _settings(archive)
    peer = resolve_remote(remote, settings)
    start = time.perf_counter()
    todo = _outgoing(instances)
    filters = {
        k: v
        for k, v in (
            ("StudyInstanceUID", study_instance_uid),
            ("SeriesInstanceUID", series_instance_uid),
            ("SOPInstanceUID", sop_instance_uid),
        )
        if v is not None
    }
    if filters:
        if archive is None:
            raise ValueError("Sending by UID needs the archive they are in: send(remote, archive=…, …_uid=…).")
        for row in archived_instances(archive, filters):
            todo.append((row["SOPClassUID"], row["TransferSyntaxUID"], row["SOPInstanceUID"],
                         lambda row=row: encoded_instance(archive, row)))  # fmt: skip
    report = TransferReport(str(peer))
    by_pair: dict[tuple[str, str], list[tuple[str, Any]]] = collections.defaultdict(list)
    for sop_class, ts, sop, loader in todo:
        by_pair[(str(sop_class), str(ts))].append((str(sop), loader))
    for group in _raw.storage_contexts_for(by_pair):
        if not group:
            continue
        contexts = [build_context(sop_class, syntaxes) for sop_class, syntaxes in group]
        exact = {(sop_class, syntaxes[0]) for sop_class, syntaxes in group if len(syntaxes) == 1}
        assoc = _associate(peer, contexts, settings, calling_ae_title=calling_ae_title)
        try:
            for pair in sorted(exact):
                for sop, loader in by_pair.get(pair, ()):
                    _send_one(assoc, loader, sop, report)
        finally:
            if assoc.is_established:
                assoc.release()
    report.seconds = time.perf_counter() - start
    _audit(archive, "send", peer, report, list(dict.fromkeys(filters.get("StudyInstanceUID", []) or [])))
    return report


def _send_one(assoc: Association, loader: Any, sop: str, report: TransferReport) -> None:
    if not assoc.is_established:
        report.failed += 1
        report.failures.append((sop, "the association was lost"))
        return
    try:
        status = assoc.send_c_store(loader())
    except (ValueError, AttributeError) as exc:
        report.failed += 1
        report.failures.append((sop, str(exc)))
        return
    except RuntimeError as exc:  # pynetdicom: the association dropped between the check above and the send
        report.failed += 1
        report.failures.append((sop, f"the association was lost ({exc})"))
        return
    code = int(status.get("Status", 0xC000)) if status else None
    if code == 0x0000:
        report.completed += 1
        report.sop_instance_uids.append(sop)
    elif code is not None and (code & 0xF000) == 0xB000:
        report.warning += 1
        report.completed += 1
        report.sop_instance_uids.append(sop)
    else:
        report.failed += 1
        comment = status.get("ErrorComment", "") if status else "no response"
        report.failures.append((sop, f"status 0x{code or 0:04X} {comment}".strip()))


# -- find -------------------------------------------------------------------------------------
def _value(elem: Any) -> Any:
    value = elem.value
    if elem.VR == "SQ":
        return [item.to_json_dict() for item in value]
    if isinstance(value, pydicom.multival.MultiValue):
        return [str(v) for v in value]
    if value is None or value == "":
        return None
    if elem.VR in ("IS",):
        return int(value)
    if elem.VR in ("DS",):
        return float(value)
    return value if isinstance(value, int | float) else str(value)


def find(
    remote: RemoteLike,
    level: str = "STUDY",
    *,
    model: str = "study",
    fields: Iterable[str] = (),
    identifier: Dataset | None = None,
    limit: int | None = None,
    calling_ae_title: str | None = None,
    archive: Archive | None = None,
    **filters: Any,
) -> pd.DataFrame:
    """Search a remote AE (C-FIND) with DICOM matching.

    Parameters
    ----------
    remote : RemoteAE, str or tuple
        The peer.
    level : {"PATIENT", "STUDY", "SERIES", "IMAGE"}
        Query/Retrieve level.
    model : {"study", "patient"}
        Study Root or Patient Root information model.
    fields : iterable of str
        Return keys beyond the level's usual ones.
    identifier : Dataset, optional
        A complete identifier instead of *filters* and *fields* (e.g. with sequence keys).
    limit : int, optional
        Cancel after this many matches (C-CANCEL).
    calling_ae_title : str, optional
    archive : Archive, optional
        Whose configuration names the remotes.
    **filters
        DICOM keyword = value: ``PatientName="DOE*"``, ``StudyDate="20240101-"``,
        ``StudyInstanceUID=[uid1, uid2]``.

    Returns
    -------
    pandas.DataFrame
        One row per match, one column per returned keyword.

    Examples
    --------
    >>> find("ORTHANC@127.0.0.1:4242", "SERIES", StudyInstanceUID=uid, Modality="CT")  # doctest: +SKIP
    """
    settings = _settings(archive)
    peer = resolve_remote(remote, settings)
    level = level.upper()
    sop_class = _MODELS[_check_model(model)][0]
    if identifier is None:
        keys = tuple(dict.fromkeys((*_DEFAULT_RETURN_KEYS.get(level, ()), *fields)))
        if model == "patient" and level == "STUDY":
            keys = ("PatientID", *keys)
        identifier = identifier_from_filters(level, filters, keys)
    assoc = _associate(peer, [build_context(sop_class)], settings, calling_ae_title=calling_ae_title)
    rows: list[dict[str, Any]] = []
    final = None
    try:
        responses = assoc.send_c_find(identifier, sop_class)
        for status, ds in responses:
            code = int(status.get("Status", 0xC000)) if status else None
            if code in (0xFF00, 0xFF01) and ds is not None:
                rows.append({e.keyword or f"{int(e.tag):08X}": _value(e) for e in ds
                             if e.keyword != "QueryRetrieveLevel"})  # fmt: skip
                if limit is not None and len(rows) >= limit:
                    assoc.send_c_cancel(1, query_model=sop_class)
                    for _ in responses:
                        pass
                    break
            else:
                final = status
    finally:
        if assoc.is_established:
            assoc.release()
    if final is not None and int(final.get("Status", 0)) not in (0x0000, 0xFE00):
        raise RemoteError(
            f"The remote AE {peer} answered C-FIND with status 0x{int(final.Status):04X}"
            f"{': ' + str(final.ErrorComment) if 'ErrorComment' in final else ''}."
        )
    if final is None and not rows and not assoc.is_released:
        raise RemoteError(f"The remote AE {peer} did not answer the C-FIND.")
    import pandas as pd

    return pd.DataFrame(rows)


def _check_model(model: str) -> str:
    if model not in _MODELS:
        raise ValueError(f"Unknown query/retrieve model {model!r}; use 'study' or 'patient'.")
    return model


# -- get / move ----------------------------------------------------------------------------------
def _retrieve_identifier(
    level: str | None, model: str, patient_id: str | None, uids: dict[str, Any]
) -> tuple[str, Dataset]:
    given = {k: v for k, v in uids.items() if v is not None}
    if patient_id is not None:
        given["PatientID"] = patient_id
    if level is None:
        level = next(
            (lvl for lvl in ("IMAGE", "SERIES", "STUDY", "PATIENT") if UNIQUE_KEYS[lvl] in given),
            None,
        )
    if level is None:
        raise ValueError("Say what to retrieve: give study_instance_uid, series_instance_uid or sop_instance_uid.")
    level = level.upper()
    if UNIQUE_KEYS[level] not in given:
        raise ValueError(f"A {level}-level retrieve needs {UNIQUE_KEYS[level]}.")
    if model == "patient" and level != "PATIENT" and "PatientID" not in given:
        raise ValueError("The Patient Root model needs patient_id for every level.")
    return level, identifier_from_filters(level, given)


def _pairs_for_get(
    peer: RemoteAE, settings: DimseSettings, identifier: Dataset, model: str, calling_ae_title: str | None
) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """(study, series) → the (SOP class, transfer syntax) pairs a retrieve brings, from an IMAGE-level C-FIND."""
    query = Dataset()
    for elem in identifier:
        if elem.keyword != "QueryRetrieveLevel":
            query.add(elem)
    query.QueryRetrieveLevel = "IMAGE"
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID",
                    "AvailableTransferSyntaxUID"):  # fmt: skip
        if keyword not in query:
            setattr(query, keyword, None)
    frame = find(peer, "IMAGE", model=model, identifier=query, calling_ae_title=calling_ae_title)
    out: dict[tuple[str, str], set[tuple[str, str]]] = collections.defaultdict(set)
    for row in frame.to_dict("records"):
        sop_class = row.get("SOPClassUID")
        if not sop_class:
            continue
        syntaxes = row.get("AvailableTransferSyntaxUID")
        if isinstance(syntaxes, str):
            syntaxes = [syntaxes]
        key = (str(row.get("StudyInstanceUID") or ""), str(row.get("SeriesInstanceUID") or ""))
        for ts in syntaxes or _COMMON_SYNTAXES[:2]:
            out[key].add((str(sop_class), str(ts)))
    return out


def _get_batches(
    identifier: Dataset, by_series: dict[tuple[str, str], set[tuple[str, str]]]
) -> list[tuple[Dataset, set[tuple[str, str]]]]:
    """One C-GET when the presentation contexts fit one association, else SERIES-level C-GETs in batches."""
    every = set().union(*by_series.values()) if by_series else set()
    if len(every) < _MAX_CONTEXTS or any(not study or not series for study, series in by_series):
        return [(identifier, every)]
    batches: list[tuple[list[tuple[str, str]], set[tuple[str, str]]]] = []
    for key, pairs in sorted(by_series.items()):
        for keys, union in batches:
            if len(union | pairs) < _MAX_CONTEXTS:
                keys.append(key)
                union |= pairs
                break
        else:
            batches.append(([key], set(pairs)))
    out = []
    for keys, union in batches:
        studies = sorted({k[0] for k in keys})
        filters = {"StudyInstanceUID": studies, "SeriesInstanceUID": [k[1] for k in keys]}
        if "PatientID" in identifier:
            filters["PatientID"] = identifier.PatientID
        out.append((identifier_from_filters("SERIES", filters), union))
    return out


def get(
    remote: RemoteLike,
    *,
    archive: Archive | None = None,
    directory: str | os.PathLike[str] | None = None,
    study_instance_uid: str | list[str] | None = None,
    series_instance_uid: str | list[str] | None = None,
    sop_instance_uid: str | list[str] | None = None,
    patient_id: str | None = None,
    level: str | None = None,
    model: str = "study",
    sop_classes: Iterable[str] | None = None,
    calling_ae_title: str | None = None,
) -> TransferReport:
    """Retrieve instances from a remote AE over one association (C-GET), byte for byte.

    The remote sends the instances back over the association we open, so no
    configuration on its side is needed (unlike C-MOVE). Which storage SOP classes and
    transfer syntaxes to propose is first asked with an IMAGE-level C-FIND
    (*SOP Class UID*, *Available Transfer Syntax UID*), unless *sop_classes* is given.

    Parameters
    ----------
    remote : RemoteAE, str or tuple
        The peer.
    archive : Archive, optional
        Ingest what arrives into this archive (as folder ingest does).
    directory : path, optional
        Or write each instance to ``<directory>/<SOPInstanceUID>.dcm``. With neither, the
        instances are kept in memory in ``report.received``.
    study_instance_uid, series_instance_uid, sop_instance_uid, patient_id : optional
        What to retrieve; the most specific one sets the level.
    level : {"PATIENT", "STUDY", "SERIES", "IMAGE"}, optional
    model : {"study", "patient"}
    sop_classes : iterable of str, optional
        Storage SOP classes to accept (skips the C-FIND).
    calling_ae_title : str, optional

    Returns
    -------
    TransferReport

    Examples
    --------
    >>> get("PACS", archive=archive, study_instance_uid=uid).completed  # doctest: +SKIP
    120
    """
    settings = _settings(archive)
    peer = resolve_remote(remote, settings)
    model = _check_model(model)
    start = time.perf_counter()
    _, identifier = _retrieve_identifier(
        level,
        model,
        patient_id,
        {"StudyInstanceUID": study_instance_uid, "SeriesInstanceUID": series_instance_uid,
         "SOPInstanceUID": sop_instance_uid},
    )  # fmt: skip
    if sop_classes is not None:
        batches = [(identifier, {(str(c), str(ts)) for c in sop_classes for ts in _COMMON_SYNTAXES})]
    else:
        try:
            batches = _get_batches(identifier, _pairs_for_get(peer, settings, identifier, model, calling_ae_title))
        except RemoteError:
            batches = [(identifier, set())]
        batches = [(ident, pairs or {(c, ts) for c in _COMMON_STORAGE for ts in _COMMON_SYNTAXES})
                   for ident, pairs in batches]  # fmt: skip
    get_class = _MODELS[model][1]
    report = TransferReport(str(peer))
    out_dir = Path(directory) if directory is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)

    def on_store(event: Any) -> int | Dataset:
        data = received_part10(event)
        sop = str(event.request.AffectedSOPInstanceUID)
        if archive is not None:
            from pacslab.ingest.pipeline import ingest_bytes

            outcome, result = ingest_bytes(archive, data, source=f"dimse-get:{peer}")
            report.outcomes[outcome] += 1
            if outcome == "rejected":
                from pacslab.dimse.handlers import failure

                return failure(0xA900, result.reason)  # type: ignore[union-attr]
        elif out_dir is not None:
            (out_dir / f"{sop}.dcm").write_bytes(data)
        else:
            report.received[sop] = data
        report.sop_instance_uids.append(sop)
        return 0x0000

    for ident, pairs in batches:
        contexts = [build_context(get_class)]
        contexts += [build_context(sop_class, [ts]) for sop_class, ts in sorted(pairs)[: _MAX_CONTEXTS - 1]]
        roles = [build_role(sop_class, scp_role=True) for sop_class in sorted({p[0] for p in pairs})]
        assoc = _associate(peer, contexts, settings, calling_ae_title=calling_ae_title, roles=roles,
                           handlers=[(evt.EVT_C_STORE, on_store)])  # fmt: skip
        part = TransferReport(report.remote)
        try:
            _collect(assoc.send_c_get(ident, get_class), part)
        finally:
            if assoc.is_established:
                assoc.release()
        report.completed += part.completed
        report.failed += part.failed
        report.warning += part.warning
        report.failures += part.failures
        report.status = part.status if report.status in (None, 0x0000) else report.status
    report.seconds = time.perf_counter() - start
    _audit(archive, "get", peer, report, _uids(study_instance_uid))
    return report


def _uids(value: str | list[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def _collect(responses: Iterable[tuple[Dataset, Dataset | None]], report: TransferReport) -> None:
    """Read C-GET / C-MOVE responses into *report*; the last one carries the totals."""
    last = None
    for status, identifier in responses:
        if not status:
            report.status = None
            report.failures.append(("", "the remote did not answer (timeout or abort)"))
            report.failed = max(report.failed, 1)
            return
        last = status
        if identifier is not None and "FailedSOPInstanceUIDList" in identifier:
            failed = identifier.FailedSOPInstanceUIDList
            for uid in [failed] if isinstance(failed, str) else failed:
                if uid:
                    report.failures.append((str(uid), "failed sub-operation"))
    if last is None:
        return
    report.status = int(last.Status)
    report.completed = int(last.get("NumberOfCompletedSuboperations", 0) or 0)
    report.failed = int(last.get("NumberOfFailedSuboperations", 0) or 0)
    report.warning = int(last.get("NumberOfWarningSuboperations", 0) or 0)
    if report.status not in (0x0000, 0xFF00) and "ErrorComment" in last:
        report.failures.append(("", str(last.ErrorComment)))


def move(
    remote: RemoteLike,
    destination: str | None = None,
    *,
    study_instance_uid: str | list[str] | None = None,
    series_instance_uid: str | list[str] | None = None,
    sop_instance_uid: str | list[str] | None = None,
    patient_id: str | None = None,
    level: str | None = None,
    model: str = "study",
    calling_ae_title: str | None = None,
    archive: Archive | None = None,
) -> TransferReport:
    """Ask a remote AE to send instances to a destination AE (C-MOVE).

    The remote opens its own association to *destination*, which it must know by AE
    title. To pull a study into this archive, run a :class:`~pacslab.dimse.DicomServer`
    and move to its AE title (the default).

    Parameters
    ----------
    remote : RemoteAE, str or tuple
        The peer that holds the instances.
    destination : str, optional
        The AE title to send to (``dimse.ae-title``, i.e. this archive, by default).
    study_instance_uid, series_instance_uid, sop_instance_uid, patient_id : optional
        What to move.
    level : {"PATIENT", "STUDY", "SERIES", "IMAGE"}, optional
    model : {"study", "patient"}
    calling_ae_title : str, optional
    archive : Archive, optional
        Whose configuration names the remotes (and where the move is audited).

    Returns
    -------
    TransferReport
        Sub-operation counts as the remote reports them.

    Examples
    --------
    >>> with DicomServer(archive) as server:  # doctest: +SKIP
    ...     move("PACS", server.ae_title, study_instance_uid=uid)
    """
    settings = _settings(archive)
    peer = resolve_remote(remote, settings)
    model = _check_model(model)
    destination = check_ae_title(destination or settings.ae_title, what="move destination")
    start = time.perf_counter()
    _, identifier = _retrieve_identifier(
        level,
        model,
        patient_id,
        {"StudyInstanceUID": study_instance_uid, "SeriesInstanceUID": series_instance_uid,
         "SOPInstanceUID": sop_instance_uid},
    )  # fmt: skip
    move_class = _MODELS[model][2]
    assoc = _associate(peer, [build_context(move_class)], settings, calling_ae_title=calling_ae_title)
    report = TransferReport(str(peer))
    try:
        _collect(assoc.send_c_move(identifier, destination, move_class), report)
    finally:
        if assoc.is_established:
            assoc.release()
    report.seconds = time.perf_counter() - start
    _audit(archive, "move", peer, report, _uids(study_instance_uid))
    return report


def read_part10_dataset(data: bytes) -> bytes:
    """The dataset bytes of a DICOM file (after the file meta): what DIMSE carries."""
    _, offset, _ = _raw.split_part10(data)
    return data[offset:]

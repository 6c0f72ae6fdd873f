"""De-identified export from an archive, project secrets, and the private re-identification map."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import io
import json
import os
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pydicom

from pacslab.anonymize.engine import Deidentifier, burned_in_reason
from pacslab.anonymize.profiles import OptionValues
from pacslab.errors import AccessDeniedError

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = ["DeidentifyReport", "deidentify", "project_secret", "reidentify"]

#: Roles that may read the re-identification map.
REIDENTIFY_ROLES = frozenset({"admin"})

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS deidentification_projects ("
    " project TEXT PRIMARY KEY, secret TEXT NOT NULL, created TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS reidentification ("
    " project TEXT NOT NULL, kind TEXT NOT NULL, original TEXT NOT NULL, pseudonym TEXT NOT NULL,"
    " created TEXT NOT NULL, PRIMARY KEY (project, kind, original))",
    "CREATE INDEX IF NOT EXISTS reidentification_pseudonym ON reidentification (pseudonym)",
)


@dataclasses.dataclass
class DeidentifyReport:
    """What :func:`deidentify` did.

    Attributes
    ----------
    written : list of str
        Paths of the de-identified files.
    held_back : list of (str, str)
        ``(SOPInstanceUID, reason)`` of instances that were not written.
    project : str
    options : list of str
        The options applied, as CID 7050 code meanings.
    """

    written: list[str] = dataclasses.field(default_factory=list)
    held_back: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    project: str = "default"
    options: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was held back."""
        return not self.held_back

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**dataclasses.asdict(self), "ok": self.ok}

    def __repr__(self) -> str:
        return (
            f"<DeidentifyReport written={len(self.written)} held_back={len(self.held_back)} project={self.project!r}>"
        )


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat()


def _ensure_schema(db: Any) -> None:
    for statement in _SCHEMA:
        db.execute(statement)


def project_secret(archive: Archive, project: str = "default") -> str:
    """The de-identification secret of *project* in *archive*, made on first use.

    The secret (256 random bits) is kept in the archive's catalog, table
    ``deidentification_projects``, and is never printed or logged: whoever holds it
    can recompute pseudonyms from identifiers.
    """
    if not project:
        raise ValueError("A de-identification project needs a non-empty name.")
    with archive.catalog.transaction() as db:
        _ensure_schema(db)
        db.execute(
            "INSERT OR IGNORE INTO deidentification_projects (project, secret, created) VALUES (?,?,?)",
            (project, secrets.token_hex(32), _now()),
        )
        row = db.execute("SELECT secret FROM deidentification_projects WHERE project = ?", (project,)).fetchone()
    return str(row[0])


def deidentify(
    archive: Archive,
    uid: str,
    output_dir: str | os.PathLike[str],
    *,
    options: Iterable[str | OptionValues] = (),
    project: str = "default",
    allow_burned_in: bool = False,
) -> DeidentifyReport:
    """Write de-identified copies of a study, series or instance to *output_dir*.

    Files are named ``<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``
    with the *new* UIDs. The mapping from originals to pseudonyms is kept in the
    archive (see :func:`reidentify`), and the export is written to the audit table.

    Parameters
    ----------
    archive : Archive
    uid : str
        A StudyInstanceUID, SeriesInstanceUID or SOPInstanceUID in the archive.
    output_dir : path
    options : iterable of str or OptionValues
        PS3.15 E.3 options, e.g. ``"retain-longitudinal-modified-dates"``.
    project : str
        Pseudonyms and UIDs are consistent within a project, and differ between projects.
    allow_burned_in : bool
        Also write instances that may show identifying text in their pixels.

    Returns
    -------
    DeidentifyReport
        Files written, and instances held back with the reason.

    Raises
    ------
    CatalogError
        *uid* is not in the archive.
    """
    mapping: dict[tuple[str, str], str] = {}

    def record(kind: str, original: str, replacement: str) -> None:
        mapping[(kind, original)] = replacement

    engine = Deidentifier(
        options=options, project=project, secret=project_secret(archive, project), recorder=record,
        allow_burned_in=allow_burned_in,
    )  # fmt: skip
    report = DeidentifyReport(project=project, options=sorted(o.value for o in engine.options))
    outcome = "failure"
    try:
        for sop_instance_uid, data in archive.iter_instances(uid):
            reason = _write_one(engine, data, output_dir, report, allow_burned_in=allow_burned_in)
            if reason:
                report.held_back.append((sop_instance_uid, reason))
        outcome = "success" if report.ok else "partial"
    finally:  # files already written must stay re-identifiable, and the attempt audited
        _store_mapping(archive, project, mapping)
        archive.catalog.audit(
            "export",
            service="deidentify",
            uids=[uid],
            count=len(report.written),
            outcome=outcome,
            detail=json.dumps(
                {"project": project, "options": report.options, "output": os.fspath(output_dir),
                 "held_back": len(report.held_back)}
            ),
        )  # fmt: skip
    return report


def _write_one(
    engine: Deidentifier,
    data: bytes,
    output_dir: str | os.PathLike[str],
    report: DeidentifyReport,
    *,
    allow_burned_in: bool,
) -> str | None:
    """De-identify and write one instance; returns the reason when it is held back instead."""
    force = not (len(data) >= 132 and data[128:132] == b"DICM")
    ds = pydicom.dcmread(io.BytesIO(data), force=force)
    reason = burned_in_reason(ds)
    if reason and not allow_burned_in:
        return reason
    out = engine(ds)
    path = os.path.join(
        os.fspath(output_dir), str(out.StudyInstanceUID), str(out.SeriesInstanceUID), f"{out.SOPInstanceUID}.dcm"
    )
    os.makedirs(os.path.dirname(path), exist_ok=True)
    out.save_as(path, enforce_file_format="TransferSyntaxUID" in getattr(out, "file_meta", ()))
    report.written.append(path)
    return None


def _store_mapping(archive: Archive, project: str, mapping: dict[tuple[str, str], str]) -> None:
    now = _now()
    with archive.catalog.transaction() as db:
        _ensure_schema(db)
        db.executemany(
            "INSERT OR IGNORE INTO reidentification (project, kind, original, pseudonym, created) VALUES (?,?,?,?,?)",
            [(project, kind, original, pseudonym, now) for (kind, original), pseudonym in mapping.items()],
        )


def reidentify(
    archive: Archive, pseudonym_or_uid: str, *, role: str, project: str | None = None
) -> list[dict[str, str]]:
    """The originals behind a pseudonym or a replaced UID (administrators only).

    Parameters
    ----------
    archive : Archive
    pseudonym_or_uid : str
        A pseudonymous PatientID or PatientName, or a UID written by :func:`deidentify`.
    role : str
        The caller's role; only ``"admin"`` may read the map.
    project : str, optional
        Limit the answer to one project.

    Returns
    -------
    list of dict
        ``{"project", "kind", "original", "pseudonym"}`` per match (empty when unknown).

    Raises
    ------
    AccessDeniedError
        *role* is not ``"admin"``. The attempt is audited either way.
    """
    if role not in REIDENTIFY_ROLES:
        archive.catalog.audit("reidentify", outcome="denied", actor=role, uids=[pseudonym_or_uid])
        raise AccessDeniedError(
            f"Re-identification needs the 'admin' role; the caller has role {role!r}. Ask an archive administrator."
        )
    with archive.catalog.transaction() as db:
        _ensure_schema(db)
        sql = "SELECT project, kind, original, pseudonym FROM reidentification WHERE pseudonym = ?"
        params: list[str] = [pseudonym_or_uid]
        if project is not None:
            sql += " AND project = ?"
            params.append(project)
        rows = db.execute(sql + " ORDER BY project, kind", params).fetchall()
    archive.catalog.audit("reidentify", actor=role, uids=[pseudonym_or_uid], count=len(rows))
    return [dict(zip(("project", "kind", "original", "pseudonym"), row, strict=True)) for row in rows]

"""The catalog's queries, shared by its backends (SQLite, PostgreSQL)."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pacslab.catalog._dialect import PostgresDialect, SQLiteDialect
from pacslab.catalog._matching import Condition, MatchKind, keyword_tag, parse_condition
from pacslab.catalog.models import (
    INSTANCE_COLUMNS,
    LEVELS,
    PATIENT_COLUMNS,
    SERIES_COLUMNS,
    STUDY_COLUMNS,
    InstanceRecord,
)
from pacslab.errors import (
    CatalogError,
    InstanceNotFoundError,
    SeriesNotFoundError,
    StudyNotFoundError,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SQLCatalog", "json_value", "schema_statements"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "1"

_STUDY_UPPER = (
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyDescription",
    "StudyID",
    "ReferringPhysicianName",
)

_VIEWS = {
    "patients": (
        "SELECT p.*, "
        "(SELECT COUNT(*) FROM studies s WHERE s.PatientID = p.PatientID) AS NumberOfPatientRelatedStudies, "
        "(SELECT CAST(COALESCE(SUM(NumberOfStudyRelatedSeries), 0) AS BIGINT) FROM studies s "
        "WHERE s.PatientID = p.PatientID) "
        "AS NumberOfPatientRelatedSeries, "
        "(SELECT CAST(COALESCE(SUM(NumberOfStudyRelatedInstances), 0) AS BIGINT) FROM studies s "
        "WHERE s.PatientID = p.PatientID) "
        "AS NumberOfPatientRelatedInstances FROM patients p"
    ),
    "studies": "SELECT * FROM studies",
    "series": (
        "SELECT se.*, " + ", ".join(f"st.{c}" for c in _STUDY_UPPER) + " FROM series se "
        "JOIN studies st ON st.StudyInstanceUID = se.StudyInstanceUID"
    ),
    "instances": (
        "SELECT i.SOPInstanceUID, i.SeriesInstanceUID, i.StudyInstanceUID, i.SOPClassUID, i.InstanceNumber, "
        "i.Rows, i.Columns, i.NumberOfFrames, i.TransferSyntaxUID, i.has_pixels, i.sha256, i.size, "
        "i.stored_key, i.stored_codec, i.stored_size, i.source, i.received_at, "
        "se.Modality, se.SeriesNumber, se.SeriesDescription, se.BodyPartExamined, se.FrameOfReferenceUID, "
        + ", ".join(f"st.{c}" for c in _STUDY_UPPER)
        + " FROM instances i JOIN series se ON se.SeriesInstanceUID = i.SeriesInstanceUID "
        "JOIN studies st ON st.StudyInstanceUID = i.StudyInstanceUID"
    ),
}

# Columns that a query at each level can filter on directly, and what it returns by default.
_LEVEL_COLUMNS = {
    "patients": PATIENT_COLUMNS
    + (
        "NumberOfPatientRelatedStudies",
        "NumberOfPatientRelatedSeries",
        "NumberOfPatientRelatedInstances",
    ),
    "studies": PATIENT_COLUMNS
    + STUDY_COLUMNS
    + ("ModalitiesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"),
    "series": ("StudyInstanceUID",)
    + SERIES_COLUMNS
    + ("NumberOfSeriesRelatedInstances", "volume_state", "volume_reason")
    + _STUDY_UPPER,
    "instances": ("SeriesInstanceUID", "StudyInstanceUID")
    + INSTANCE_COLUMNS
    + ("Modality", "SeriesNumber", "SeriesDescription", "BodyPartExamined", "FrameOfReferenceUID")
    + _STUDY_UPPER
    + ("sha256", "size", "stored_size", "stored_codec", "source", "received_at"),
}

_ORDER = {
    "patients": "PatientID",
    "studies": "StudyDate, StudyTime, StudyInstanceUID",
    "series": "StudyInstanceUID, SeriesNumber, SeriesInstanceUID",
    "instances": "SeriesInstanceUID, InstanceNumber, SOPInstanceUID",
}

# How a level reaches the instances below it, for filters on any header attribute.
_INSTANCE_LINK = {
    "patients": "h.StudyInstanceUID IN (SELECT StudyInstanceUID FROM studies WHERE PatientID = v.PatientID)",
    "studies": "h.StudyInstanceUID = v.StudyInstanceUID",
    "series": "h.SeriesInstanceUID = v.SeriesInstanceUID",
    "instances": "h.SOPInstanceUID = v.SOPInstanceUID",
}
_SERIES_LINK = {
    "patients": "x.StudyInstanceUID IN (SELECT StudyInstanceUID FROM studies WHERE PatientID = v.PatientID)",
    "studies": "x.StudyInstanceUID = v.StudyInstanceUID",
}


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")


def json_value(text: Any) -> Any:
    """A DICOM JSON ``Value`` array as a plain Python value (one value, or a list)."""
    if text is None:
        return None
    try:
        values = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return text
    if not isinstance(values, list):
        return values
    values = [v.get("Alphabetic", "") if isinstance(v, dict) and "Alphabetic" in v else v for v in values]
    return values[0] if len(values) == 1 else values


def _owner(token: str) -> str:
    """Who holds a claim: host, process and the caller's token."""
    return f"{socket.gethostname()}:{os.getpid()}:{token}"


def _owner_alive(owner: str) -> bool:
    """False when *owner* names a process of this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def schema_statements() -> list[str]:
    """The statements of the catalog schema (``_schema.sql``), one by one."""
    script = (Path(__file__).parent / "_schema.sql").read_text()
    out = []
    for statement in re.split(r";\s*\n", script):
        lines = [line for line in statement.splitlines() if not line.lstrip().startswith("--")]
        if "".join(lines).strip():
            out.append("\n".join(lines).strip())
    return out


class _NotWhole(Exception):
    """Raised inside :meth:`SQLCatalog.add_whole_series`'s transaction to roll it back."""


class SQLCatalog:
    """The catalog's queries and bookkeeping, on any backend (see :mod:`pacslab.catalog._dialect`).

    A backend subclass opens the connection and provides :meth:`transaction`,
    :meth:`_execute` and :meth:`_rows`; everything else is shared, so SQLite and
    PostgreSQL catalogs answer the same queries with the same results.
    """

    #: How this backend's SQL differs.
    dialect: SQLiteDialect | PostgresDialect = SQLiteDialect()
    _lock: threading.RLock

    def close(self) -> None:
        """Close the database connection."""
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """Run statements in one write transaction (all or nothing)."""
        raise NotImplementedError
        yield

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement outside a transaction; returns its cursor (call under ``self._lock``)."""
        raise NotImplementedError

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of one query; each row is indexable by position and by column name."""
        raise NotImplementedError

    def _write(self, work: Callable[[Any], Any]) -> Any:
        """Run *work(db)* in one transaction (a backend may retry it after a deadlock)."""
        with self.transaction() as db:
            return work(db)

    def _lock_row(self, db: Any, table: str, column: str, value: str) -> None:
        """Lock one row until the transaction ends (SQLite's write transactions lock everything already)."""

    # -- writing -------------------------------------------------------------
    def add_instances(self, records: Iterable[InstanceRecord]) -> list[str]:
        """Add received instances in one transaction.

        Safe against other processes adding the same instances at the same time: each
        SOPInstanceUID is added once, and the counts of series and studies stay right.

        Returns
        -------
        list of str
            One outcome per record: ``"new"``, ``"duplicate"`` (same UID, same bytes) or
            ``"conflict"`` (same UID, other bytes: kept aside, the first one stays).
        """
        records = list(records)
        return list(self._write(lambda db: self._add_records(db, records)))

    def _add_records(
        self, db: Any, records: list[InstanceRecord], storage: Mapping[str, dict[str, Any]] | None = None
    ) -> list[str]:
        """The work of :meth:`add_instances`, in the transaction *db*.

        *storage*: by SOPInstanceUID, where the original of a new record rests instead of where the
        record says (``stored_key``, ``stored_codec``, ``stored_size``, ``pixel_ref``).
        """
        # One order for every writer, so that concurrent writers lock rows in the same order.
        order = sorted(
            range(len(records)),
            key=lambda i: (
                records[i].study_instance_uid,
                records[i].series_instance_uid,
                records[i].sop_instance_uid,
            ),
        )
        outcomes = [""] * len(records)
        touched_series: set[str] = set()
        touched_studies: set[str] = set()
        pending: set[str] = set()
        now = _now()
        parents: set[tuple[Any, ...]] = set()  # patient, study and series rows this transaction has seen
        for i in order:
            rec = records[i]
            outcomes[i] = self._add_one(db, rec, now, parents, storage)
            if outcomes[i] == "new":
                touched_series.add(rec.series_instance_uid)
                touched_studies.add(rec.study_instance_uid)
                if rec.has_pixels:
                    pending.add(rec.series_instance_uid)
        self._refresh_counts(db, touched_series, touched_studies, now, pending=pending)
        return outcomes

    def add_whole_series(
        self,
        records: Sequence[InstanceRecord],
        series_instance_uid: str,
        volumes: list[dict[str, Any]],
        state: str,
        reason: str | None,
        instance_updates: Sequence[dict[str, Any]] = (),
    ) -> bool:
        """Add the instances of a series with the volumes built from them, in one transaction.

        False, and nothing changes, unless every record is new and the series has no other image
        instance (the records are all of it). The volumes and the storage of the originals
        (*instance_updates*) are then the series' own, as :meth:`replace_volumes` sets them.
        """
        records = list(records)

        storage = {u["SOPInstanceUID"]: u for u in instance_updates}

        def work(db: Any) -> bool:
            outcomes = self._add_records(db, records, storage)  # each row written once, as it ends up
            # a writer adding instances of this series meanwhile waits here (or made this one wait above)
            self._lock_row(db, "series", "SeriesInstanceUID", series_instance_uid)
            (count,) = db.execute(
                "SELECT COUNT(*) FROM instances WHERE SeriesInstanceUID = ? AND has_pixels = 1",
                (series_instance_uid,),
            ).fetchone()
            if any(outcome != "new" for outcome in outcomes) or count != sum(r.has_pixels for r in records):
                raise _NotWhole
            added = {r.sop_instance_uid for r in records}
            others = [u for u in instance_updates if u["SOPInstanceUID"] not in added]
            self._set_volumes(db, series_instance_uid, volumes, state, reason, others)
            return True

        try:
            return bool(self._write(work))
        except _NotWhole:
            return False

    def _add_one(
        self,
        db: Any,
        rec: InstanceRecord,
        now: str,
        parents: set[tuple[Any, ...]],
        storage: Mapping[str, dict[str, Any]] | None = None,
    ) -> str:
        a = rec.attributes
        row = db.execute("SELECT sha256 FROM instances WHERE SOPInstanceUID = ?", (rec.sop_instance_uid,)).fetchone()
        if row is not None:
            return self._add_existing(db, rec, row[0], now)
        patient = [a.get(c) for c in PATIENT_COLUMNS]
        patient[1] = patient[1] or ""
        study_cols = PATIENT_COLUMNS + STUDY_COLUMNS
        series_cols = ("StudyInstanceUID",) + SERIES_COLUMNS
        for table, cols, values in (
            ("patients", PATIENT_COLUMNS, patient),
            ("studies", study_cols, patient + [a.get(c) for c in STUDY_COLUMNS] + [now, now]),
            ("series", series_cols, [a.get(c) for c in series_cols] + [now, now]),
        ):
            seen = (table, *values)
            if seen in parents:  # the same row again in this transaction: ignored, as the first time or since
                continue
            stamps = ", created_at, updated_at" if table != "patients" else ""
            db.execute(
                f"INSERT OR IGNORE INTO {table} ({', '.join(cols)}{stamps}) VALUES ({', '.join('?' * len(values))})",
                values,
            )
            parents.add(seen)
        stored = storage.get(rec.sop_instance_uid) if storage else None
        if stored is None:
            stored = {"stored_key": rec.stored_key, "stored_codec": rec.stored_codec, "stored_size": rec.stored_size}
        inst_cols = ("SeriesInstanceUID", "StudyInstanceUID") + INSTANCE_COLUMNS
        extra = (
            "has_pixels",
            "sha256",
            "size",
            "stored_key",
            "stored_codec",
            "stored_size",
            "pixel_ref",
            "source",
            "received_at",
            "geometry",
            "header",
        )
        added = db.execute(
            f"INSERT OR IGNORE INTO instances ({', '.join(inst_cols + extra)}) "
            f"VALUES ({', '.join('?' * (len(inst_cols) + len(extra)))}) RETURNING SOPInstanceUID",
            [a.get(c) for c in inst_cols]
            + [
                int(rec.has_pixels),
                rec.sha256,
                rec.size,
                stored["stored_key"],
                stored["stored_codec"],
                stored["stored_size"],
                stored.get("pixel_ref"),
                rec.source,
                now,
                rec.geometry,
                rec.header,
            ],
        ).fetchone()
        if added is None:  # another process added it since the SELECT above
            (sha256,) = db.execute(
                "SELECT sha256 FROM instances WHERE SOPInstanceUID = ?", (rec.sop_instance_uid,)
            ).fetchone()
            return self._add_existing(db, rec, sha256, now)
        return "new"

    def _add_existing(self, db: Any, rec: InstanceRecord, sha256: str, now: str) -> str:
        """A record whose SOPInstanceUID is in the catalog already: a duplicate, or a conflict kept aside."""
        if sha256 == rec.sha256:
            return "duplicate"
        db.execute(
            "INSERT OR IGNORE INTO conflicts (SOPInstanceUID, SeriesInstanceUID, StudyInstanceUID, sha256, size,"
            " stored_key, source, received_at, header) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                rec.sop_instance_uid,
                rec.series_instance_uid,
                rec.study_instance_uid,
                rec.sha256,
                rec.size,
                rec.stored_key,
                rec.source,
                now,
                rec.header,
            ),
        )
        return "conflict"

    def _refresh_counts(
        self, db: Any, series: set[str], studies: set[str], now: str, *, pending: AbstractSet[str] = frozenset()
    ) -> None:
        """Recount series and studies (rows locked in UID order), marking *pending* series for a volume build."""
        for uid in sorted(series):
            self._lock_row(db, "series", "SeriesInstanceUID", uid)
            if uid in pending:
                db.execute(
                    "UPDATE series SET volume_state = 'pending', volume_reason = NULL WHERE SeriesInstanceUID = ?",
                    (uid,),
                )
            db.execute(
                "UPDATE series SET NumberOfSeriesRelatedInstances = "
                "(SELECT COUNT(*) FROM instances WHERE SeriesInstanceUID = ?), updated_at = ? "
                "WHERE SeriesInstanceUID = ?",
                (uid, now, uid),
            )
        modalities = self.dialect.string_agg("m", "'\\'")
        for uid in sorted(studies):
            self._lock_row(db, "studies", "StudyInstanceUID", uid)
            db.execute(
                "UPDATE studies SET NumberOfStudyRelatedSeries = "
                "(SELECT COUNT(*) FROM series WHERE StudyInstanceUID = ?), "
                "NumberOfStudyRelatedInstances = (SELECT COUNT(*) FROM instances WHERE StudyInstanceUID = ?), "
                f"ModalitiesInStudy = (SELECT {modalities} FROM (SELECT DISTINCT Modality AS m FROM series "
                "WHERE StudyInstanceUID = ? AND Modality IS NOT NULL ORDER BY Modality) AS d), updated_at = ? "
                "WHERE StudyInstanceUID = ?",
                (uid, uid, uid, now, uid),
            )

    def record_rejection(self, source: str, reason: str, *, sha256: str | None, quarantine_path: str | None) -> None:
        """Remember a rejected input and where its copy was quarantined."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO rejections (source, reason, sha256, quarantine_path, rejected_at) VALUES (?,?,?,?,?)",
                (source, reason, sha256, quarantine_path, _now()),
            )

    # -- volumes ---------------------------------------------------------------
    def set_volume_state(self, series_instance_uid: str, state: str, reason: str | None = None) -> None:
        """Record whether a series' volumes are pending, ready, failed or none."""
        with self.transaction() as db:
            db.execute(
                "UPDATE series SET volume_state = ?, volume_reason = ? WHERE SeriesInstanceUID = ?",
                (state, reason, series_instance_uid),
            )

    def replace_volumes(
        self,
        series_instance_uid: str,
        volumes: list[dict[str, Any]],
        state: str,
        reason: str | None,
        instance_updates: Sequence[dict[str, Any]] = (),
        built_from: int | None = None,
    ) -> None:
        """Replace the volume rows of a series, set its state and how its originals rest, atomically.

        Parameters
        ----------
        built_from : int, optional
            How many image instances the volumes were built from. When the series has gained
            instances since (a C-STORE during the build), it stays ``pending`` for another build.
        """
        with self.transaction() as db:
            self._lock_row(db, "series", "SeriesInstanceUID", series_instance_uid)  # no instance added meanwhile
            if built_from is not None and state == "ready":
                (count,) = db.execute(
                    "SELECT COUNT(*) FROM instances WHERE SeriesInstanceUID = ? AND has_pixels = 1",
                    (series_instance_uid,),
                ).fetchone()
                if count != built_from:
                    state, reason = "pending", f"{count - built_from} instances arrived while the volumes were built"
            self._set_volumes(db, series_instance_uid, volumes, state, reason, instance_updates)

    def _set_volumes(
        self,
        db: Any,
        series_instance_uid: str,
        volumes: list[dict[str, Any]],
        state: str,
        reason: str | None,
        instance_updates: Sequence[dict[str, Any]],
    ) -> None:
        """The writing of :meth:`replace_volumes`, in the transaction *db*."""
        now = _now()
        for u in instance_updates:
            db.execute(
                "UPDATE instances SET stored_key = ?, stored_codec = ?, stored_size = ?, pixel_ref = ? "
                "WHERE SOPInstanceUID = ?",
                (u["stored_key"], u["stored_codec"], u["stored_size"], u["pixel_ref"], u["SOPInstanceUID"]),
            )
        db.execute("DELETE FROM volumes WHERE SeriesInstanceUID = ?", (series_instance_uid,))
        for v in volumes:
            db.execute(
                "INSERT INTO volumes (SeriesInstanceUID, stack_index, path, dims, shape, dtype, n_frames, note,"
                " created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    series_instance_uid,
                    v["stack_index"],
                    v["path"],
                    json.dumps(v["dims"]),
                    json.dumps(v["shape"]),
                    v["dtype"],
                    v["n_frames"],
                    v.get("note"),
                    now,
                ),
            )
        db.execute(
            "UPDATE series SET volume_state = ?, volume_reason = ? WHERE SeriesInstanceUID = ?",
            (state, reason, series_instance_uid),
        )

    def volumes(self, series_instance_uid: str | None = None) -> list[dict[str, Any]]:
        """Volume rows, of one series or all."""
        sql = "SELECT * FROM volumes"
        params: tuple[Any, ...] = ()
        if series_instance_uid is not None:
            sql += " WHERE SeriesInstanceUID = ?"
            params = (series_instance_uid,)
        rows = self._rows(sql + " ORDER BY SeriesInstanceUID, stack_index", params)
        out = []
        for r in rows:
            d = dict(r)
            d["dims"], d["shape"] = json.loads(d["dims"]), json.loads(d["shape"])
            out.append(d)
        return out

    def series_by_state(self, state: str, *, idle_seconds: float | None = None) -> list[str]:
        """SeriesInstanceUIDs whose volume state is *state*.

        Parameters
        ----------
        idle_seconds : float, optional
            Only series that received no instance for this long (a series is "stable").
        """
        if idle_seconds is None:
            rows = self._rows("SELECT SeriesInstanceUID FROM series WHERE volume_state = ?", (state,))
        else:
            cutoff = (_dt.datetime.now(_dt.UTC) - _dt.timedelta(seconds=idle_seconds)).isoformat(
                timespec="microseconds"
            )
            rows = self._rows(
                "SELECT SeriesInstanceUID FROM series WHERE volume_state = ? AND updated_at <= ?",
                (state, cutoff),
            )
        return [r[0] for r in rows]

    def claim_volume_build(self, series_instance_uid: str, *, owner: str, stale_seconds: float = 900.0) -> bool:
        """Claim the building of a series' volumes; False when another builder holds the claim.

        Several processes on one archive (receivers, a DICOMweb server, workers) thus never
        build one series at once. The claim of a process that died (on this host), or one
        older than *stale_seconds*, is taken over.
        """
        cutoff = (_dt.datetime.now(_dt.UTC) - _dt.timedelta(seconds=stale_seconds)).isoformat(timespec="microseconds")

        def work(db: Any) -> bool:
            row = db.execute(
                "SELECT owner, claimed_at FROM volume_builds WHERE SeriesInstanceUID = ?", (series_instance_uid,)
            ).fetchone()
            if row is not None and (row[1] < cutoff or not _owner_alive(row[0])):
                db.execute(
                    "DELETE FROM volume_builds WHERE SeriesInstanceUID = ? AND owner = ?", (series_instance_uid, row[0])
                )
            claimed = db.execute(
                "INSERT OR IGNORE INTO volume_builds (SeriesInstanceUID, owner, claimed_at) VALUES (?,?,?) "
                "RETURNING owner",
                (series_instance_uid, _owner(owner), _now()),
            ).fetchone()
            return claimed is not None

        return bool(self._write(work))

    def release_volume_build(self, series_instance_uid: str, *, owner: str) -> None:
        """Give up a claim of :meth:`claim_volume_build`."""
        with self.transaction() as db:
            db.execute(
                "DELETE FROM volume_builds WHERE SeriesInstanceUID = ? AND owner = ?",
                (series_instance_uid, _owner(owner)),
            )

    def image_bytes_of_series(self, series_instance_uid: str) -> int:
        """Bytes received of a series' image instances (how much work building its volumes is)."""
        rows = self._rows(
            "SELECT COALESCE(SUM(size), 0) FROM instances WHERE SeriesInstanceUID = ? AND has_pixels = 1",
            (series_instance_uid,),
        )
        return int(rows[0][0])

    def frames_of_series(self, series_instance_uid: str) -> list[dict[str, Any]]:
        """What volume building needs of each image instance of a series."""
        rows = self._rows(
            "SELECT SOPInstanceUID, InstanceNumber, stored_key, stored_codec, stored_size, pixel_ref, sha256, size, "
            "geometry "
            "FROM instances "
            "WHERE SeriesInstanceUID = ? AND has_pixels = 1 ORDER BY InstanceNumber, SOPInstanceUID",
            (series_instance_uid,),
        )
        return [dict(r) for r in rows]

    # -- reading ---------------------------------------------------------------
    def query(
        self,
        level: str,
        filters: dict[str, Any] | None = None,
        *,
        fields: Sequence[str] = (),
        limit: int | None = None,
        offset: int = 0,
        order_by: str | None = None,
    ) -> pd.DataFrame:
        """Search one level of the catalog with DICOM matching.

        Parameters
        ----------
        level : {"patients", "studies", "series", "instances"}
        filters : dict
            DICOM keyword → value (see :func:`pacslab.catalog.parse_condition`). Keywords
            of the level or any level above are matched on indexed columns, those of a
            level below select entries that contain a match, and any other keyword is
            matched against the stored headers.
        fields : sequence of str
            Extra DICOM keywords to return, read from the stored headers.
        limit, offset : int
            Paging.
        """
        import pandas as pd

        columns = self.query_columns(level, fields)
        records = self.query_records(level, filters, fields=fields, limit=limit, offset=offset, order_by=order_by)
        return pd.DataFrame.from_records(records, columns=columns)

    def query_columns(self, level: str, fields: Sequence[str] = ()) -> list[str]:
        """The columns :meth:`query` returns for *level* and the extra header *fields*."""
        if level not in LEVELS:
            raise CatalogError(f"Unknown level {level!r}; use one of {', '.join(LEVELS)}.")
        columns = _LEVEL_COLUMNS[level]
        return list(columns) + [f for f in fields if f not in columns]

    def query_records(
        self,
        level: str,
        filters: dict[str, Any] | None = None,
        *,
        fields: Sequence[str] = (),
        limit: int | None = None,
        offset: int = 0,
        order_by: str | None = None,
    ) -> list[dict[str, Any]]:
        """:meth:`query` as a list of dicts, one per match (no DataFrame: what servers answer with).

        Values are as stored (``None`` where absent); header *fields* are decoded from DICOM JSON.
        """
        sql, params, columns, extra = self.query_sql(
            level, filters or {}, fields=fields, limit=limit, offset=offset, order_by=order_by
        )
        with self._lock:
            rows = self._execute(sql, params).fetchall()
        names = list(columns) + list(extra)
        records = [dict(zip(names, row, strict=True)) for row in rows]
        for record in records if extra else ():
            for keyword in extra:
                record[keyword] = json_value(record[keyword])
        return records

    def count(self, level: str, filters: dict[str, Any] | None = None) -> int:
        """How many entries of *level* match *filters*."""
        where, params = self._where(level, filters or {})
        with self._lock:
            return int(
                self._execute(f"SELECT COUNT(*) FROM ({_VIEWS[level]}) AS v WHERE {where}", params).fetchone()[0]
            )

    def query_sql(
        self,
        level: str,
        filters: dict[str, Any],
        *,
        fields: Sequence[str] = (),
        limit: int | None = None,
        offset: int = 0,
        order_by: str | None = None,
    ) -> tuple[str, list[Any], tuple[str, ...], list[str]]:
        """The SQL behind :meth:`query` (for inspection and teaching)."""
        if level not in LEVELS:
            raise CatalogError(f"Unknown level {level!r}; use one of {', '.join(LEVELS)}.")
        columns = _LEVEL_COLUMNS[level]
        extra = [f for f in fields if f not in columns]
        select = [f"v.{c}" for c in columns]
        for keyword in extra:
            value = self.dialect.header_value("h", f"{keyword_tag(keyword):08X}")
            if level == "instances":
                select.append(f"(SELECT {value} FROM instances h WHERE h.SOPInstanceUID = v.SOPInstanceUID)")
            else:
                select.append(f"(SELECT {value} FROM instances h WHERE {_INSTANCE_LINK[level]} LIMIT 1)")
        where, params = self._where(level, filters)
        sql = (
            f"SELECT {', '.join(select)} FROM ({_VIEWS[level]}) AS v WHERE {where} ORDER BY {order_by or _ORDER[level]}"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        elif offset:
            sql += f" LIMIT -1 OFFSET {int(offset)}"
        return sql, params, columns, extra

    def _where(self, level: str, filters: dict[str, Any]) -> tuple[str, list[Any]]:
        parts: list[str] = ["1=1"]
        params: list[Any] = []
        own = set(_LEVEL_COLUMNS[level]) | {"volume_state"}
        for keyword, value in filters.items():
            if keyword == "ModalitiesInStudy":
                keyword = "Modality"
            if keyword in own and keyword not in ("ModalitiesInStudy",):
                cond = _parse(keyword, value)
                sql, p = self.dialect.condition(cond, f"v.{keyword}")
            elif keyword in SERIES_COLUMNS and level in _SERIES_LINK:
                cond = _parse(keyword, value)
                inner, p = self.dialect.condition(cond, f"x.{keyword}")
                sql = f"EXISTS (SELECT 1 FROM series x WHERE {_SERIES_LINK[level]} AND {inner})"
            elif keyword in INSTANCE_COLUMNS and level != "instances":
                cond = _parse(keyword, value)
                inner, p = self.dialect.condition(cond, f"h.{keyword}")
                sql = f"EXISTS (SELECT 1 FROM instances h WHERE {_INSTANCE_LINK[level]} AND {inner})"
            else:
                cond = _parse(keyword, value)
                if cond.kind is MatchKind.UNIVERSAL:
                    continue
                inner, p = self.dialect.header_match("h", f"{keyword_tag(keyword):08X}", cond)
                sql = f"EXISTS (SELECT 1 FROM instances h WHERE {_INSTANCE_LINK[level]} AND {inner})"
            parts.append(f"({sql})")
            params.extend(p)
        return " AND ".join(parts), params

    def instance(self, sop_instance_uid: str) -> dict[str, Any]:
        """The catalog row of one instance (with header and geometry JSON)."""
        rows = self._rows("SELECT * FROM instances WHERE SOPInstanceUID = ?", (sop_instance_uid,))
        if not rows:
            raise InstanceNotFoundError(f"No instance with SOPInstanceUID {sop_instance_uid!r} is in the archive.")
        return dict(rows[0])

    def pixel_refs(self, sop_instance_uids: Sequence[str]) -> dict[str, str | None]:
        """The pixel reference of each instance given that is in the catalog (None when it rests whole)."""
        out: dict[str, str | None] = {}
        uids = list(sop_instance_uids)
        for i in range(0, len(uids), 500):
            part = uids[i : i + 500]
            marks = ", ".join("?" * len(part))
            sql = f"SELECT SOPInstanceUID, pixel_ref FROM instances WHERE SOPInstanceUID IN ({marks})"
            rows = self._rows(sql, part)
            out.update((row[0], row[1]) for row in rows)
        return out

    def instance_keys(
        self,
        *,
        study_instance_uid: str | None = None,
        series_instance_uid: str | None = None,
        sop_instance_uid: str | None = None,
    ) -> list[dict[str, Any]]:
        """SOPInstanceUID, storage key and hash of the instances of a study, series or one instance."""
        if sop_instance_uid is not None:
            where, value = "SOPInstanceUID = ?", sop_instance_uid
        elif series_instance_uid is not None:
            where, value = "SeriesInstanceUID = ?", series_instance_uid
        elif study_instance_uid is not None:
            where, value = "StudyInstanceUID = ?", study_instance_uid
        else:
            return [
                dict(r)
                for r in self._rows(
                    "SELECT SOPInstanceUID, SeriesInstanceUID, StudyInstanceUID, stored_key, stored_codec, pixel_ref, "
                    "sha256, size, TransferSyntaxUID "
                    "FROM instances ORDER BY SeriesInstanceUID, InstanceNumber, SOPInstanceUID"
                )
            ]
        rows = self._rows(
            "SELECT SOPInstanceUID, SeriesInstanceUID, StudyInstanceUID, stored_key, stored_codec, pixel_ref, "
            "sha256, size, TransferSyntaxUID "
            f"FROM instances WHERE {where} ORDER BY SeriesInstanceUID, InstanceNumber, SOPInstanceUID",
            (value,),
        )
        return [dict(r) for r in rows]

    def level_of(self, uid: str) -> str:
        """Whether *uid* names a study, a series or an instance in the catalog."""
        for level, table, column in (
            ("study", "studies", "StudyInstanceUID"),
            ("series", "series", "SeriesInstanceUID"),
            ("instance", "instances", "SOPInstanceUID"),
        ):
            if self._rows(f"SELECT 1 FROM {table} WHERE {column} = ?", (uid,)):
                return level
        raise CatalogError(f"{uid!r} is not the UID of a study, series or instance in this archive.")

    def conflicts(self) -> pd.DataFrame:
        """Instances received again with other content."""
        rows = self._rows(
            "SELECT id, SOPInstanceUID, SeriesInstanceUID, StudyInstanceUID, sha256, size, stored_key,"
            " source, received_at FROM conflicts ORDER BY id"
        )
        import pandas as pd

        return pd.DataFrame([dict(r) for r in rows])

    def conflict_keys(self) -> list[dict[str, Any]]:
        """Storage keys and hashes of every conflicting copy."""
        return [dict(r) for r in self._rows("SELECT SOPInstanceUID, stored_key, sha256 FROM conflicts")]

    def rejections(self) -> pd.DataFrame:
        """Every rejected input."""
        import pandas as pd

        return pd.DataFrame([dict(r) for r in self._rows("SELECT * FROM rejections ORDER BY id")])

    def counts(self) -> dict[str, int]:
        """Numbers of patients, studies, series, instances, volumes and conflicts."""
        out = {}
        for table in (
            "patients",
            "studies",
            "series",
            "instances",
            "volumes",
            "conflicts",
            "rejections",
        ):
            out[table] = int(self._rows(f"SELECT COUNT(*) FROM {table}")[0][0])
        return out

    def size_stats(self) -> dict[str, int]:
        """Bytes received and bytes stored for the originals."""
        row = self._rows("SELECT COALESCE(SUM(size), 0), COALESCE(SUM(stored_size), 0) FROM instances")[0]
        return {"received_bytes": int(row[0]), "stored_bytes": int(row[1])}

    def count_consistency(self) -> list[str]:
        """Series and studies whose recorded counts disagree with their instances."""
        problems = []
        for uid, n, real in self._rows(
            "SELECT se.SeriesInstanceUID, se.NumberOfSeriesRelatedInstances, "
            "(SELECT COUNT(*) FROM instances i WHERE i.SeriesInstanceUID = se.SeriesInstanceUID) FROM series se"
        ):
            if n != real:
                problems.append(f"series {uid}: NumberOfSeriesRelatedInstances is {n}, but it has {real} instances")
            if real == 0:
                problems.append(f"series {uid} has no instances")
        return problems

    # -- deleting ----------------------------------------------------------------
    def delete(
        self, *, study_instance_uid: str | None = None, series_instance_uid: str | None = None
    ) -> dict[str, list[str]]:
        """Remove a study or a series from the catalog.

        Returns
        -------
        dict
            ``{"stored_keys": [...], "volume_paths": [...], "sop_instance_uids": [...]}`` of what
            the caller must now remove from storage.
        """
        if (study_instance_uid is None) == (series_instance_uid is None):
            raise CatalogError("Give exactly one of study_instance_uid or series_instance_uid to delete.")
        now = _now()
        with self.transaction() as db:
            if study_instance_uid is not None:
                series = [
                    r[0]
                    for r in db.execute(
                        "SELECT SeriesInstanceUID FROM series WHERE StudyInstanceUID = ?", (study_instance_uid,)
                    )
                ]
                if not db.execute("SELECT 1 FROM studies WHERE StudyInstanceUID = ?", (study_instance_uid,)).fetchone():
                    raise StudyNotFoundError(
                        f"No study with StudyInstanceUID {study_instance_uid!r} is in the archive."
                    )
                study = study_instance_uid
            else:
                row = db.execute(
                    "SELECT StudyInstanceUID FROM series WHERE SeriesInstanceUID = ?", (series_instance_uid,)
                ).fetchone()
                if row is None:
                    raise SeriesNotFoundError(
                        f"No series with SeriesInstanceUID {series_instance_uid!r} is in the archive."
                    )
                series, study = [series_instance_uid], row[0]
            out: dict[str, list[str]] = {
                "series_instance_uids": list(series),
                "stored_keys": [],
                "volume_paths": [],
                "sop_instance_uids": [],
            }
            for uid in series:
                for sop, key in db.execute(
                    "SELECT SOPInstanceUID, stored_key FROM instances WHERE SeriesInstanceUID = ?",
                    (uid,),
                ):
                    out["sop_instance_uids"].append(sop)
                    out["stored_keys"].append(key)
                out["stored_keys"] += [
                    r[0] for r in db.execute("SELECT stored_key FROM conflicts WHERE SeriesInstanceUID = ?", (uid,))
                ]
                out["volume_paths"] += [
                    r[0] for r in db.execute("SELECT path FROM volumes WHERE SeriesInstanceUID = ?", (uid,))
                ]
                for table in ("volumes", "conflicts", "instances", "series"):
                    db.execute(f"DELETE FROM {table} WHERE SeriesInstanceUID = ?", (uid,))
            remaining = db.execute("SELECT COUNT(*) FROM series WHERE StudyInstanceUID = ?", (study,)).fetchone()[0]
            if remaining == 0:
                pid = db.execute("SELECT PatientID FROM studies WHERE StudyInstanceUID = ?", (study,)).fetchone()
                db.execute("DELETE FROM studies WHERE StudyInstanceUID = ?", (study,))
                if (
                    pid is not None
                    and not db.execute("SELECT 1 FROM studies WHERE PatientID = ?", (pid[0],)).fetchone()
                ):
                    db.execute("DELETE FROM patients WHERE PatientID = ?", (pid[0],))
            else:
                self._refresh_counts(db, set(), {study}, now)
        return out

    # -- audit -------------------------------------------------------------------
    def audit(
        self,
        action: str,
        *,
        outcome: str = "success",
        actor: str | None = None,
        address: str | None = None,
        service: str | None = None,
        uids: Sequence[str] = (),
        count: int | None = None,
        detail: str | None = None,
    ) -> None:
        """Append one entry to the audit table."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO audit (time, actor, address, action, service, uids, count, outcome, detail)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    _now(),
                    actor,
                    address,
                    action,
                    service,
                    json.dumps(list(uids)) if uids else None,
                    count,
                    outcome,
                    detail,
                ),
            )

    def audit_log(
        self,
        *,
        action: str | None = None,
        actor: str | None = None,
        outcome: str | None = None,
        uid: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """The audit table, oldest first (see :meth:`pacslab.Archive.audit_log` for the filters)."""
        where, params = ["1=1"], []
        for column, value in (("action", action), ("outcome", outcome)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if actor is not None:
            sql, p = self.dialect.glob("actor", actor)
            where.append(sql)
            params += p
        if uid is not None:
            where.append("uids LIKE ? ESCAPE '\\'")
            params.append("%" + re.sub(r"([%_\\])", r"\\\1", json.dumps(uid)) + "%")
        if since is not None:
            where.append("time >= ?")
            params.append(_audit_time("since", since))
        if until is not None:
            where.append("time <= ?")
            params.append(_audit_time("until", until) + "\uffff")  # the whole day or minute given
        sql = f"SELECT * FROM audit WHERE {' AND '.join(where)}"
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT {int(limit)}) AS a"
        import pandas as pd

        return pd.DataFrame([dict(r) for r in self._rows(sql + " ORDER BY id", params)])


def _audit_time(name: str, value: str) -> str:
    """An ISO 8601 date or time bound, as the audit table writes times (``T`` between date and time)."""
    text = str(value).strip().replace(" ", "T")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?", text):
        raise ValueError(
            f"The audit filter {name}={value!r} is not a date or time: give ISO 8601 (UTC), "
            "e.g. '2026-11-01' or '2026-11-28T10:00'."
        )
    return text


def _parse(keyword: str, value: Any) -> Condition:
    if keyword == "volume_state":
        return Condition(keyword, "CS", MatchKind.SINGLE, (str(value),))
    return parse_condition(keyword, value)

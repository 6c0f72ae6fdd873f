"""The archive: originals, catalog and volumes behind one object."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import io
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pydicom
import yaml

from pacslab.catalog import PostgresCatalog, SQLiteCatalog, is_postgres_url
from pacslab.config import config, load_yaml
from pacslab.errors import (
    ArchiveExistsError,
    ArchiveNotFoundError,
    InstanceNotFoundError,
    SeriesNotFoundError,
    StorageError,
    VolumeNotFoundError,
)
from pacslab.ingest import IngestReport, build_pending_volumes, ingest_bytes, ingest_paths
from pacslab.storage import Codec, OriginalStore, is_local, join, open_filesystem, write_atomic
from pacslab.storage._originals import sha256_hex
from pacslab.volumes._pixelref import PixelRef, PixelSource
from pacslab.volumes.builder import remove_generation, series_identity, volume_generation
from pacslab.volumes.store import open_volume_group, read_volume

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

    from pacslab.export import ExportReport

__all__ = ["Archive", "VerifyReport", "open_archive"]

logger = logging.getLogger(__name__)

CONFIG_NAME = "pacslab.yaml"
FORMAT_VERSION = 1


#: Originals a retrieval rebuilds from volumes before it checks them against the catalog in one query.
_CHECK_EVERY = 16


@dataclasses.dataclass
class VerifyReport:
    """What :meth:`Archive.verify` found.

    Attributes
    ----------
    problems : list of str
        Disagreements between catalog, originals and volumes (missing or damaged
        files, wrong counts). An empty list means the archive is consistent.
    orphans : list of str
        Stored originals no catalog row points at: left by an interrupted ingest,
        harmless; ingesting the same files again adopts them.
    orphan_volumes : list of str
        Volume generations (``volumes/<series>/<generation>``) no catalog row points at:
        left by a volume build that was killed before its commit, harmless;
        :meth:`Archive.remove_orphan_volumes` (``pacslab verify --repair``) removes them.
    pending : list of str
        Series whose volumes are still to be built (``Archive.build_volumes()``).
    checked : dict
        How many instances, blobs and volumes were checked.
    """

    problems: list[str] = dataclasses.field(default_factory=list)
    orphans: list[str] = dataclasses.field(default_factory=list)
    orphan_volumes: list[str] = dataclasses.field(default_factory=list)
    pending: list[str] = dataclasses.field(default_factory=list)
    checked: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when catalog and storage agree."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**dataclasses.asdict(self), "ok": self.ok}

    def __repr__(self) -> str:
        return (
            f"<VerifyReport ok={self.ok} problems={len(self.problems)} orphans={len(self.orphans)} "
            f"orphan_volumes={len(self.orphan_volumes)} pending={len(self.pending)} checked={self.checked}>"
        )


def open_archive(root: str | os.PathLike[str], *, create: bool = False, catalog: str | None = None) -> Archive:
    """Open the archive at *root*, a local folder or an fsspec URL.

    Parameters
    ----------
    root : str or path-like
        ``"/data/pacs"``, ``"memory://scratch"``, …
    create : bool
        Create an empty archive when there is none.
    catalog : str, optional
        Where a new archive keeps its catalog: by default ``catalog.sqlite`` inside a local
        root, and in memory for ``memory://`` roots. Archives on object storage need a
        local SQLite path here (SQLite cannot live on object storage). A
        ``postgresql://user@host:port/database`` URL keeps it in PostgreSQL instead, shared
        by every process that opens the archive (receivers, DICOMweb server, workers).

    Raises
    ------
    ArchiveNotFoundError
        No archive at *root* and *create* is False.

    Examples
    --------
    >>> archive = open_archive("memory://doctest", create=True)
    >>> archive.studies().empty
    True
    """
    fs, path = open_filesystem(root)
    config_path = join(path, CONFIG_NAME)
    if not fs.exists(config_path):
        if not create:
            raise ArchiveNotFoundError(
                f"There is no pacslab archive at {os.fspath(root)!r}; create one with "
                f"`pacslab init {os.fspath(root)}` or open_archive(..., create=True)."
            )
        settings = {
            "pacslab_archive": FORMAT_VERSION,
            "created": _dt.datetime.now(_dt.UTC).isoformat(),
            "catalog": _default_catalog(fs, root, catalog),
        }
        fs.makedirs(path, exist_ok=True)
        write_atomic(fs, config_path, yaml.safe_dump(settings).encode())
    return Archive(root)


def _default_catalog(fs: Any, root: str | os.PathLike[str], catalog: str | None) -> str:
    if catalog is not None:
        return catalog
    if is_local(fs):
        return "catalog.sqlite"
    if fs.protocol in ("memory", ("memory",)) or "memory" in fs.protocol:
        return ":memory:"
    raise ArchiveNotFoundError(
        f"An archive on {os.fspath(root)!r} needs its catalog elsewhere: pass catalog='/path/to/catalog.sqlite' "
        "(a local file) or catalog='postgresql://user@host/database' to open_archive(..., create=True)."
    )


def init_archive(root: str | os.PathLike[str], *, catalog: str | None = None) -> Archive:
    """Create a new, empty archive at *root* (its catalog at *catalog*, see :func:`open_archive`).

    Raises
    ------
    ArchiveExistsError
        There is one already.
    """
    fs, path = open_filesystem(root)
    if fs.exists(join(path, CONFIG_NAME)):
        raise ArchiveExistsError(f"An archive already exists at {os.fspath(root)!r}.")
    return open_archive(root, create=True, catalog=catalog)


class Archive:
    """A pacslab archive: lossless originals, a catalog, and Zarr volumes.

    Use :func:`open_archive` to get one.

    Parameters
    ----------
    root : str or path-like
        The archive root (local folder or fsspec URL) holding ``pacslab.yaml``.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.fs, self.root = open_filesystem(root)
        self.url = self.root if is_local(self.fs) else self.fs.unstrip_protocol(self.root)
        self.settings = load_yaml(self.fs.cat_file(join(self.root, CONFIG_NAME)))
        self.originals = OriginalStore(self.fs, self.root)
        #: decoded volume blocks shared by reads of originals whose pixels live in volumes
        self._pixels = PixelSource(self.fs, self.root, cache_bytes=int(config.get("volumes.cache-mb")) << 20)
        location = str(self.settings.get("catalog", "catalog.sqlite"))
        self.catalog: SQLiteCatalog | PostgresCatalog
        if is_postgres_url(location):
            self.catalog = PostgresCatalog(location)
        elif location == ":memory:":
            self.catalog = SQLiteCatalog(":memory:", name=self.url)
        elif os.path.isabs(location) or not is_local(self.fs):
            self.catalog = SQLiteCatalog(location)
        else:
            self.catalog = SQLiteCatalog(os.path.join(self.root, location))

    def __repr__(self) -> str:
        c = self.catalog.counts()
        return (
            f"<pacslab.Archive {self.url!r}: {c['studies']} studies, {c['series']} series, {c['instances']} instances>"
        )

    def close(self) -> None:
        """Close the catalog."""
        self.catalog.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ingest ------------------------------------------------------------------------
    def ingest(
        self,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        progress: bool = True,
        build_volumes: bool | None = None,
        scheduler: Any = None,
    ) -> IngestReport:
        """Ingest DICOM files, folders (recursively) and zip files.

        Parameters
        ----------
        paths : path or iterable of paths
        progress : bool
            Show a progress bar.
        build_volumes : bool, optional
            Build the volumes of new image series at the end (``ingest.build-volumes``).
        scheduler : str or distributed.Client, optional
            Where files are parsed, hashed, compressed and volumes written: this machine's
            worker processes by default (``ingest.scheduler``), or a dask.distributed cluster
            by address (``"tcp://host:8786"``) or Client. Its workers must reach the files and
            the archive's storage by the same paths or URLs; the catalog is written here.

        Returns
        -------
        IngestReport
            Counts of new, duplicate, conflicting and rejected instances; rejected files
            are named with their reason and copied to ``quarantine/``.
        """
        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        return ingest_paths(self, paths, progress=progress, build_volumes=build_volumes, scheduler=scheduler)

    def ingest_bytes(self, data: bytes, *, source: str = "bytes") -> str:
        """Ingest one instance given as bytes; returns ``"new"``, ``"duplicate"``, ``"conflict"`` or ``"rejected"``."""
        return ingest_bytes(self, data, source=source)[0]

    def build_volumes(
        self, series_instance_uid: str | Sequence[str] | None = None, *, progress: bool = False
    ) -> IngestReport:
        """Build the volumes of pending series (or rebuild those of the series given)."""
        series = [series_instance_uid] if isinstance(series_instance_uid, str) else series_instance_uid
        return build_pending_volumes(self, series=series, progress=progress)

    def watch(
        self,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        interval: float | None = None,
        settle: float | None = None,
        stop: Any = None,
        max_cycles: int | None = None,
        progress: bool = False,
    ) -> IngestReport:
        """Ingest files as they appear in watched folders, until *stop* is set.

        A file is ingested once its size and modification time have not changed for
        *settle* seconds, so files still being copied are not read half-written.

        Parameters
        ----------
        paths : path or iterable of paths
            Folders to watch.
        interval, settle : float, optional
            Seconds between scans, and of stability (``ingest.watch-interval``, ``ingest.watch-settle``).
        stop : threading.Event, optional
            Set it to end the watch (Ctrl-C ends it too).
        max_cycles : int, optional
            Stop after this many scans (tests).
        """
        from pacslab.ingest.watch import watch_folders

        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        return watch_folders(
            self, list(paths), interval=interval, settle=settle, stop=stop, max_cycles=max_cycles, progress=progress
        )

    # -- query ------------------------------------------------------------------------
    def patients(
        self,
        *,
        fields: Sequence[str] = (),
        limit: int | None = None,
        offset: int = 0,
        **filters: Any,
    ) -> pd.DataFrame:
        """Patients matching DICOM *filters* (see :meth:`studies`)."""
        return self.catalog.query("patients", filters, fields=fields, limit=limit, offset=offset)

    def studies(
        self,
        *,
        fields: Sequence[str] = (),
        limit: int | None = None,
        offset: int = 0,
        **filters: Any,
    ) -> pd.DataFrame:
        """Studies matching DICOM *filters*, as a DataFrame.

        Filters are DICOM keywords with DICOM matching (PS3.4 C.2.2.2): ``PatientName="doe*"``
        (wildcards ``*`` and ``?``; names ignore case), ``StudyDate="20240101-20240131"``
        (ranges, either end open), ``StudyInstanceUID=[uid1, uid2]`` (lists), and any
        attribute of any instance's header, e.g. ``SliceThickness=2.5``, ``Modality="CT"``.

        Parameters
        ----------
        fields : sequence of str
            Extra keywords to return, read from the stored headers.
        limit, offset : int
            Paging.

        Examples
        --------
        >>> archive.studies(PatientName="DOE^*", StudyDate="2024-")  # doctest: +SKIP
        """
        return self.catalog.query("studies", filters, fields=fields, limit=limit, offset=offset)

    def series(
        self,
        *,
        fields: Sequence[str] = (),
        limit: int | None = None,
        offset: int = 0,
        **filters: Any,
    ) -> pd.DataFrame:
        """Series matching DICOM *filters* (see :meth:`studies`), with their volume state."""
        return self.catalog.query("series", filters, fields=fields, limit=limit, offset=offset)

    def instances(
        self,
        *,
        fields: Sequence[str] = (),
        limit: int | None = None,
        offset: int = 0,
        **filters: Any,
    ) -> pd.DataFrame:
        """Instances matching DICOM *filters* (see :meth:`studies`)."""
        return self.catalog.query("instances", filters, fields=fields, limit=limit, offset=offset)

    def conflicts(self) -> pd.DataFrame:
        """Instances received again under a known SOPInstanceUID with other content."""
        return self.catalog.conflicts()

    def rejections(self) -> pd.DataFrame:
        """Every input that was rejected, why, and where it was quarantined."""
        return self.catalog.rejections()

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
        """The audit table: who did what, when, from where, to which UIDs, with what outcome; oldest first.

        Parameters
        ----------
        action, outcome : str, optional
            Exact values (``"export"``, ``"denied"``, …).
        actor : str, optional
            Who (a token's name, an AE title); ``*`` and ``?`` are wildcards.
        uid : str, optional
            Entries that name this Study, Series or SOP Instance UID.
        since, until : str, optional
            ISO 8601 dates or times (UTC), both inclusive: ``"2026-11-01"``, ``"2026-11-28T10:00"``.
        limit : int, optional
            The newest *limit* entries only.
        """
        return self.catalog.audit_log(
            action=action, actor=actor, outcome=outcome, uid=uid, since=since, until=until, limit=limit
        )

    # -- originals ----------------------------------------------------------------------
    def read_instance(self, sop_instance_uid: str, *, verify: bool = False) -> bytes:
        """The original file of an instance, byte for byte as received.

        Parameters
        ----------
        verify : bool
            Check the bytes against the SHA-256 recorded at ingest.
        """
        return self._read_original(self.catalog.instance(sop_instance_uid), verify=verify)

    def _read_original(
        self,
        row: dict[str, Any],
        *,
        verify: bool = False,
        source: PixelSource | None = None,
        paths: dict[tuple[str, int], str] | None = None,
    ) -> bytes:
        """The original file of a catalog row, whole or rebuilt from its head and its volume frames.

        A rebuilt original is checked after it is read: the catalog must still give this instance
        the same pixel reference and its series the same volume. Volume generations are never
        reused, and the catalog switches both in one transaction before it deletes the old volume,
        so an unchanged pair means the frames came from a live volume that the reference describes;
        otherwise (a rebuild while this was read: the row may be stale, the volume gone, its chunks
        read as fill) it is read again from the catalog's current row. A whole original found
        missing is read again the same way when the catalog now keeps it elsewhere (the first build
        of its series' volume moved its pixel data there and removed the whole file). *paths*
        remembers each ``(series, stack)``'s volume path across the rows of one retrieval.
        """
        source = source or self._pixels
        paths = {} if paths is None else paths
        sop = row["SOPInstanceUID"]
        for attempt in range(3):
            if row["stored_codec"] != Codec.PIXEL_REF.value:
                try:
                    if verify:  # from storage, hashed again
                        return self.originals.read(row["stored_key"], sha256=row["sha256"])
                    return source.whole(self.originals, row["stored_key"])
                except StorageError:  # a volume build may have moved the pixels into the volume meanwhile
                    now = self._row_now(sop)
                    if attempt == 2 or now["stored_key"] == row["stored_key"]:
                        raise
                    row = now
                    continue
            ref = PixelRef.from_json(row["pixel_ref"])
            key = (row["SeriesInstanceUID"], ref.stack)
            path = paths.get(key) or self._volume_row(*key)["path"]
            try:
                data = source.original(self.originals, row, path, verify=verify, ref=ref)
            except StorageError:
                if attempt == 2:
                    raise
                data = None
            now = self._row_now(sop)
            if data is not None and now["pixel_ref"] == row["pixel_ref"] and self._volume_row(*key)["path"] == path:
                paths[key] = path
                return data
            paths.pop(key, None)
            row = now
        raise StorageError(f"The original of {sop!r} kept changing while it was read (its series is being rebuilt).")

    def _row_now(self, sop: str) -> dict[str, Any]:
        """The catalog's current row of an instance being read (a build or a delete may have changed it)."""
        now = self.catalog.instance_keys(sop_instance_uid=sop)
        if not now:
            raise InstanceNotFoundError(f"Instance {sop!r} was deleted while it was read.")
        return now[0]

    def dataset(self, sop_instance_uid: str, *, stop_before_pixels: bool = False) -> pydicom.Dataset:
        """An instance as a :class:`pydicom.Dataset`."""
        data = self.read_instance(sop_instance_uid)
        force = not (len(data) >= 132 and data[128:132] == b"DICM")
        return pydicom.dcmread(io.BytesIO(data), force=force, stop_before_pixels=stop_before_pixels)

    def iter_instances(self, uid: str, *, as_buffers: bool = False) -> Any:
        """Yield ``(SOPInstanceUID, bytes)`` of every instance of a study, series or one instance.

        Originals rebuilt from their volume are checked against the catalog as
        :meth:`_read_original` does, a few at a time: one query for several instances.

        Parameters
        ----------
        uid : str
            A StudyInstanceUID, SeriesInstanceUID or SOPInstanceUID.
        as_buffers : bool
            Yield each file as a list of buffers that make it up when joined (an original rebuilt
            from its volume: its head, then byte views of its frames in the decoded blocks), for a
            writer that sends them one after the other without copying the pixel data again.
        """
        if not as_buffers:
            for sop, buffers in self.iter_instances(uid, as_buffers=True):
                yield sop, buffers[0] if len(buffers) == 1 else b"".join(buffers)
            return
        source = self._pixels
        paths: dict[tuple[str, int], str] = {}
        read: list[tuple[dict[str, Any], list[bytes | memoryview] | None, tuple[str, int], str]] = []
        for row in self._instance_rows(uid):
            if row["stored_codec"] != Codec.PIXEL_REF.value:
                yield from self._checked(read, source, paths)
                read = []
                yield row["SOPInstanceUID"], [self._read_original(row, source=source, paths=paths)]
                continue
            ref = PixelRef.from_json(row["pixel_ref"])
            key = (row["SeriesInstanceUID"], ref.stack)
            path = paths.get(key) or self._volume_row(*key)["path"]
            paths[key] = path
            try:
                data: list[bytes | memoryview] | None = source.original_buffers(self.originals, row, path, ref=ref)
            except StorageError:
                data = None
            read.append((row, data, key, path))
            if len(read) == _CHECK_EVERY:
                yield from self._checked(read, source, paths)
                read = []
        yield from self._checked(read, source, paths)

    def _checked(
        self,
        read: list[tuple[dict[str, Any], list[bytes | memoryview] | None, tuple[str, int], str]],
        source: PixelSource,
        paths: dict[tuple[str, int], str],
    ) -> Iterator[tuple[str, list[bytes | memoryview]]]:
        """Originals rebuilt by :meth:`iter_instances`, once the catalog shows they were read from live volumes.

        Any whose pixel reference or volume changed meanwhile is read again by :meth:`_read_original`.
        """
        if not read:
            return
        refs = self.catalog.pixel_refs([row["SOPInstanceUID"] for row, *_ in read])
        live: dict[tuple[str, int], str | None] = {}
        for key in {key for _, _, key, _ in read}:
            try:
                live[key] = self._volume_row(*key)["path"]
            except (SeriesNotFoundError, VolumeNotFoundError):
                live[key] = None
        for row, data, key, path in read:
            sop = row["SOPInstanceUID"]
            if data is not None and sop in refs and refs[sop] == row["pixel_ref"] and live[key] == path:
                yield sop, data
            else:
                paths.pop(key, None)
                yield sop, [self._read_original(row, source=source, paths=paths)]

    def _instance_rows(self, uid: str) -> list[dict[str, Any]]:
        level = self.catalog.level_of(uid)
        key = {
            "study": "study_instance_uid",
            "series": "series_instance_uid",
            "instance": "sop_instance_uid",
        }[level]
        return self.catalog.instance_keys(**{key: uid})

    def export(
        self,
        uids: str | Iterable[str] | pd.DataFrame | pd.Series,
        destination: str | os.PathLike[str],
        *,
        format: str | None = None,
        deidentify: bool | str = False,
        options: Iterable[str] = (),
        allow_burned_in: bool = False,
    ) -> ExportReport:
        """Export studies, series or instances to a local folder or zip file, as DICOM, NIfTI or OME-Zarr.

        Parameters
        ----------
        uids : str, iterable of str, or DataFrame
            StudyInstanceUIDs, SeriesInstanceUIDs and SOPInstanceUIDs, or a cohort from
            :meth:`series` (its SOPInstanceUID, SeriesInstanceUID or StudyInstanceUID column,
            the first present).
        destination : path
            A folder (created when missing), or for ``format="zip"`` a zip file that does
            not exist yet. Never a place inside the archive.
        format : {"dicom", "zip", "nifti", "ome-zarr"}, optional
            ``dicom``: the files as ``STUDY/SERIES/SOP.dcm``, originals byte for byte.
            ``zip``: the same layout in a zip file, which appears only once complete.
            ``nifti``: one ``STUDY/SERIES.nii.gz`` per volume (``SERIES_stackN`` for further
            stacks), with the RAS affine and values in modality units (HU for CT).
            ``ome-zarr``: a copy of each volume as ``STUDY/SERIES.ome.zarr`` (NGFF 0.5).
            By default ``zip`` when *destination* ends in ``.zip``, else ``dicom``.
        deidentify : bool or str
            Apply the PS3.15 Basic Profile (:mod:`pacslab.anonymize`) in this project
            (``True``: project ``"default"``). Names then come from the replaced UIDs, the
            originals never leave, and the way back is kept for administrators.
        options : iterable of str
            PS3.15 options, e.g. ``"retain-longitudinal-modified-dates"`` (with *deidentify*).
        allow_burned_in : bool
            De-identified exports hold back images that may show identifying text in their
            pixels (and, for NIfTI and OME-Zarr, their whole series) unless this is True.

        Returns
        -------
        ExportReport
            Files (or zip members) written, and what was held back and why; iterating over
            it gives the paths written.

        Raises
        ------
        ExportError
            A bad destination, format, option, or a UID that is not in the archive.

        Examples
        --------
        >>> archive.export(study_uid, "out/")  # doctest: +SKIP
        >>> archive.export(archive.series(Modality="CT"), "ct.zip", deidentify="trial-7")  # doctest: +SKIP
        >>> archive.export(series_uid, "nifti/", format="nifti")  # doctest: +SKIP

        .. versionchanged:: 0.1
           Several UIDs or a cohort, zip, NIfTI and OME-Zarr, de-identification; returns an ExportReport.
        """
        from pacslab.export import export

        return export(self, uids, destination, format=format, deidentify=deidentify, options=options,
                      allow_burned_in=allow_burned_in)  # fmt: skip

    def send(
        self,
        uids: str | Iterable[str] | pd.DataFrame | pd.Series,
        remote: Any,
        *,
        deidentify: bool | str = False,
        options: Iterable[str] = (),
        allow_burned_in: bool = False,
        token: str | None = None,
        calling_ae_title: str | None = None,
    ) -> ExportReport:
        """Send studies, series or instances to a remote AE (C-STORE) or a DICOMweb server (STOW-RS).

        Parameters
        ----------
        uids : str, iterable of str, or DataFrame
            As for :meth:`export`.
        remote : str, RemoteAE or tuple
            ``"AET@host:port"``, the name of a remote in ``dimse.remotes``, a
            :class:`~pacslab.dimse.RemoteAE`, or a DICOMweb base URL
            (``"https://pacs.example/dicom-web"``: instances are POSTed to ``…/studies``).
        deidentify, options, allow_burned_in
            As for :meth:`export`. Plain sends carry the originals byte for byte.
        token : str, optional
            Bearer token for the DICOMweb server.
        calling_ae_title : str, optional
            Our AE title for C-STORE (``dimse.ae-title``).

        Returns
        -------
        ExportReport
            ``written`` holds the SOPInstanceUIDs the remote stored, ``failures`` the others.

        Raises
        ------
        RemoteError
            The remote cannot be reached or refuses the association or the token.
        ExportError
            A bad option, URL, or a UID that is not in the archive.

        Examples
        --------
        >>> archive.send(study_uid, "ORTHANC@127.0.0.1:4242")  # doctest: +SKIP
        >>> archive.send(cohort, "https://pacs.example/dicom-web", token=token, deidentify="trial-7")  # doctest: +SKIP
        """
        from pacslab.export import send

        return send(self, uids, remote, deidentify=deidentify, options=options, allow_burned_in=allow_burned_in,
                    token=token, calling_ae_title=calling_ae_title)  # fmt: skip

    # -- volumes --------------------------------------------------------------------------
    def volumes(self, series_instance_uid: str | None = None) -> pd.DataFrame:
        """The volumes of a series (or all), one row per stack."""
        import pandas as pd

        return pd.DataFrame(self.catalog.volumes(series_instance_uid))

    def _volume_row(self, series_instance_uid: str, stack: int) -> dict[str, Any]:
        rows = self.catalog.volumes(series_instance_uid)
        for row in rows:
            if row["stack_index"] == stack:
                return row
        series = self.catalog.query("series", {"SeriesInstanceUID": series_instance_uid})
        if series.empty:
            raise SeriesNotFoundError(f"No series with SeriesInstanceUID {series_instance_uid!r} is in the archive.")
        state, reason = series.iloc[0]["volume_state"], series.iloc[0]["volume_reason"]
        if rows:
            raise VolumeNotFoundError(
                f"Series {series_instance_uid!r} has {len(rows)} stacks (0–{len(rows) - 1}), not {stack}."
            )
        hint = {
            "pending": "it is still to be built: call archive.build_volumes()",
            "failed": f"building it failed: {reason}",
            "none": "the series has no image instances",
        }.get(state, state)
        raise VolumeNotFoundError(f"Series {series_instance_uid!r} has no volume: {hint}.")

    def open_volume(
        self, series_instance_uid: str, *, stack: int = 0, rescale: bool = True, chunks: Any = None
    ) -> xr.DataArray:
        """A series as a lazy, dask-backed :class:`xarray.DataArray`.

        Dims are ``("z", "y", "x")`` — with a leading ``"c"`` for colour and a leading
        4th dimension (``echo_time``, ``temporal_position``, …) for 4-D series — and
        coordinates are millimetres along each axis (``z`` holds each slice's position
        along the slice normal). ``attrs`` carry spacing, origin, direction, affine,
        window presets and the DICOM identity.

        Parameters
        ----------
        series_instance_uid : str
        stack : int
            Which stack, when the series was split (see :meth:`volumes`); 0 is the largest.
        rescale : bool
            Values in modality units (HU for CT) — computed lazily; ``False`` for stored values.
        chunks : optional
            Dask chunks (the Zarr chunks by default), or a dict by dim name (``{"z": 32, "y": -1,
            "x": -1}``: -1 is the whole axis; dims left out keep the Zarr chunks).
        """
        row = self._volume_row(series_instance_uid, stack)
        return read_volume(self.fs, join(self.root, row["path"]), rescale=rescale, chunks=chunks)

    def load_volume(self, series_instance_uid: str, **kwargs: Any) -> xr.DataArray:
        """Like :meth:`open_volume`, loaded into memory."""
        return self.open_volume(series_instance_uid, **kwargs).load()

    # -- widgets (lazy: pacslab.widgets needs the widgets extra) ---------------------------------
    def browse(self, **kwargs: Any) -> Any:
        """A study browser widget (:class:`pacslab.widgets.StudyBrowser`)."""
        from pacslab.widgets import StudyBrowser

        return StudyBrowser(self, **kwargs)

    def view(self, series_instance_uid: str, **kwargs: Any) -> Any:
        """A slice viewer widget of a series (:class:`pacslab.widgets.Viewer`)."""
        from pacslab.widgets import Viewer

        return Viewer(self, series_instance_uid, **kwargs)

    def view3d(self, series_instance_uid: str, **kwargs: Any) -> Any:
        """A 3-D view of a series (:func:`pacslab.widgets.view3d`)."""
        from pacslab.widgets import view3d

        return view3d((self, series_instance_uid), **kwargs)

    def _series_identity(self, series_instance_uid: str) -> dict[str, Any]:
        rows = self.catalog.query_records("series", {"SeriesInstanceUID": series_instance_uid}, limit=1)
        if not rows:
            raise SeriesNotFoundError(f"No series with SeriesInstanceUID {series_instance_uid!r} is in the archive.")
        return series_identity(rows[0])

    # -- maintenance -----------------------------------------------------------------------
    def delete(self, *, study_instance_uid: str | None = None, series_instance_uid: str | None = None) -> int:
        """Delete a study or a series: catalog rows first, then originals and volumes.

        Returns
        -------
        int
            Instances deleted.
        """
        removed = self.catalog.delete(study_instance_uid=study_instance_uid, series_instance_uid=series_instance_uid)
        for key in removed["stored_keys"]:
            self.originals.delete(key)
        for series in removed["series_instance_uids"]:
            full = join(self.root, "volumes", series)
            if self.fs.exists(full):
                self.fs.rm(full, recursive=True)
        uid = study_instance_uid or series_instance_uid
        self.catalog.audit("delete", uids=[str(uid)], count=len(removed["sop_instance_uids"]))
        return len(removed["sop_instance_uids"])

    def verify(self, *, rehash: bool = True) -> VerifyReport:
        """Check that catalog, originals and volumes agree.

        A live archive changes while it is checked (a volume rebuilt, an ingest committing), so
        what one pass finds is checked again against the catalog as it is then, and only what
        persists is reported.

        Parameters
        ----------
        rehash : bool
            Read every original and compare its SHA-256 with the one recorded at ingest.
        """
        report, flagged = self._verify_pass(rehash=rehash)
        for _ in range(2):
            if report.ok and not report.orphans and not report.orphan_volumes:
                break
            again, flagged = self._verify_pass(rehash=rehash, only=flagged)
            persisting = VerifyReport(
                problems=[p for p in report.problems if p in set(again.problems)],
                orphans=sorted(set(report.orphans) & set(again.orphans)),
                orphan_volumes=sorted(set(report.orphan_volumes) & set(again.orphan_volumes)),
                pending=again.pending,
                checked=report.checked,
            )
            done = (persisting.problems, persisting.orphans, persisting.orphan_volumes) == (
                report.problems,
                report.orphans,
                report.orphan_volumes,
            )
            report = persisting
            if done:
                break
        return report

    def _verify_pass(self, *, rehash: bool, only: set[str] | None = None) -> tuple[VerifyReport, set[str]]:
        """One pass of :meth:`verify`; rehash only the instances in *only* when given.

        Returns the report and the SOPInstanceUIDs it found a problem with.
        """
        report = VerifyReport()
        flagged: set[str] = set()
        rows = self.catalog.instance_keys()
        stored = set(self.originals.iter_keys()) | self.originals.heads_present([row["stored_key"] for row in rows])
        referenced = set()
        source = PixelSource(self.fs, self.root)
        for row in rows:
            key, sop = row["stored_key"], row["SOPInstanceUID"]
            referenced.add(key)
            if key not in stored:
                report.problems.append(f"instance {sop}: original {key} is missing")
                flagged.add(sop)
            elif rehash and (only is None or sop in only):
                try:
                    data = self._read_original(row, source=source)
                except (StorageError, VolumeNotFoundError) as exc:
                    report.problems.append(f"instance {sop}: {exc}")
                    flagged.add(sop)
                    continue
                if len(data) != row["size"] or sha256_hex(data) != row["sha256"]:
                    report.problems.append(f"instance {sop}: original {key} does not match its SHA-256")
                    flagged.add(sop)
        for row in self.catalog.conflict_keys():
            referenced.add(row["stored_key"])
            if row["stored_key"] not in stored:
                report.problems.append(f"conflicting copy of {row['SOPInstanceUID']}: {row['stored_key']} is missing")
        report.orphans = sorted(stored - referenced)
        report.problems += self.catalog.count_consistency()
        volumes = self.catalog.volumes()
        for v in volumes:
            try:
                array = open_volume_group(self.fs, join(self.root, v["path"]))["0"]
                if list(array.shape) != v["shape"]:
                    report.problems.append(
                        f"volume {v['path']}: shape {list(array.shape)} but the catalog says {v['shape']}"
                    )
            except Exception as exc:  # noqa: BLE001
                report.problems.append(f"volume {v['path']} of series {v['SeriesInstanceUID']} cannot be opened: {exc}")
        with_volumes = {v["SeriesInstanceUID"] for v in volumes}
        for uid in self.catalog.series_by_state("ready"):
            if uid not in with_volumes:
                report.problems.append(f"series {uid} is marked ready but has no volume")
        report.orphan_volumes = self._orphan_generations(volumes)
        report.pending = self.catalog.series_by_state("pending")
        report.checked = {"instances": len(rows), "blobs": len(stored), "volumes": len(volumes)}
        return report, flagged

    def _orphan_generations(self, volumes: list[dict[str, Any]]) -> list[str]:
        """The volume generation folders in storage that none of the catalog's *volumes* rows lies in."""
        live = {volume_generation(v["path"]) for v in volumes}
        base = join(self.root, "volumes")
        if not self.fs.exists(base):
            return []
        found = []
        for series in self.fs.ls(base, detail=True):
            if series["type"] != "directory":
                continue
            for generation in self.fs.ls(series["name"], detail=True):
                parts = generation["name"].rstrip("/").rsplit("/", 2)[-2:]
                path = f"volumes/{parts[0]}/{parts[1]}"
                if generation["type"] == "directory" and path not in live:
                    found.append(path)
        return sorted(found)

    def remove_orphan_volumes(self, *, older_than: float = 3600.0) -> list[str]:
        """Remove the volume generations no catalog row points at (:attr:`VerifyReport.orphan_volumes`).

        A build that was killed before its commit leaves its generation behind. A build
        under way, or waiting for its commit, has one that is not in the catalog yet either:
        only generations none of whose files changed for *older_than* seconds are removed.

        Parameters
        ----------
        older_than : float
            Seconds since the last change of any file of a generation (an hour by default:
            longer than any build waits for its commit).

        Returns
        -------
        list of str
            The generations removed, as ``volumes/<series>/<generation>``.
        """
        removed = []
        for path in self._orphan_generations(self.catalog.volumes()):
            if time.time() - self._last_change(join(self.root, path)) < older_than:
                continue
            remove_generation(self.fs, self.root, path)
            removed.append(path)
            logger.info("removed the orphan volume generation %s", path)
            series = join(self.root, path.rsplit("/", 1)[0])
            try:
                if self.fs.exists(series) and not self.fs.ls(series):
                    self.fs.rmdir(series)
            except OSError:  # a build began a generation there meanwhile
                pass
        return removed

    def _last_change(self, folder: str) -> float:
        """The newest modification time (epoch seconds) of the files under *folder* (now when unknown)."""
        newest = 0.0
        for info in self.fs.find(folder, detail=True).values():
            stamp = info.get("mtime", info.get("created", info.get("LastModified")))  # local, memory, S3
            if stamp is None:
                return time.time()
            newest = max(newest, stamp.timestamp() if isinstance(stamp, _dt.datetime) else float(stamp))
        return newest

    def info(self) -> dict[str, Any]:
        """Counts and sizes."""
        return {
            "root": self.url,
            **self.catalog.counts(),
            **self.catalog.size_stats(),
            "pending_volumes": len(self.catalog.series_by_state("pending")),
        }

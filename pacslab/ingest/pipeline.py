"""The ingest pipeline: sources → worker processes (parse, hash, store) → catalog → volumes.

Workers do the per-file work in parallel and write originals straight to storage
(atomically); the calling process alone writes the catalog, in transactions of
``ingest.commit-every`` instances. An original is always in storage before its
catalog row commits, so a crash at any point leaves a consistent archive (at
worst blobs no row points at yet, which the next ingest of the same files
adopts). A folder goes to one worker whole, which also builds the volumes of its
series from the bytes in memory; they are committed once the catalog shows each
series was whole. The volumes of the other series are built afterwards, one
series per task.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import dataclasses
import gc
import itertools
import logging
import math
import multiprocessing
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pacslab._progress import progress_bar
from pacslab.config import config
from pacslab.errors import EncryptionKeyError
from pacslab.ingest._prepare import Rejection, prepare_instance
from pacslab.ingest.report import IngestReport
from pacslab.ingest.scan import Source, absolute, list_sources
from pacslab.storage import OriginalStore, is_local, join, open_filesystem, write_atomic

if TYPE_CHECKING:
    from pacslab.archive import Archive
    from pacslab.catalog import InstanceRecord
    from pacslab.volumes.builder import BuildResult

__all__ = [
    "build_pending_volumes",
    "commit_build",
    "ingest_bytes",
    "ingest_executor",
    "ingest_many",
    "ingest_paths",
    "ingest_sources",
    "Spooled",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Below this many files the work runs in the calling process (no start-up cost).
INLINE_LIMIT = 24


def _workers() -> int:
    n = int(config.get("ingest.workers"))
    return n if n > 0 else (os.cpu_count() or 1)


# -- worker side -------------------------------------------------------------------
_STORES: dict[str, OriginalStore] = {}


def _store(root_url: str) -> OriginalStore:
    if root_url not in _STORES:
        fs, root = open_filesystem(root_url)
        _STORES[root_url] = OriginalStore(fs, root)
    return _STORES[root_url]


#: Bytes of the input's name kept in a quarantine file name (its ".reason.txt" names the input whole).
_QUARANTINE_NAME_MAX = 120


def quarantine(store: OriginalStore, name: str, data: bytes, reason: str, sha256: str | None) -> str:
    """Copy a rejected file to ``quarantine/`` with a ``.reason.txt`` beside it; return its key."""
    base = os.path.basename(name.replace(":", "/")) or "unnamed"
    base = os.fsdecode(os.fsencode(base)[-_QUARANTINE_NAME_MAX:])  # a name near the 255-byte limit must not fail it
    key = f"quarantine/{(sha256 or 'nohash')[:16]}-{base}"
    root = store.root.rsplit("/originals", 1)[0]
    write_atomic(store.fs, join(root, key), data)
    write_atomic(store.fs, join(root, key + ".reason.txt"), f"{name}\n{reason}\n".encode())
    return key


@dataclasses.dataclass(frozen=True)
class Spooled:
    """A received file already written to *path* on the archive's disk (a STOW-RS part, :meth:`OriginalStore.spool`).

    The worker that prepares it reads it there, and an original stored as received is this
    file moved into place: its bytes cross no pipe and are not written a second time.
    """

    path: str


def _prepare_one(
    store: OriginalStore, name: str, data: bytes, *, hold: bool = False, received: str | None = None
) -> InstanceRecord | Rejection:
    try:
        result = prepare_instance(data, name, store, hold=hold, received=received)
    except EncryptionKeyError:
        raise  # no key for an encrypted archive: the archive's problem, not the file's
    except Exception as exc:  # noqa: BLE001 - one bad file never stops a batch
        logger.exception("unexpected failure preparing %s", name)
        result = Rejection(name, f"internal error while archiving ({type(exc).__name__}: {exc})")
    if isinstance(result, Rejection):
        key = quarantine(store, name, data, result.reason, result.sha256)
        result = Rejection(result.source, result.reason, result.sha256, key)
    return result


#: A series' volumes built by the worker that prepared it whole (see :func:`_build_whole_series`),
#: with the SOPInstanceUIDs and the series identity they were built from.
SeriesBuild = tuple[list[str], dict[str, Any], "BuildResult"]


def _prepare_batch(
    root_url: str, sources: Sequence[Source], build: bool = False
) -> tuple[list[tuple[int, InstanceRecord | Rejection]], list[SeriesBuild]]:
    """Prepare *sources*; with *build* (a batch of whole folders), build their series' volumes too."""
    store = _store(root_url)
    out: list[tuple[int, InstanceRecord | Rejection]] = []
    images: dict[int, bytes] = {}  # place in *out* → bytes, of the image instances
    for source in sources:
        try:
            data = source.read()
        except OSError as exc:
            out.append((0, Rejection(source.name, f"cannot read the file: {exc.strerror or exc}")))
            continue
        result = _prepare_one(store, source.name, data, hold=build)
        out.append((len(data), result))
        if build and not isinstance(result, Rejection) and result.has_pixels:
            images[len(out) - 1] = data
    if not images:
        return out, []
    records = [r for _, r in out if not isinstance(r, Rejection)]
    twice = {sop for sop, n in collections.Counter(r.sop_instance_uid for r in records).items() if n > 1}
    # a series with an instance that is in the batch twice (conflicting copies) is left to the build afterwards
    builds = _build_whole_series(
        root_url, [(out[i][1], data) for i, data in images.items() if out[i][1].sop_instance_uid not in twice]
    )
    # what no volume took is stored now, as it would have been at once
    taken = {u["SOPInstanceUID"] for _, _, r in builds for u in r.instance_updates}
    for i, data in images.items():
        size, result = out[i]
        if result.held and result.sop_instance_uid not in taken:  # its series was not built, or not from it
            key, codec, stored = store.put(data, result.sha256, defer=True)
            out[i] = (size, dataclasses.replace(result, stored_key=key, stored_codec=codec.value, stored_size=stored,
                                                 held=False))  # fmt: skip
    return out, builds


def _build_whole_series(root_url: str, images: list[tuple[InstanceRecord, bytes]]) -> list[SeriesBuild]:
    """Build the volumes of the series in *images* from the bytes in memory, as if each series were whole.

    The files were just read and hashed here: building reads them neither from storage nor
    hashes them again, and spreads over the workers with the batches. Whether a series was
    whole (no instance of it elsewhere) is known only once the catalog has the batch's rows:
    :func:`_commit_series_build` commits the build with the rows then, or removes what it wrote.
    """
    from pacslab.volumes.builder import build_series_volumes, series_identity

    by_series: dict[str, list[tuple[InstanceRecord, bytes]]] = {}
    for record, data in images:
        by_series.setdefault(record.series_instance_uid, []).append((record, data))
    fs, root = open_filesystem(root_url)
    builds: list[SeriesBuild] = []
    for items in by_series.values():
        sops = [record.sop_instance_uid for record, _ in items]
        rows = sorted((_frame_row(record) for record, _ in items), key=_catalog_order)
        preloaded = {record.sop_instance_uid: data for record, data in items}
        try:
            # the values the catalog keeps of a new series: those of its first instance in SOPInstanceUID order
            identity = series_identity(min(items, key=lambda item: item[0].sop_instance_uid)[0].attributes)
            result = build_series_volumes(fs, root, rows, identity, {}, preloaded=preloaded)
        except Exception:  # noqa: BLE001 - the build afterwards tries again and reports why
            logger.exception("building series %s from memory failed", items[0][0].series_instance_uid)
            continue
        builds.append((sops, identity, result))
    return builds


def _frame_row(record: InstanceRecord) -> dict[str, Any]:
    """What :meth:`~pacslab.catalog.SQLiteCatalog.frames_of_series` gives of an instance, from its record."""
    return {
        "SOPInstanceUID": record.sop_instance_uid,
        "InstanceNumber": record.attributes.get("InstanceNumber"),
        "stored_key": None if record.held else record.stored_key,  # held back: never written, nothing to replace
        "stored_codec": record.stored_codec,
        "stored_size": record.stored_size,
        "pixel_ref": None,
        "sha256": record.sha256,
        "size": record.size,
        "geometry": record.geometry,
    }


def _catalog_order(row: dict[str, Any]) -> tuple[bool, int, str]:
    """The catalog's order of a series' frames: InstanceNumber (missing first), then SOPInstanceUID."""
    number = row["InstanceNumber"]
    return number is not None, number or 0, row["SOPInstanceUID"]


def _prepare_items(root_url: str, items: Sequence[tuple[str, bytes | Spooled]]) -> list[InstanceRecord | Rejection]:
    store = _store(root_url)
    return [_prepare_item(store, name, payload) for name, payload in items]


def _prepare_item(store: OriginalStore, name: str, payload: bytes | Spooled) -> InstanceRecord | Rejection:
    if not isinstance(payload, Spooled):
        return _prepare_one(store, name, payload)
    try:
        with open(payload.path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return Rejection(name, f"the received file could not be read back ({exc.strerror or exc})")
    return _prepare_one(store, name, data, received=payload.path)


def _build_one(
    root_url: str, rows: list[dict[str, Any]], attributes: dict[str, Any], volume_paths: dict[int, str]
) -> BuildResult:
    from pacslab.volumes.builder import build_series_volumes

    fs, root = open_filesystem(root_url)
    return build_series_volumes(fs, root, rows, attributes, volume_paths)


# -- calling side ------------------------------------------------------------------
def _executor(root_url: str, n_tasks: int, *, fork: bool | None = None) -> cf.Executor | None:
    """Worker processes (threads for storage that lives in this process); None for one task or one core.

    *fork*: start workers by forking this process; by default only when it runs no other thread
    now. An executor kept while threads start (a server's) must not fork: workers start on demand.
    """
    if n_tasks <= 1:
        return None
    fs, _ = open_filesystem(root_url)
    workers = min(_workers(), n_tasks)
    if workers <= 1:
        return None
    if not is_local(fs):  # memory:// and friends live in this process only
        return cf.ThreadPoolExecutor(workers)
    if threading.active_count() == 1 if fork is None else fork:  # nothing to break: start workers at no import cost
        context = multiprocessing.get_context("fork")
    else:  # a kernel or a server with threads: fork is unsafe there
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["pacslab.ingest.pipeline", "pacslab.volumes.builder"])
    settings = {section: config.get(section) for section in _WORKER_SECTIONS}
    return cf.ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(settings,))


#: Config sections workers read (forkserver workers do not inherit ``config.set``: they get them at start).
_WORKER_SECTIONS = ("storage", "volumes")


@contextlib.contextmanager
def _open_executor(root_url: str, n_tasks: int, scheduler: Any = None) -> Iterator[cf.Executor | None]:
    """Where the per-file work runs: local worker processes, or a dask.distributed cluster.

    *scheduler* (or ``ingest.scheduler``): None for this machine's worker processes; a
    scheduler address (``tcp://host:8786``) or a :class:`distributed.Client` to run the
    parsing, hashing, compression and volume writing on that cluster's workers, which must
    reach the archive's storage (a shared path, or an object-store URL) and the input files
    by the same paths. The catalog is written here, by the caller, as with local workers.
    """
    spec = config.get("ingest.scheduler") if scheduler is None else scheduler
    if spec in (None, "", "processes", "local"):
        executor = _executor(root_url, n_tasks)
        try:
            yield executor
        finally:
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)
        return
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - distributed is in the analysis extra
        raise ImportError(f"Ingesting on {spec!r} needs dask.distributed: pip install 'pacslab[analysis]'.") from exc
    if isinstance(spec, str) and "://" not in spec and ":" not in spec:
        raise ValueError(
            f"Unknown ingest scheduler {spec!r} (ingest.scheduler): expected 'processes', a dask scheduler "
            "address such as 'tcp://127.0.0.1:8786', or a distributed.Client."
        )
    client = spec if isinstance(spec, Client) else Client(spec, timeout=int(config.get("analysis.connect-timeout")))
    try:
        workers = sum(client.nthreads().values())
        logger.info("ingesting on the dask cluster %s (%d worker threads)", client.scheduler.address, workers)
        executor = client.get_executor(pure=False)
        try:
            yield executor
        finally:
            executor.shutdown(wait=True)
    finally:
        if client is not spec:
            client.close()


def _init_worker(settings: dict[str, Any]) -> None:
    """The caller's storage and volume settings (the encryption key too); one Blosc thread per worker.

    What the worker holds once started (modules, the settings) is moved out of the garbage
    collector's sight: the many small objects parsing makes trigger collections that would
    otherwise walk all of it again and again.
    """
    from numcodecs import blosc

    from pacslab._serving import keep_freed_memory

    config.update(settings)
    blosc.set_nthreads(1)
    keep_freed_memory()
    gc.freeze()


def _bounded_map(
    executor: cf.Executor | None,
    fn: Callable[..., T],
    tasks: Iterable[tuple[Any, ...]],
    inflight: int,
) -> Iterator[T]:
    """``map`` that keeps at most *inflight* tasks queued, so memory stays flat on any input size."""
    if executor is None:
        for args in tasks:
            yield fn(*args)
        return
    queue: deque[cf.Future[T]] = deque()
    for args in tasks:
        queue.append(executor.submit(fn, *args))
        if len(queue) >= inflight:
            yield queue.popleft().result()
    while queue:
        yield queue.popleft().result()


def _batches(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def _folder_batches(
    sources: Sequence[Source], size: int, max_bytes: int
) -> Iterator[tuple[list[Source], bool, int | None]]:
    """*sources* in batches for the workers, each with whether it holds whole folders and its bytes.

    The files of one folder go to one worker together (with other whole folders, up to
    *size* files), so that it can build the volumes of the series they hold from memory.
    Folders of more than *max_bytes*, and zip files, go in pieces of *size* files (bytes None).
    """
    batch: list[Source] = []
    batch_bytes = 0
    for _, members in itertools.groupby(sources, key=lambda s: (s.member is not None, os.path.dirname(s.path))):
        group = list(members)
        nbytes = _bytes(group)
        if nbytes is None or nbytes > max_bytes:
            if batch:
                yield batch, True, batch_bytes
                batch, batch_bytes = [], 0
            yield from ((piece, False, None) for piece in _batches(group, size))
            continue
        if batch and (len(batch) + len(group) > size or batch_bytes + nbytes > max_bytes):
            yield batch, True, batch_bytes
            batch, batch_bytes = [], 0
        batch += group
        batch_bytes += nbytes
    if batch:
        yield batch, True, batch_bytes


def _largest_first(batches: Iterable[tuple[list[Source], bool, int | None]]) -> list[tuple[int, list[Source], bool]]:
    """The batches, each with the index of its first source, the largest first (pieces of unknown size lead).

    Longest processing time first: the big series are built while every worker is busy and
    the small folders fill in at the end, instead of one worker building the last big series
    while the others wait.
    """
    placed: list[tuple[int, list[Source], bool, float]] = []
    start = 0
    for batch, build, nbytes in batches:
        placed.append((start, batch, build, math.inf if nbytes is None else nbytes))
        start += len(batch)
    placed.sort(key=lambda item: -item[3])  # stable: equal sizes keep their order
    return [(start, batch, build) for start, batch, build, _ in placed]


def _bytes(sources: list[Source]) -> int | None:
    """Bytes of files on disk (one that vanished counts nothing: reading it reports it); None for zip members."""
    if any(s.member is not None for s in sources):
        return None
    total = 0
    for source in sources:
        with contextlib.suppress(OSError):
            total += os.path.getsize(source.path)
    return total


def ingest_paths(
    archive: Archive,
    paths: Iterable[str | os.PathLike[str]],
    *,
    progress: bool = True,
    build_volumes: bool | None = None,
    source_prefix: str = "",
    scheduler: Any = None,
) -> IngestReport:
    """Ingest files, folders and zip files into *archive* (see :meth:`Archive.ingest`)."""
    start = time.perf_counter()
    report = IngestReport()
    sources, missing = list_sources(absolute(paths))
    for path, reason in missing:
        report.rejected.append((path, reason))
    build = bool(build_volumes if build_volumes is not None else config.get("ingest.build-volumes"))
    with _open_executor(archive.url, len(sources) // INLINE_LIMIT + 1, scheduler) as executor:
        ingest_sources(archive, sources, report, executor=executor, progress=progress, build_volumes=build)
        if build:
            build_pending_volumes(archive, executor=executor, progress=progress, report=report)
    report.seconds = time.perf_counter() - start
    archive.catalog.audit(
        "ingest",
        service="files",
        count=report.new,
        outcome="success" if report.ok else "partial",
        detail=report.summary(),
    )
    return report


def ingest_sources(
    archive: Archive,
    sources: Sequence[Source],
    report: IngestReport,
    *,
    executor: cf.Executor | None = None,
    progress: bool = False,
    on_done: Callable[[int, str, InstanceRecord | Rejection], None] | None = None,
    build_volumes: bool = False,
) -> IngestReport:
    """The per-file part of :func:`ingest_paths`: prepare *sources* (in *executor*), commit them in order.

    *on_done* ``(index, outcome, result)`` is called for each source once its outcome is final:
    after its catalog row committed (``"new"``, ``"duplicate"``, ``"conflict"``) or its
    rejection was recorded and the file quarantined (``"rejected"``).

    *build_volumes*: the files of a folder go to one worker, which builds the volumes of the
    series it finds whole there from the bytes in memory; the other series stay pending.
    """
    batch_size = int(config.get("ingest.batch-size"))
    bar = progress_bar(len(sources), unit="file", desc="ingest", show=progress)
    pending: list[tuple[int, InstanceRecord]] = []
    commit_every = int(config.get("ingest.commit-every"))
    if build_volumes:
        batches = _largest_first(_folder_batches(sources, batch_size, int(config.get("ingest.folder-batch-bytes"))))
    else:
        batches = [(k * batch_size, batch, False) for k, batch in enumerate(_batches(sources, batch_size))]
    tasks = ((archive.url, batch, build) for _, batch, build in batches)
    done = _bounded_map(executor, _prepare_batch, tasks, inflight=2 * _workers())
    for (index, _, _), (results, built) in zip(batches, done, strict=True):
        of_build = {sop: k for k, (sops, _, _) in enumerate(built) for sop in sops}
        grouped: list[list[tuple[int, InstanceRecord]]] = [[] for _ in built]
        for size, result in results:
            report.bytes_in += size
            if isinstance(result, Rejection):
                _reject(archive, report, result)
                if on_done is not None:
                    on_done(index, "rejected", result)
            elif result.sop_instance_uid in of_build:
                grouped[of_build[result.sop_instance_uid]].append((index, result))
            else:
                pending.append((index, result))
            index += 1
        for series_build, records in zip(built, grouped, strict=True):
            _commit_series_build(archive, report, series_build, records, on_done)
        if len(pending) >= commit_every:
            _commit(archive, report, pending, on_done)
            pending = []
        bar.update(len(results))
    _commit(archive, report, pending, on_done)
    bar.close()
    return report


def _commit_series_build(
    archive: Archive,
    report: IngestReport,
    build: SeriesBuild,
    records: list[tuple[int, InstanceRecord]],
    on_done: Callable[[int, str, InstanceRecord | Rejection], None] | None,
) -> None:
    """Commit a series a worker built from memory: its rows and volumes in one transaction if it was whole.

    Whole: every instance is new and the series has no other image instance. Otherwise the rows
    go in as any others, after the originals the worker did not store (their pixel data went
    straight into the volume) are stored whole from their heads and that volume; the volume
    is removed and the series is built afterwards.
    """
    _, identity, result = build
    uid = result.series_instance_uid
    whole = archive.catalog.add_whole_series(
        [record for _, record in records], uid, result.volumes, result.state, result.reason, result.instance_updates
    )
    if not whole:
        stored = _store_held(archive, result, records)
        _commit(archive, report, stored, on_done)
        _discard_build(archive, result, stored)
        return
    report.new += len(records)
    if on_done is not None:
        for index, record in records:
            on_done(index, "new", record)
    for key in result.obsolete_keys:
        archive.originals.delete(key)
    if result.state == "failed":
        report.no_volume.append((uid, result.reason or "unknown"))
        return
    report.volumes_built += 1
    if archive._series_identity(uid) != identity:  # the series' row was there before, with other values
        archive.catalog.set_volume_state(uid, "pending", "the series' identity differs from its volumes'")


def _store_held(
    archive: Archive, result: BuildResult, records: list[tuple[int, InstanceRecord]]
) -> list[tuple[int, InstanceRecord]]:
    """*records*, the originals a worker held back stored whole (from their head and *result*'s volume)."""
    from pacslab.volumes._pixelref import PixelRef, PixelSource

    updates = {u["SOPInstanceUID"]: u for u in result.instance_updates}
    paths = {v["stack_index"]: v["path"] for v in result.volumes}
    source = PixelSource(archive.fs, archive.root)
    out = []
    for index, record in records:
        if record.held:
            update = updates[record.sop_instance_uid]
            if update["pixel_ref"] is None:  # the build stored it whole (compressed) already
                key, codec, size = update["stored_key"], update["stored_codec"], update["stored_size"]
            else:
                ref = PixelRef.from_json(update["pixel_ref"])
                row = {**update, "sha256": record.sha256}
                data = source.original(archive.originals, row, paths[ref.stack], verify=True, ref=ref)
                key, codec_, size = archive.originals.put(data, record.sha256, defer=True)
                codec = codec_.value
            record = dataclasses.replace(record, stored_key=key, stored_codec=codec, stored_size=size, held=False)
        out.append((index, record))
    return out


def _discard_build(archive: Archive, result: BuildResult, records: list[tuple[int, InstanceRecord]]) -> None:
    """Remove the volumes and blobs of a build that was not committed, but what *records* (committed) rest in."""
    from pacslab.volumes.builder import remove_generation, volume_generation

    for generation in {volume_generation(v["path"]) for v in result.volumes}:
        remove_generation(archive.fs, archive.root, generation)
    kept = {record.stored_key for _, record in records}
    for update in result.instance_updates:
        rows = archive.catalog.instance_keys(sop_instance_uid=update["SOPInstanceUID"])
        if update["stored_key"] not in kept | {row["stored_key"] for row in rows}:
            archive.originals.delete(update["stored_key"])


def ingest_bytes(archive: Archive, data: bytes, *, source: str) -> tuple[str, InstanceRecord | Rejection]:
    """Ingest one instance received in memory (C-STORE, STOW-RS); volumes are left pending.

    Returns
    -------
    outcome : {"new", "duplicate", "conflict", "rejected"}
    record : InstanceRecord or Rejection
    """
    return ingest_many(archive, [(source, data)])[0]


def ingest_many(
    archive: Archive, items: Sequence[tuple[str, bytes | Spooled]], *, executor: cf.Executor | None = None
) -> list[tuple[str, InstanceRecord | Rejection]]:
    """Ingest instances received (a STOW-RS request), prepared in *executor*, committed together.

    Parameters
    ----------
    items : sequence of (source, bytes or Spooled)
        Each instance's bytes, or the file they were received into (:class:`Spooled`).
    executor : concurrent.futures.Executor, optional
        Where files are parsed, hashed and stored (:func:`ingest_executor`); here when None.

    Returns
    -------
    list of (outcome, record)
        For each item, in order: ``"new"``, ``"duplicate"``, ``"conflict"`` or ``"rejected"``,
        and its :class:`InstanceRecord` or :class:`Rejection`. Volumes are left pending.
    """
    if executor is None or len(items) == 0:
        prepared = [_prepare_item(archive.originals, source, payload) for source, payload in items]
    else:  # a few items per task: every worker gets a share of a small request too
        size = max(1, min(8, -(-len(items) // (2 * _workers()))))
        tasks = ((archive.url, batch) for batch in _batches(items, size))
        prepared = [r for results in _bounded_map(executor, _prepare_items, tasks, 2 * _workers()) for r in results]
    out: list[tuple[str, InstanceRecord | Rejection]] = []
    records = [r for r in prepared if not isinstance(r, Rejection)]
    outcomes = iter(archive.catalog.add_instances(records) if records else [])
    for result in prepared:
        if isinstance(result, Rejection):
            archive.catalog.record_rejection(
                result.source, result.reason, sha256=result.sha256, quarantine_path=result.quarantine_path
            )
            out.append(("rejected", result))
            continue
        outcome = next(outcomes)
        if outcome == "duplicate":
            _drop_duplicate_blob(archive, result)
        out.append((outcome, result))
    return out


def ingest_executor(archive: Archive) -> cf.Executor | None:
    """Worker processes for :func:`ingest_many` (threads for object stores); None on one core.

    The caller shuts it down.
    """
    return _executor(archive.url, _workers(), fork=False)  # its workers start once the server runs threads


def _reject(archive: Archive, report: IngestReport, rejection: Rejection) -> None:
    archive.catalog.record_rejection(
        rejection.source, rejection.reason, sha256=rejection.sha256, quarantine_path=rejection.quarantine_path
    )
    report.rejected.append((rejection.source, rejection.reason))
    if rejection.quarantine_path:
        report.quarantined.append(rejection.quarantine_path)
    logger.warning("rejected %s: %s", rejection.source, rejection.reason)


def _commit(
    archive: Archive,
    report: IngestReport,
    records: list[tuple[int, InstanceRecord]],
    on_done: Callable[[int, str, InstanceRecord | Rejection], None] | None = None,
) -> None:
    if not records:
        return
    outcomes = archive.catalog.add_instances([record for _, record in records])
    for (index, record), outcome in zip(records, outcomes, strict=True):
        setattr(report, outcome, getattr(report, outcome) + 1)
        if outcome == "duplicate":
            _drop_duplicate_blob(archive, record)
        if on_done is not None:
            on_done(index, outcome, record)


def _drop_duplicate_blob(archive: Archive, record: InstanceRecord) -> None:
    """A duplicate whose first copy rests differently (its pixels moved into a volume) left a blob behind."""
    existing = archive.catalog.instance_keys(sop_instance_uid=record.sop_instance_uid)
    if existing and existing[0]["stored_key"] != record.stored_key:
        archive.originals.delete(record.stored_key)


def commit_build(archive: Archive, result: BuildResult) -> None:
    """Commit what building a series produced, then remove what it made obsolete.

    The catalog switches to the new volumes and to the new storage of the originals in one
    transaction; only then are the previous volume generation and the replaced blobs deleted,
    so a crash at any point leaves every original readable. A failed build changes nothing
    but the series' state: its previous volumes (if any) stay, as they may hold pixel data.
    """
    uid = result.series_instance_uid
    if result.state == "failed":
        archive.catalog.set_volume_state(uid, "failed", result.reason)
        return
    previous = {v["path"] for v in archive.catalog.volumes(uid)}
    archive.catalog.replace_volumes(
        uid, result.volumes, result.state, result.reason, result.instance_updates, built_from=result.n_instances
    )
    for key in result.obsolete_keys:
        archive.originals.delete(key)
    from pacslab.volumes.builder import remove_generation, volume_generation

    current = {volume_generation(v["path"]) for v in result.volumes}
    for generation in {volume_generation(p) for p in previous if p.count("/") == 3} - current:
        remove_generation(archive.fs, archive.root, generation)


def build_pending_volumes(
    archive: Archive,
    *,
    series: Sequence[str] | None = None,
    executor: cf.Executor | None = None,
    progress: bool = False,
    report: IngestReport | None = None,
) -> IngestReport:
    """Build the volumes of every series marked pending (or of *series*)."""
    report = report if report is not None else IngestReport()
    uids = list(series) if series is not None else archive.catalog.series_by_state("pending")
    owner = uuid.uuid4().hex  # another process (or thread) building a series now keeps it
    uids = [uid for uid in uids if archive.catalog.claim_volume_build(uid, owner=owner)]
    if not uids:
        return report
    own = executor is None
    if own:
        executor = _executor(archive.url, len(uids))
    if executor is not None:  # the largest first, so that no worker is left with a big series at the end
        sizes = {uid: archive.catalog.image_bytes_of_series(uid) for uid in uids}
        uids.sort(key=lambda uid: -sizes[uid])
    try:
        tasks = (
            (archive.url, archive.catalog.frames_of_series(uid), archive._series_identity(uid),
             {v["stack_index"]: v["path"] for v in archive.catalog.volumes(uid)})
            for uid in uids
        )  # fmt: skip
        bar = progress_bar(len(uids), unit="series", desc="volumes", show=progress)
        for result in _bounded_map(executor, _build_one, tasks, inflight=2 * _workers()):
            commit_build(archive, result)
            if result.state == "ready":
                report.volumes_built += 1
            elif result.state == "failed":
                report.no_volume.append((result.series_instance_uid, result.reason or "unknown"))
            bar.update(1)
        bar.close()
    finally:
        if own and executor is not None:
            executor.shutdown(wait=True)
        for uid in uids:
            archive.catalog.release_volume_build(uid, owner=owner)
    return report

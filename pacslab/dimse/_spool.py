"""The C-STORE spool: answer Success once the received bytes are safe, archive them in the background.

A C-STORE handler that archives synchronously makes the sender wait for parsing, DICOM JSON,
hashing and the catalog. With the spool, the handler only checks the four UIDs the archive
cannot do without (a partial read of the received bytes, :func:`check_uids`) and writes the
Part 10 file atomically to ``ROOT/spool/`` (:meth:`Spool.put`); :class:`Spool`'s ingester
thread then takes the spooled files in arrival order, in batches, through the folder-ingest
pipeline (:func:`pacslab.ingest.pipeline.ingest_sources`, in a worker-process pool for large
batches) and deletes each spool file only once its catalog row has committed or it was
quarantined and recorded as rejected.

Durability: a spool file is complete before it gets its final name (write to ``.tmp-*``,
then rename), so a crash never leaves a half file under a spool name; what a crash leaves in
the spool is ingested first at the next start (:meth:`Spool.start`). Without fsync
(``dimse.spool-fsync: false``, the default) an acknowledged instance survives the server
process being killed (the bytes are in the kernel's page cache) but not a power loss or a
kernel crash; ``dimse.spool-fsync: true`` syncs file and folder before answering, at the
cost of a disk flush per instance.

Spool file names are ``<arrival ns>-<random>-<source label, base64url>.dcm``: sorting them
gives the arrival order, and the label (``dimse:AE@host:port``) survives a restart.

Several receivers on one archive (processes sharing a PostgreSQL catalog, or two servers in one
process): each running spool has a folder of its own, ``ROOT/spool/<random>/``, and holds an
exclusive lock (``flock``) on its ``.lock`` file while it runs. A spool that starts adopts what
stopped or crashed spools left — folders whose lock it can take, and files of the older flat layout
directly in ``ROOT/spool`` — by moving their files into its own folder, so every file is archived
by exactly one receiver and none is taken from a receiver that is still running.
"""

from __future__ import annotations

import base64
import collections
import concurrent.futures as cf
import dataclasses
import fcntl
import io
import logging
import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydicom.filereader import read_dataset, read_partial
from pydicom.tag import Tag
from pydicom.uid import UID

from pacslab.config import config
from pacslab.ingest._prepare import REQUIRED_UIDS, Rejection, _validate
from pacslab.ingest.report import IngestReport
from pacslab.ingest.scan import Source

if TYPE_CHECKING:
    from pacslab.archive import Archive
    from pacslab.catalog import InstanceRecord

__all__ = ["SPOOL_DIR", "Spool", "SpoolSource", "check_uids"]

logger = logging.getLogger(__name__)

#: The spool folder, inside the archive root.
SPOOL_DIR = "spool"
#: At most this many spool files per call of the pipeline (bounds memory and the time to a first commit).
BATCH_FILES = 512
#: Worker processes of the spool run at this niceness: receiving (and answering) comes first.
WORKER_NICE = 5
#: Receive first: while C-STOREs keep arriving (less than QUIET_SECONDS apart), the ingester lets up
#: to DEFER_FILES files wait, none longer than DEFER_SECONDS; archiving beside a fast sender slows
#: both (one interpreter, two cores). A flush (and so a C-FIND/C-GET/C-MOVE) archives at once.
QUIET_SECONDS = 0.2
DEFER_FILES = 2000
DEFER_SECONDS = 10.0

_TAGS = [Tag(keyword) for keyword in REQUIRED_UIDS]
_LAST_TAG = max(_TAGS)


def _past_uids(tag: Any, vr: Any, length: int) -> bool:
    return bool(tag > _LAST_TAG)


def check_uids(data: bytes, transfer_syntax: str | None = None) -> tuple[dict[str, str], str | None]:
    """Read only the required UIDs of a received instance; ``(uids, reason)``, reason None when they are valid.

    Parameters
    ----------
    data : bytes
        A Part 10 file, or (with *transfer_syntax*) the encoded dataset alone, as a C-STORE carries it.
    transfer_syntax : str, optional
        The transfer syntax of a bare dataset.

    The reason is the one the full pipeline would give (:func:`pacslab.ingest._prepare._validate`),
    or says the header cannot be read. Elements after (0020,000E) are not even looked at.
    """
    try:
        ts = UID(transfer_syntax) if transfer_syntax else None
        if ts is not None and not ts.is_deflated:
            ds = read_dataset(io.BytesIO(data), ts.is_implicit_VR, ts.is_little_endian, stop_when=_past_uids,
                              specific_tags=list(_TAGS))  # fmt: skip
        else:
            ds = read_partial(io.BytesIO(data), stop_when=_past_uids, specific_tags=list(_TAGS))
    except Exception as exc:  # noqa: BLE001 - anything pydicom raises on garbage
        return {}, f"unreadable DICOM header ({type(exc).__name__}: {exc})"
    uids = {keyword: str(ds.get(keyword, "") or "") for keyword in REQUIRED_UIDS}
    return uids, _validate(ds)


@dataclasses.dataclass(frozen=True)
class SpoolSource(Source):
    """A spool file, named in reports, rejections and the catalog by the label of its sender."""

    label: str = ""

    @property
    def name(self) -> str:
        """The sender's label (``dimse:AE@host:port``), as synchronous C-STORE named it."""
        return self.label or self.path


def _encode_label(label: str) -> str:
    return base64.urlsafe_b64encode(label.encode()).decode().rstrip("=")


def _decode_label(name: str) -> str:
    try:
        text = name.split("-", 2)[2].removesuffix(".dcm")
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (IndexError, ValueError):
        return "dimse:spool"


def _write(path: str, data: bytes, fsync: bool) -> None:
    """Write *data* under a temporary name, then rename it to *path* (optionally synced)."""
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f".tmp-{uuid.uuid4().hex}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if fsync:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


#: The lock file of a running spool's folder.
_LOCK_NAME = ".lock"


def _lock(directory: str, *, blocking: bool) -> int | None:
    """An exclusive ``flock`` on *directory*'s lock file (None when another process holds it)."""
    try:
        fd = os.open(os.path.join(directory, _LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:  # the folder was just adopted and removed by another spool
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _adopt_file(path: str, directory: str) -> None:
    """Move a spooled file into *directory* (a never-renamed ``.tmp-`` file was never acknowledged: drop it)."""
    name = os.path.basename(path)
    try:
        if name.startswith(".tmp-"):
            os.unlink(path)
        elif name.endswith(".dcm"):
            os.replace(path, os.path.join(directory, name))
    except FileNotFoundError:  # taken by another starting spool
        pass


def _init_worker(settings: dict[str, Any]) -> None:
    from pacslab.ingest.pipeline import _init_worker as init

    init(settings)
    try:
        os.nice(WORKER_NICE)
    except OSError:  # pragma: no cover - not allowed: run at normal priority
        pass


#: ``(token, label, outcome, result)``: called once per spooled file when its outcome is final.
DoneCallback = Callable[[Any, str, str, "InstanceRecord | Rejection"], None]


class Spool:
    """The spool folder of an archive and the thread that ingests it.

    Parameters
    ----------
    archive : Archive
        A local archive (the spool is ``ROOT/spool``).
    fsync : bool
        Sync each spool file (and the folder) before :meth:`put` returns.
    on_done : callable, optional
        ``(token, label, outcome, result)`` for every file once archived or rejected; *token*
        is what :meth:`put` was given (None for files recovered at start).
    defer_files, defer_seconds : optional
        Receive first: while instances keep arriving, let up to this many wait, none longer than
        this (:data:`DEFER_FILES`, :data:`DEFER_SECONDS`); ``defer_files=0`` archives at once.
    """

    def __init__(
        self,
        archive: Archive,
        *,
        fsync: bool = False,
        on_done: DoneCallback | None = None,
        defer_files: int = DEFER_FILES,
        defer_seconds: float = DEFER_SECONDS,
    ) -> None:
        self.archive = archive
        self.root = os.path.join(archive.root, SPOOL_DIR)
        #: This spool's own folder (``ROOT/spool/<random>``), locked while the spool runs.
        self.directory = os.path.join(self.root, uuid.uuid4().hex[:16])
        self._lock_fd: int | None = None
        self.fsync = fsync
        self.on_done = on_done
        self._cond = threading.Condition()
        self._queue: collections.deque[str] = collections.deque()
        self._outstanding: dict[str, Any] = {}  # spool name -> token, until archived or rejected
        self._series: collections.Counter[str] = collections.Counter()
        self._series_of: dict[str, str] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._abandon = False
        self._executor: cf.Executor | None = None
        self.defer_files, self.defer_seconds = defer_files, defer_seconds
        self._last_put = 0.0
        self._first_waiting: float | None = None  # when the oldest queued file arrived
        self._urgent = 0  # flush() callers waiting
        self.archived = 0
        self.recovered = 0

    # -- receiving side ----------------------------------------------------------------------
    def put(self, data: bytes, *, label: str, token: Any = None, series_instance_uid: str = "") -> str:
        """Write a received Part 10 file to the spool and queue it; returns its spool name.

        Raises
        ------
        OSError
            The file could not be written (disk full, permissions): nothing was queued.
        """
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}-{_encode_label(label)}.dcm"
        _write(os.path.join(self.directory, name), data, self.fsync)
        with self._cond:
            self._outstanding[name] = token
            if series_instance_uid:
                self._series[series_instance_uid] += 1
                self._series_of[name] = series_instance_uid
            self._queue.append(name)
            self._last_put = time.monotonic()
            if self._first_waiting is None:
                self._first_waiting = self._last_put
            if len(self._queue) == 1 or len(self._queue) >= self.defer_files:  # wake an idle ingester
                self._cond.notify_all()
        return name

    @property
    def pending(self) -> int:
        """Spooled files not archived (or rejected) yet."""
        return len(self._outstanding)

    def series_busy(self, series_instance_uid: str) -> bool:
        """Whether instances of this series wait in the spool (its volumes should not be built yet)."""
        return self._series.get(series_instance_uid, 0) > 0

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every file spooled before this call is archived or rejected; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            waiting = set(self._outstanding)
            if not waiting:
                return True
            self._urgent += 1
            self._cond.notify_all()
            try:
                while waiting:
                    waiting = {name for name in waiting if name in self._outstanding}
                    if not waiting:
                        break
                    if self._thread is None or not self._thread.is_alive():
                        return False
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._cond.wait(remaining if remaining is not None else 1.0)
            finally:
                self._urgent -= 1
        return True

    def _deferred(self) -> float:
        """Seconds the ingester should still wait before archiving the queue (0: now); holds the lock."""
        if self._stopping or self._urgent or len(self._queue) >= self.defer_files:
            return 0.0
        now = time.monotonic()
        quiet = self._last_put + QUIET_SECONDS - now
        oldest = (self._first_waiting or now) + self.defer_seconds - now
        return max(0.0, min(quiet, oldest))

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Queue what a previous run left in the spool (first, in arrival order), then start ingesting."""
        if self._thread is not None and self._thread.is_alive():
            return
        os.makedirs(self.directory, exist_ok=True)
        if self._lock_fd is None:
            self._lock_fd = _lock(self.directory, blocking=True)
        self._adopt_orphans()
        left = []
        for entry in sorted(os.listdir(self.directory)):
            if entry.startswith(".tmp-"):  # never renamed: never acknowledged
                os.unlink(os.path.join(self.directory, entry))
            elif entry.endswith(".dcm") and entry not in self._outstanding:
                left.append(entry)
        with self._cond:
            for entry in reversed(left):
                self._outstanding[entry] = None
                self._queue.appendleft(entry)
            self._stopping = self._abandon = False
        if left:
            self.recovered += len(left)
            logger.info("%d instances left in the spool by a previous run are archived first", len(left))
        self._thread = threading.Thread(target=self._run, name="pacslab-spool-ingester", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> bool:
        """Archive what is spooled (for up to *timeout* seconds), then stop; True when the spool is empty.

        What is left stays in the spool and is archived at the next start.
        """
        thread = self._thread
        if thread is not None:
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            thread.join(timeout)
            if thread.is_alive():
                with self._cond:
                    self._abandon = True
                    self._cond.notify_all()
                thread.join(timeout)
            self._thread = None
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        left = len(self._outstanding)
        if left:
            logger.warning("%d received instances stay in the spool; they are archived at the next start", left)
        self._release()
        return not left

    def _adopt_orphans(self) -> None:
        """Move into this spool's folder what stopped or crashed spools left (see the module docstring)."""
        mine = os.path.basename(self.directory)
        for entry in sorted(os.listdir(self.root)):
            path = os.path.join(self.root, entry)
            if entry == mine:
                continue
            if entry.endswith(".dcm") or entry.startswith(".tmp-"):  # the flat layout of earlier versions
                _adopt_file(path, self.directory)
            elif os.path.isdir(path):
                fd = _lock(path, blocking=False)
                if fd is None:
                    continue  # a running spool's folder
                try:
                    for name in sorted(os.listdir(path)):
                        if name != _LOCK_NAME:
                            _adopt_file(os.path.join(path, name), self.directory)
                    os.unlink(os.path.join(path, _LOCK_NAME))
                    os.rmdir(path)
                except OSError:  # another starting spool took part of it first: what is left stays
                    logger.debug("adopting spool folder %s was interrupted", path, exc_info=True)
                finally:
                    os.close(fd)

    def _release(self) -> None:
        """Drop this spool's lock; remove its folder when empty."""
        if self._lock_fd is None:
            return
        try:
            if set(os.listdir(self.directory)) <= {_LOCK_NAME}:
                os.unlink(os.path.join(self.directory, _LOCK_NAME))
                os.rmdir(self.directory)
        except OSError:
            pass
        finally:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- ingesting side ----------------------------------------------------------------------------
    def _pool(self) -> cf.Executor | None:
        from pacslab.ingest.pipeline import _WORKER_SECTIONS, _workers

        if self._executor is None:
            workers = _workers()
            if workers <= 1:
                return None
            context = multiprocessing.get_context("forkserver")  # the server has threads: no fork
            context.set_forkserver_preload(["pacslab.ingest.pipeline", "pacslab.dimse._spool"])
            settings = {section: config.get(section) for section in _WORKER_SECTIONS}
            self._executor = cf.ProcessPoolExecutor(
                workers, mp_context=context, initializer=_init_worker, initargs=(settings,)
            )
        return self._executor

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._abandon:
                    if not self._queue:
                        if self._stopping:
                            return
                        self._cond.wait()
                        continue
                    delay = self._deferred()
                    if delay <= 0:
                        break
                    self._cond.wait(delay)
                if self._abandon:
                    return
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), BATCH_FILES))]
                self._first_waiting = time.monotonic() if self._queue else None
            try:
                self._ingest(batch)
            except Exception as exc:  # noqa: BLE001 - the files stay spooled; try again in a moment
                logger.exception("archiving %d spooled instances failed; retrying", len(batch))
                if isinstance(exc, cf.BrokenExecutor) and self._executor is not None:
                    self._executor.shutdown(wait=False, cancel_futures=True)  # a worker died: a new pool next time
                    self._executor = None
                with self._cond:
                    left = [name for name in batch if name in self._outstanding]
                    self._queue.extendleft(reversed(left))
                    self._cond.wait(1.0)

    def _ingest(self, batch: list[str]) -> None:
        from pacslab.ingest.pipeline import INLINE_LIMIT, ingest_sources

        sources = [SpoolSource(os.path.join(self.directory, n), label=_decode_label(n)) for n in batch]
        executor = self._pool() if len(batch) >= INLINE_LIMIT else None

        def done(index: int, outcome: str, result: InstanceRecord | Rejection) -> None:
            name = batch[index]
            try:
                os.unlink(sources[index].path)
            except FileNotFoundError:
                pass
            with self._cond:
                token = self._outstanding.pop(name, None)
                series = self._series_of.pop(name, None)
                if series is not None:
                    self._series[series] -= 1
                    if self._series[series] <= 0:
                        del self._series[series]
                self.archived += 1
                self._cond.notify_all()
            if self.on_done is not None:
                try:
                    self.on_done(token, sources[index].label, outcome, result)
                except Exception:  # noqa: BLE001 - bookkeeping must not stop archiving
                    logger.exception("recording the outcome of a spooled instance failed")

        ingest_sources(self.archive, sources, IngestReport(), executor=executor, on_done=done)

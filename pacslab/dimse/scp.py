"""The archive as a DICOM node: :class:`DicomServer` (Verification, Storage, Query/Retrieve SCP)."""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import TYPE_CHECKING, Any, cast

from pynetdicom import AE, ALL_TRANSFER_SYNTAXES
from pynetdicom.sop_class import (
    _STORAGE_CLASSES,
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer

from pacslab._serving import serving_process
from pacslab.dimse import _raw
from pacslab.dimse._settings import DimseSettings, RemoteAE, TLSSettings
from pacslab.dimse._spool import Spool
from pacslab.dimse.handlers import ArchiveService, handler_list
from pacslab.storage import is_local

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = ["DicomServer", "STORAGE_SOP_CLASSES"]

logger = logging.getLogger(__name__)

#: Every storage SOP class pynetdicom knows, by UID.
STORAGE_SOP_CLASSES: tuple[str, ...] = tuple(str(uid) for uid in _STORAGE_CLASSES.values())
_QUERY_RETRIEVE = (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)


class _Server(ThreadedAssociationServer):
    """pynetdicom's threaded server, refusing connections from hosts off the allow-list."""

    daemon_threads = True
    allowed_hosts: tuple[str, ...] = ()
    service: ArchiveService | None = None

    def verify_request(self, request: Any, client_address: Any) -> bool:
        host = client_address[0] if isinstance(client_address, tuple) else str(client_address)
        if not self.allowed_hosts or host in self.allowed_hosts:
            return True
        logger.warning("connection from %s refused: the host is not in dimse.allowed-hosts", host)
        if self.service is not None:
            self.service.archive.catalog.audit(
                "association",
                outcome="rejected",
                address=f"{host}:{client_address[1]}",
                detail='{"reason": "host not in dimse.allowed-hosts"}',
            )
        return False


class _VolumeBuilder(threading.Thread):
    """Builds the volumes of series that received no instance for ``delay`` seconds."""

    def __init__(self, archive: Archive, delay: float, spool: Spool | None = None) -> None:
        super().__init__(name="pacslab-volume-builder", daemon=True)
        self.archive, self.delay, self.spool = archive, delay, spool
        self.interval = min(1.0, max(0.05, delay / 4))
        self.stopping = threading.Event()
        self.built = 0

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                self.build_stable()
            except Exception:  # noqa: BLE001 - keep building later; the server must not die
                logger.exception("building volumes of stable series failed")

    def build_stable(self) -> int:
        """Build every pending series that is stable now; returns how many were built."""
        catalog = self.archive.catalog
        done = 0
        for uid in catalog.series_by_state("pending", idle_seconds=self.delay):
            if self.stopping.is_set():
                break
            if self.spool is not None and self.spool.series_busy(uid):
                continue  # instances of it wait in the spool: not stable yet
            before = catalog.count("instances", {"SeriesInstanceUID": uid})
            self.archive.build_volumes([uid])
            if catalog.count("instances", {"SeriesInstanceUID": uid}) != before:
                catalog.set_volume_state(uid, "pending")  # an instance arrived while building: again later
            else:
                done += 1
        self.built += done
        return done


class DicomServer:
    """Serve an archive over DICOM: C-ECHO, C-STORE, C-FIND, C-GET and C-MOVE.

    The server runs in background threads, so :meth:`start` returns at once (a notebook
    kernel stays usable); :meth:`stop` ends it. The volumes of a series are built once it has
    received nothing for ``stable_delay`` seconds.

    **C-STORE and the spool** (``dimse.spool: true``, the default, for archives on a local disk).
    The handler reads only SOP Class, SOP Instance, Study and Series Instance UIDs of the received
    dataset; an instance with a missing or invalid one is archived synchronously as before —
    quarantined, recorded in ``archive.rejections()``, and answered with a failure status and
    its reason. Any other instance is written atomically to ``ROOT/spool/`` and answered
    Success at once; a background ingester then runs the spooled files, in arrival order and in
    batches, through the same pipeline as folder ingest (worker processes for large batches)
    and deletes each spool file only after its catalog row committed or it was quarantined.
    Duplicates and conflicts end as with synchronous archiving. Anything left in the spool by a
    crash (even ``kill -9``) is archived first at the next start; ``dimse.spool-fsync: true``
    also makes an acknowledged instance survive a power loss.

    The trade-off: a defect only the full pipeline sees (e.g. truncated pixel data) is found
    after the sender got Success. Such an instance is still quarantined and recorded in
    ``archive.rejections()`` and in the association's audit entry, and logged at WARNING with
    the calling AE — but the sender is not told. ``dimse.spool: false`` (or ``spool=False``)
    archives before answering, as in earlier versions (about half the throughput).

    Visibility: ``archive.instances()`` and DICOMweb see a stored instance once it is archived,
    a moment after its Success (:meth:`flush` waits for that). C-FIND, C-GET and C-MOVE served
    here first wait for the instances spooled before the request (``dimse.spool-query-wait``
    seconds at most, 10 by default), so a DICOM client that stores then queries finds what it stored.

    Parameters
    ----------
    archive : Archive or path
        The archive to serve (opened, and closed at :meth:`stop`, when a path is given).
    ae_title, host, port, stable_delay, allowed_aes, allowed_hosts, remotes, tls, spool
        Override the ``dimse.*`` settings (see :class:`DimseSettings`); ``port=0`` picks a free
        port, ``tls=False`` turns TLS off whatever the configuration says, ``spool=False``
        archives each C-STORE before answering it.

    Examples
    --------
    >>> import pacslab
    >>> from pacslab.dimse import DicomServer, echo
    >>> archive = pacslab.open_archive("memory://scp-doctest", create=True)
    >>> with DicomServer(archive, port=0) as server:
    ...     echo(("PACSLAB", "127.0.0.1", server.port)) >= 0
    True

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        archive: Archive | str | os.PathLike[str],
        *,
        ae_title: str | None = None,
        host: str | None = None,
        port: int | None = None,
        stable_delay: float | None = None,
        allowed_aes: list[str] | tuple[str, ...] | None = None,
        allowed_hosts: list[str] | tuple[str, ...] | None = None,
        remotes: dict[str, RemoteAE] | None = None,
        tls: TLSSettings | bool | None = None,
        spool: bool | None = None,
    ) -> None:
        from pacslab.archive import Archive, open_archive

        self._owns_archive = not isinstance(archive, Archive)
        self.archive: Archive = archive if isinstance(archive, Archive) else open_archive(archive)
        if tls is True:
            tls = None
        self.settings = DimseSettings.resolve(
            self.archive.settings,
            ae_title=ae_title,
            host=host,
            port=port,
            stable_delay=stable_delay,
            allowed_aes=tuple(allowed_aes) if allowed_aes is not None else None,
            allowed_hosts=tuple(allowed_hosts) if allowed_hosts is not None else None,
            remotes=remotes,
            tls=tls,
            spool=spool,
        )
        self.service = ArchiveService(self.archive, self.settings)
        self._spool: Spool | None = None
        if self.settings.spool:
            if is_local(self.archive.fs):
                self._spool = Spool(self.archive, fsync=self.settings.spool_fsync, on_done=self.service.spooled_done)
            else:
                logger.info("dimse.spool is off for %s: the spool needs an archive on a local disk", self.archive.url)
        self._ae: AE | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._builder: _VolumeBuilder | None = None
        self._last_port = 0

    # -- properties ---------------------------------------------------------------------------
    @property
    def ae_title(self) -> str:
        """The AE title the archive answers to."""
        return self.settings.ae_title

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return self.settings.host

    @property
    def port(self) -> int:
        """The TCP port it listens on (the one picked when started with ``port=0``)."""
        if self._server is not None:
            return int(self._server.server_address[1])
        return self._last_port or self.settings.port

    @property
    def running(self) -> bool:
        """Whether the server accepts associations."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def remote(self) -> RemoteAE:
        """The server as a :class:`RemoteAE`, for the SCU functions."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return RemoteAE(self.ae_title, host, self.port, tls=self.settings.tls is not None)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        tls = " TLS" if self.settings.tls else ""
        return f"<DicomServer {self.ae_title}@{self.host}:{self.port}{tls} ({state}) serving {self.archive.url!r}>"

    # -- life cycle --------------------------------------------------------------------------------
    def _make_ae(self) -> AE:
        s = self.settings
        ae = AE(ae_title=s.ae_title)
        ae.maximum_pdu_size = s.max_pdu
        ae.maximum_associations = s.max_associations
        ae.acse_timeout, ae.dimse_timeout, ae.network_timeout = s.acse_timeout, s.dimse_timeout, s.network_timeout
        ae.require_calling_aet = list(s.allowed_aes)
        ae.require_called_aet = False
        ae.add_supported_context(Verification, ALL_TRANSFER_SYNTAXES[:3])
        for uid in _QUERY_RETRIEVE:
            ae.add_supported_context(uid, _raw.UNCOMPRESSED + (_raw.ExplicitVRBigEndian,))
        for uid in STORAGE_SOP_CLASSES:
            ae.add_supported_context(uid, _raw.STORAGE_TRANSFER_SYNTAXES, scu_role=True, scp_role=True)
        return ae

    def start(self) -> DicomServer:
        """Start listening (returns at once; the server runs in background threads).

        Raises
        ------
        OSError
            The port is taken.
        ValueError
            Bad settings (e.g. TLS without a certificate).
        """
        if self.running:
            return self
        if self._spool is not None:  # what a previous run left is queued first
            self._spool.start()
            self.service.spool = self._spool
        _raw.install()
        try:
            ssl_context = self.settings.tls.server_context() if self.settings.tls else None
            self._ae = self._make_ae()
            server = cast(
                _Server,
                self._ae.make_server(
                    (self.settings.host, self.settings.port),
                    evt_handlers=handler_list(self.service),  # type: ignore[arg-type]
                    ssl_context=ssl_context,
                    server_class=_Server,
                ),
            )
        except BaseException:
            if self._spool is not None:
                self._spool.stop()
                self.service.spool = None
            raise
        server.allowed_hosts = self.settings.allowed_hosts
        server.service = self.service
        if server.socket is not None:  # inherited by the accepted sockets
            server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._ae._servers.append(server)
        self._server = server
        self._last_port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, name=f"pacslab-dimse-{self.port}", daemon=True)
        self._thread.start()
        self._builder = _VolumeBuilder(self.archive, self.settings.stable_delay, self._spool)
        self._builder.start()
        self.archive.catalog.audit(
            "server-start", service="dimse", actor=self.ae_title, address=f"{self.host}:{self.port}",
            detail="TLS" if ssl_context else None,
        )  # fmt: skip
        logger.info("DICOM server %s listening on %s:%d%s", self.ae_title, self.host, self.port,
                    " (TLS)" if ssl_context else "")  # fmt: skip
        return self

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop accepting, abort open associations, archive the spool, stop the volume builder.

        The spool is given ``max(timeout, 60)`` seconds; what is left stays in it and is
        archived at the next start. Series still waiting to become stable stay ``pending``;
        ``archive.build_volumes()`` builds them.
        """
        if self._server is not None:
            port = self.port
            self._server.shutdown()
            assert self._ae is not None
            for assoc in list(self._ae.active_associations):
                assoc.abort()
            for assoc in list(self._ae.active_associations):
                assoc.join(timeout)
            if self._thread is not None:
                self._thread.join(timeout)
            self._server = None
            self._thread = None
            if self._spool is not None:
                self._spool.stop(max(timeout, 60.0))
                self.service.spool = None
                self.service.audit_unfinished()
            self.archive.catalog.audit("server-stop", service="dimse", actor=self.ae_title,
                                       address=f"{self.host}:{port}")  # fmt: skip
        if self._builder is not None:
            self._builder.stopping.set()
            self._builder.join(timeout)
            self._builder = None
        if self._owns_archive:
            self.archive.close()
            self._owns_archive = False

    def build_stable_volumes(self) -> int:
        """Build the volumes of every series that is stable now (the background thread does this too)."""
        return _VolumeBuilder(self.archive, self.settings.stable_delay, self._spool).build_stable()

    @property
    def spooled(self) -> int:
        """Instances acknowledged but not archived yet (0 without the spool)."""
        return self._spool.pending if self._spool is not None else 0

    def flush(self, timeout: float | None = 60.0) -> bool:
        """Wait until every instance acknowledged so far is archived (or quarantined as rejected).

        Returns
        -------
        bool
            True when they all are; False when *timeout* seconds passed first (or the server is stopped
            with instances left in the spool). Without the spool, True at once.

        Examples
        --------
        >>> send(server.remote, files)  # doctest: +SKIP
        >>> server.flush()  # doctest: +SKIP
        True
        """
        if self._spool is None:
            return True
        return self._spool.flush(timeout)

    wait_until_archived = flush

    def serve_forever(self) -> None:
        """Start and block until interrupted (Ctrl-C, SIGTERM), then stop.

        The process is a server from now on (:func:`~pacslab._serving.serving_process`).
        """
        import signal

        serving_process()

        self.start()
        done = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
        try:
            while not done.wait(0.5):
                if not self.running:
                    break
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.stop()

    def __enter__(self) -> DicomServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

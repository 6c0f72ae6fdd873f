"""The standalone DICOMweb server: tornado in a background thread, started and stopped by a notebook or the CLI."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import logging
import os
import socket
import ssl
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web

from pacslab._serving import serving_process
from pacslab.config import get as config_get
from pacslab.dicomweb.auth import RoleValues, TokenStore
from pacslab.dicomweb.handlers import DicomwebContext, make_handlers
from pacslab.dicomweb.service import DicomwebService
from pacslab.ingest.pipeline import ingest_executor

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = ["DicomwebServer", "server_ssl_context"]

logger = logging.getLogger(__name__)


def server_ssl_context(certificate: str | None, private_key: str | None) -> ssl.SSLContext | None:
    """The TLS context of an HTTPS server, or None for plain HTTP.

    Parameters
    ----------
    certificate, private_key : str or None
        PEM files: the server's certificate chain and its private key (``dicomweb.tls.certificate``
        and ``dicomweb.tls.private-key`` when None). Both, or neither.

    Raises
    ------
    ValueError
        Only one of them is given, a file is missing, or they do not form a key pair.
    """
    certificate = config_get("dicomweb.tls.certificate", certificate)  # type: ignore[assignment]
    private_key = config_get("dicomweb.tls.private-key", private_key)  # type: ignore[assignment]
    if not certificate and not private_key:
        return None
    if not certificate or not private_key:
        raise ValueError(
            "HTTPS needs both a certificate and its private key (dicomweb.tls.certificate and "
            "dicomweb.tls.private-key, or --http-tls-cert and --http-tls-key); only one was given."
        )
    for what, path in (("certificate", certificate), ("private key", private_key)):
        if not os.path.isfile(str(path)):
            raise ValueError(f"The HTTPS {what} file {str(path)!r} does not exist.")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(certificate), str(private_key))
    except ssl.SSLError as exc:
        raise ValueError(
            f"The HTTPS certificate {str(certificate)!r} and private key {str(private_key)!r} cannot be used "
            f"together ({exc.reason or exc}): give a PEM certificate chain and the key it was issued for."
        ) from exc
    return context


class DicomwebServer:
    """Serve an archive over DICOMweb (QIDO-RS, WADO-RS, STOW-RS) at ``http://host:port/dicom-web``.

    :meth:`start` returns at once; the server runs in a background thread until
    :meth:`stop` (or use it as a context manager). Blocking archive I/O runs in a
    thread pool of *workers*. ``pacslab serve ROOT --http-port 8080`` is::

        server = DicomwebServer(archive, host=args.host or "127.0.0.1", port=args.http_port).start()
        server.serve_forever()

    Parameters
    ----------
    archive : Archive
    host : str
        Address to listen on; loopback by default.
    port : int
        TCP port; 0 picks a free one (read it back from :attr:`port` after :meth:`start`).
    prefix : str
        The service root path.
    allow_anonymous : bool
        Serve requests without a token, with *anonymous_role*. Off by default:
        every request needs ``Authorization: Bearer <token>`` (``pacslab token create``).
    anonymous_role : {"read", "write", "admin"}
    cors_origins : sequence of str
        Origins allowed by CORS (``"*"`` for any); none by default.
    max_results : int
        Most matches a search returns (more are paged with ``offset``, announced by a ``Warning`` header).
    max_body_size : int
        Largest STOW-RS body in bytes, 1 GiB by default (HTTP 413 beyond). On a local, unencrypted
        archive a body is written to disk part by part as it arrives (``ROOT/stow/``), and only one
        part at a time is read into a worker's memory; otherwise it is held in memory while its
        parts are stored, and this bounds the memory one upload takes.
    workers : int
        Threads for blocking archive I/O.
    stable_delay : float or None
        Build the volumes of series that received nothing for this many seconds
        (instances stored over STOW-RS leave them pending); None never does.
    public_url : str, optional
        The service root as clients see it (behind a proxy), for RetrieveURL and BulkDataURI values.
    tls_certificate, tls_private_key : str, optional
        Serve HTTPS with this PEM certificate chain and private key (``dicomweb.tls.certificate``,
        ``dicomweb.tls.private-key``); plain HTTP without them. Clients authenticate with their
        bearer token, not with a certificate.

        .. versionadded:: 0.1

    Examples
    --------
    >>> from pacslab.dicomweb import DicomwebServer, create_token
    >>> server = DicomwebServer(archive, port=0).start()  # doctest: +SKIP
    >>> token = create_token(archive, role="read")  # doctest: +SKIP
    >>> client = DICOMwebClient(server.url, headers={"Authorization": f"Bearer {token}"})  # doctest: +SKIP
    >>> server.stop()  # doctest: +SKIP
    """

    def __init__(
        self,
        archive: Archive,
        *,
        host: str | None = None,
        port: int | None = None,
        prefix: str = "/dicom-web",
        allow_anonymous: bool = False,
        anonymous_role: RoleValues | str = RoleValues.READ,
        cors_origins: Sequence[str] = (),
        max_results: int = 1000,
        max_body_size: int = 2**30,
        workers: int = 4,
        stable_delay: float | None = 10.0,
        public_url: str | None = None,
        tls_certificate: str | None = None,
        tls_private_key: str | None = None,
    ) -> None:
        if isinstance(cors_origins, str):
            raise ValueError(f"cors_origins must be a sequence of origins, not the string {cors_origins!r}.")
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers!r}.")
        self.ssl_context = server_ssl_context(tls_certificate, tls_private_key)
        self.archive = archive
        self.host = host or "127.0.0.1"
        self.port = 8080 if port is None else int(port)
        self.prefix = "/" + prefix.strip("/")
        self.stable_delay = stable_delay
        self._ingest = ingest_executor(archive)  # STOW-RS parts are prepared in worker processes
        self.service = DicomwebService(
            archive, max_results=max_results, max_body_size=max_body_size, ingest_executor=self._ingest
        )
        self._executor = cf.ThreadPoolExecutor(workers, thread_name_prefix="pacslab-dicomweb")
        self.context = DicomwebContext(
            service=self.service,
            executor=self._executor,
            prefix=self.prefix,
            tokens=TokenStore(archive),
            allow_anonymous=allow_anonymous,
            anonymous_role=RoleValues(anonymous_role),
            cors_origins=tuple(cors_origins),
            public_url=public_url,
        )
        self._thread: threading.Thread | None = None
        self._loop: tornado.ioloop.IOLoop | None = None
        self._http: tornado.httpserver.HTTPServer | None = None
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._building = False

    @property
    def url(self) -> str:
        """The service root URL, e.g. ``http://127.0.0.1:8080/dicom-web`` (``https://`` with TLS)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "http" if self.ssl_context is None else "https"
        return f"{scheme}://{host}:{self.port}{self.prefix}"

    def application(self) -> tornado.web.Application:
        """The tornado application (every DICOMweb route under :attr:`prefix`)."""
        return tornado.web.Application(make_handlers(self.prefix, self.context))

    def start(self) -> DicomwebServer:
        """Bind the port and serve in a background thread; returns self."""
        if self._thread is not None:
            raise RuntimeError("This DicomwebServer is already running.")
        sockets = tornado.netutil.bind_sockets(self.port, address=self.host, family=socket.AF_UNSPEC)
        for s in sockets:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port = int(sockets[0].getsockname()[1])
        self._thread = threading.Thread(target=self._run, args=(sockets,), name="pacslab-dicomweb", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        logger.info("DICOMweb server at %s", self.url)
        return self

    def _run(self, sockets: list[socket.socket]) -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        self._loop = tornado.ioloop.IOLoop.current()
        self._http = tornado.httpserver.HTTPServer(
            self.application(),
            max_body_size=2**62,
            chunk_size=1 << 20,  # bodies read 1 MB at a time, not 64 kB: STOW-RS parts spool in fewer writes
            idle_connection_timeout=300,
            xheaders=False,
            ssl_options=self.ssl_context,
        )
        self._http.add_sockets(sockets)
        if self.stable_delay is not None:
            interval = max(self.stable_delay / 2, 0.25) * 1000
            tornado.ioloop.PeriodicCallback(self._build_stable, interval).start()
        self._ready.set()
        try:
            self._loop.start()
        finally:
            self._loop.close(all_fds=True)
            self._stopped.set()

    async def _build_stable(self) -> None:
        if self._building:
            return
        self._building = True
        try:
            await self.context.run(self._build_now)
        except Exception:  # noqa: BLE001 - a failed build is recorded on the series; keep serving
            logger.exception("building volumes of stored series failed")
        finally:
            self._building = False

    def _build_now(self) -> None:
        pending = self.archive.catalog.series_by_state("pending", idle_seconds=self.stable_delay)
        if pending:
            self.archive.build_volumes(pending)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, close connections, and wait for the thread."""
        loop, http = self._loop, self._http
        if self._thread is None or loop is None or http is None:
            return

        async def shutdown() -> None:
            http.stop()
            await http.close_all_connections()
            loop.stop()

        loop.add_callback(shutdown)
        self._thread.join(timeout)
        self._thread = None
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._ingest is not None:
            self._ingest.shutdown(wait=True, cancel_futures=True)

    def serve_forever(self) -> None:
        """Block until interrupted (Ctrl-C, SIGTERM), then stop (its STOW-RS worker processes too).

        The process is a server from now on (:func:`~pacslab._serving.serving_process`).
        """
        import signal

        serving_process()

        done = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
        try:
            while not (done.wait(0.5) or self._stopped.is_set()):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.stop()

    def __enter__(self) -> DicomwebServer:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._thread is not None else "stopped"
        return f"<DicomwebServer {self.url} {state}>"

"""Thin tornado handlers over :class:`~pacslab.dicomweb.service.DicomwebService`.

One handler class per deployment serves every route of :data:`~pacslab.dicomweb.routes.ROUTES`:
:class:`DicomwebHandler` (the standalone server, bearer tokens) and
``pacslab.dicomweb.jupyter.JupyterDicomwebHandler`` (inside Jupyter, Jupyter's own
authentication). Both share :class:`DicomwebMixin`, where a request becomes a
:class:`~pacslab.dicomweb.service.Request`, the service runs in an executor, and
errors become HTTP statuses — the only place that happens.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import dataclasses
import functools
import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import tornado.web
from tornado.iostream import StreamClosedError

from pacslab.dicomweb.auth import AuthenticationError, Principal, RoleValues, TokenStore
from pacslab.dicomweb.multipart import Part, SpooledParts
from pacslab.dicomweb.routes import ROUTES, Route
from pacslab.dicomweb.service import (
    AuditEntry,
    DicomwebService,
    PayloadTooLargeError,
    Request,
    Response,
    error_message,
    status_for,
    warning_header,
)

__all__ = ["DicomwebContext", "DicomwebHandler", "DicomwebMixin", "make_handlers"]

logger = logging.getLogger(__name__)

#: Bytes of a streamed body read per trip to the executor (a few instances of a series).
STREAM_BATCH = 8 << 20
#: Pieces of a streamed body smaller than this are joined with their neighbours into one write.
SMALL_PIECE = 64 << 10


def write_runs(pieces: list[bytes | memoryview]) -> list[bytes | memoryview]:
    """*pieces* of a body to send, each run of pieces smaller than :data:`SMALL_PIECE` joined in one.

    Each part of a series' body starts with pieces of a few hundred bytes (the part delimiter,
    the head of a file rebuilt from its volume): a write each costs the server's event loop
    more than joining them. Larger pieces (whole files, frames) are passed on as they are:
    copying them costs more than it saves.
    """
    out: list[bytes | memoryview] = []
    run: list[bytes | memoryview] = []
    for piece in pieces:
        if len(piece) < SMALL_PIECE:
            run.append(piece)
            continue
        if run:
            out.append(b"".join(run))
            run = []
        out.append(piece)
    if run:
        out.append(b"".join(run))
    return out


_ALLOWED_HEADERS = "Authorization, Content-Type, Accept"
_EXPOSED_HEADERS = "Warning, Content-Type, Content-Location"


@dataclasses.dataclass
class DicomwebContext:
    """What every handler shares: the service, its executor, and the access settings."""

    service: DicomwebService
    executor: cf.Executor
    prefix: str
    tokens: TokenStore | None = None
    allow_anonymous: bool = False
    anonymous_role: RoleValues = RoleValues.READ
    #: The role of users Jupyter authenticated (the Jupyter extension only).
    user_role: RoleValues = RoleValues.WRITE
    cors_origins: Sequence[str] = ()
    public_url: str | None = None

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run blocking work (catalog, storage) in the executor."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))


def _is_local_literal(name: str) -> bool:
    """An IP address literal or ``localhost`` (a client connecting directly, not through a named proxy)."""
    import ipaddress

    if name == "localhost":
        return True
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


class DicomwebMixin:
    """The request → service → response logic both handler classes share."""

    route: Route
    context: DicomwebContext
    request: Any

    def initialize(self, route: Route, context: DicomwebContext) -> None:  # noqa: D102
        self.route, self.context = route, context
        self._principal: Principal | None = None
        self._chunks: list[bytes] = []
        self._received = 0
        self._too_large = False
        self._spool: SpooledParts | None = None

    # -- hooks -------------------------------------------------------------------------
    async def authenticate(self) -> Principal:
        """Who is calling (raise :class:`AuthenticationError` if no one valid)."""
        raise NotImplementedError

    def body(self) -> bytes:
        """The request body."""
        return bytes(self.request.body or b"")

    def parts(self) -> list[Part] | None:
        """The parts of a body split into files as it arrived (:meth:`DicomwebService.spool`), or None."""
        return None

    def _discard_spool(self) -> None:
        spool, self._spool = self._spool, None
        if spool is not None:
            spool.discard()

    # -- dispatch -----------------------------------------------------------------------
    def _base_url(self) -> str:
        if self.context.public_url:
            return self.context.public_url.rstrip("/")
        host = self.request.host
        if not host.rsplit("]", 1)[-1].count(":") and _is_local_literal(self.request.host_name):
            # dicomweb-client sends "Host: 127.0.0.1" without the port; names (proxies) are taken as sent
            try:
                port = self.request.connection.stream.socket.getsockname()[1]
            except (AttributeError, OSError):
                port = None
            if port not in (None, 80, 443):
                host = f"{host}:{port}"
        return f"{self.request.protocol}://{host}{self.context.prefix}"

    async def dispatch(self, method: str, path: dict[str, str]) -> None:
        """Serve one request: authenticate, authorise, run the service, write the response, audit."""
        operation = self.route.operations.get(method)
        handler: Any = self
        if operation is None:
            handler.set_header("Allow", ", ".join(self.route.operations))
            self._write_error(405, f"{method} is not allowed on this resource; use {', '.join(self.route.operations)}.")
            return
        principal: Principal | None = None
        try:
            principal = self._principal or await self.authenticate()
            principal.require(operation.role, f"{method} {self.request.path}")
            if self._too_large:
                raise PayloadTooLargeError(
                    f"The request body is larger than the {self.context.service.max_body_size} bytes this server takes."
                )
            request = Request(
                base_url=self._base_url(),
                principal=principal,
                params={
                    k: [v.decode("utf-8", "replace") for v in vs] for k, vs in self.request.query_arguments.items()
                },
                headers={k.lower(): v for k, v in self.request.headers.items()},
                body=self.body(),
                address=self.request.remote_ip,
                parts=self.parts(),
            )
            service_method = getattr(self.context.service, operation.method)
            audited = principal if operation.audited else None
            response: Response = await self.context.run(
                self._serve, service_method, request, audited, **path, **operation.kwargs
            )
        except Exception as exc:  # noqa: BLE001 - converted to a status here, once
            status = status_for(exc)
            if status >= 500:
                logger.exception("DICOMweb %s %s failed", method, self.request.path)
            if status == 401:
                handler.set_header("WWW-Authenticate", 'Bearer realm="pacslab"')
            if operation.audited and status in (401, 403):
                await self._audit(
                    principal, AuditEntry("access", outcome="denied", detail=f"{method} {self.request.path}")
                )
            self._write_error(status, error_message(exc, status))
            return
        audit = response.audit if operation.audited else None
        await self._write(response, principal, audit)

    def _serve(self, service_method: Any, request: Request, audited: Principal | None, **kwargs: Any) -> Response:
        """In the executor: run the service; audit a whole response there too (one trip, not two)."""
        try:
            response: Response = service_method(request, **kwargs)
        finally:
            self._discard_spool()  # what the service did not move into the archive goes before the answer
        if audited is not None and response.audit is not None and isinstance(response.body, bytes | bytearray):
            self._audit_now(audited, response.audit)
            response.audit = None
        return response

    async def _write(self, response: Response, principal: Principal, audit: AuditEntry | None) -> None:
        """Send the response; the audit entry is written before the last byte, so a client never sees it missing.

        A streamed body cut short (the client closed the connection, or reading failed) is audited
        too, as ``partial`` or ``failure`` with the bytes sent: part of the data went out.
        """
        handler: Any = self
        handler.set_status(response.status)
        for name, value in response.headers.items():
            handler.set_header(name, value)
        if isinstance(response.body, bytes | bytearray):
            if response.status != 204:
                handler.write(bytes(response.body))
            handler.finish()  # its audit entry was written with the response, in _serve
            return
        iterator = response.body
        pending: asyncio.Future[tuple[list[bytes | memoryview], bool]] | None = None
        connection = handler.request.connection
        done, sent = False, 0
        try:
            pending = asyncio.ensure_future(self.context.run(self._next_chunks, iterator, principal, audit))
            await handler.flush()  # the status line and headers; the body goes to the connection piece by piece
            while not done:
                chunks, done = await pending
                # the executor reads the next batch while this one goes out
                pending = (
                    None
                    if done
                    else asyncio.ensure_future(self.context.run(self._next_chunks, iterator, principal, audit))
                )
                flushed = None
                for chunk in chunks:  # tornado sends each without copying it (views of volume blocks too,
                    flushed = connection.write(chunk)  # which RequestHandler.write, bytes only, would refuse)
                    sent += len(chunk)
                if flushed is not None:
                    await flushed
            handler.finish()
        except StreamClosedError:
            logger.info("client closed the connection during %s", self.request.path)
            await self._audit_cut_short(
                principal, audit, done, "partial", f"the client closed the connection after {sent} bytes"
            )
        except Exception as exc:  # noqa: BLE001 - the status is sent; all we can do is cut the body short
            logger.exception("DICOMweb %s failed while streaming", self.request.path)
            self.request.connection.close()
            await self._audit_cut_short(
                principal, audit, done, "failure", f"stopped after {sent} bytes ({type(exc).__name__})"
            )
        finally:
            if pending is not None:  # let a batch being read finish before the iterator is closed
                await asyncio.gather(pending, return_exceptions=True)
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    async def _audit_cut_short(
        self, principal: Principal, audit: AuditEntry | None, written: bool, outcome: str, detail: str
    ) -> None:
        """Audit a streamed response that ended early, unless its entry was written with its last batch."""
        if audit is not None and not written:
            entry = dataclasses.replace(audit, outcome=outcome, detail="; ".join(filter(None, (audit.detail, detail))))
            await self._audit(principal, entry)

    def _next_chunks(
        self, iterator: Iterator[bytes | memoryview], principal: Principal, audit: AuditEntry | None
    ) -> tuple[list[bytes | memoryview], bool]:
        """In the executor: the next chunks of a body (about :data:`STREAM_BATCH` bytes), and whether it is done.

        When it is, the audit entry is written here, before the last bytes go out.
        """
        pieces: list[bytes | memoryview] = []
        size = 0
        for piece in iterator:
            pieces.append(piece)
            size += len(piece)
            if size >= STREAM_BATCH:
                return write_runs(pieces), False
        if audit is not None:
            self._audit_now(principal, audit)
        return write_runs(pieces), True

    def _write_error(self, status: int, message: str) -> None:
        handler: Any = self
        handler.set_status(status)
        handler.set_header("Content-Type", "application/json")
        handler.set_header("Warning", warning_header(message))
        handler.finish(json.dumps({"status": status, "message": message}))

    async def _audit(self, principal: Principal | None, entry: AuditEntry) -> None:
        await self.context.run(self._audit_now, principal, entry)

    def _audit_now(self, principal: Principal | None, entry: AuditEntry) -> None:
        """Write an audit entry (blocking: call it in the executor)."""
        try:
            self.context.service.catalog.audit(
                entry.action,
                outcome=entry.outcome,
                actor=principal.actor if principal else None,
                address=self.request.remote_ip,
                service="dicomweb",
                uids=entry.uids,
                count=entry.count,
                detail=entry.detail,
            )
        except Exception:  # noqa: BLE001 - an audit failure must be visible in the log
            logger.exception("writing the audit entry of %s failed", self.request.path)


@tornado.web.stream_request_body
class DicomwebHandler(DicomwebMixin, tornado.web.RequestHandler):
    """The standalone server's handler: bearer tokens, CORS, streamed request bodies with a size limit."""

    def _cors(self) -> None:
        origin = self.request.headers.get("Origin")
        allowed = self.context.cors_origins
        if origin and ("*" in allowed or origin in allowed):
            self.set_header("Access-Control-Allow-Origin", origin)
            self.set_header("Access-Control-Expose-Headers", _EXPOSED_HEADERS)
            self.set_header("Vary", "Origin")

    async def authenticate(self) -> Principal:  # noqa: D102
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip() and self.context.tokens is not None:
            # a token seen recently is answered here, without a trip through the executor
            known = self.context.tokens.cached(token.strip())
            if known is not None:
                return known
            return await self.context.run(self.context.tokens.authenticate, token.strip())  # type: ignore[no-any-return]
        if header:
            raise AuthenticationError("The Authorization header is not a valid 'Bearer <token>'.")
        if self.context.allow_anonymous:
            return Principal("anonymous", self.context.anonymous_role)
        raise AuthenticationError("This DICOMweb server needs a token: send 'Authorization: Bearer <token>'.")

    async def prepare(self) -> None:  # noqa: D102
        self._cors()
        if self.request.method == "OPTIONS" or self.request.method not in self.route.operations:
            return
        try:
            self._principal = await self.authenticate()
        except AuthenticationError as exc:
            self.set_header("WWW-Authenticate", 'Bearer realm="pacslab"')
            await self._audit(
                None, AuditEntry("access", outcome="denied", detail=f"{self.request.method} {self.request.path}")
            )
            self._write_error(401, str(exc))
            return
        limit = self.context.service.max_body_size
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            self._write_error(413, f"The request body has {length} bytes; this server takes at most {limit}.")
            return
        self.request.connection.set_max_body_size(max(limit, 1) * 2 + 2**20)
        operation = self.route.operations[self.request.method]
        if operation.method == "store" and self._principal.role.allows(operation.role):
            # a STOW-RS body goes to files part by part as it arrives, not into memory whole
            self._spool = self.context.service.spool(self.request.headers.get("Content-Type", ""))

    def data_received(self, chunk: bytes) -> None:  # noqa: D102
        self._received += len(chunk)
        if self._received > self.context.service.max_body_size:
            self._too_large = True
            self._chunks = []
            self._discard_spool()
        elif self._spool is not None:
            self._spool.feed(chunk)
        elif not self._too_large:
            self._chunks.append(chunk)

    def body(self) -> bytes:  # noqa: D102
        return b"".join(self._chunks)

    def parts(self) -> list[Part] | None:  # noqa: D102
        if self._spool is None:
            return None
        try:
            return self._spool.close()
        except BaseException:  # malformed, or a full disk: answered at once, its files gone first
            self._discard_spool()
            raise

    def on_finish(self) -> None:  # noqa: D102 - a request answered before its service ran (401, 400, …)
        self._discard_spool()

    def on_connection_close(self) -> None:  # noqa: D102
        super().on_connection_close()
        self._discard_spool()

    async def get(self, **path: str) -> None:  # noqa: D102
        await self.dispatch("GET", path)

    async def post(self, **path: str) -> None:  # noqa: D102
        await self.dispatch("POST", path)

    async def delete(self, **path: str) -> None:  # noqa: D102
        await self.dispatch("DELETE", path)

    async def put(self, **path: str) -> None:  # noqa: D102
        await self.dispatch("PUT", path)

    def options(self, **path: str) -> None:  # noqa: D102
        if "Access-Control-Allow-Origin" in self._headers:
            self.set_header("Access-Control-Allow-Methods", ", ".join([*self.route.operations, "OPTIONS"]))
            self.set_header("Access-Control-Allow-Headers", _ALLOWED_HEADERS)
            self.set_header("Access-Control-Max-Age", "600")
        self.set_header("Allow", ", ".join([*self.route.operations, "OPTIONS"]))
        self.set_status(204)
        self.finish()


def make_handlers(
    prefix: str, context: DicomwebContext, handler: type[tornado.web.RequestHandler] = DicomwebHandler
) -> list[tuple[str, type[tornado.web.RequestHandler], dict[str, Any]]]:
    """Tornado URL specs for every route under *prefix* (``/dicom-web``, ``/pacslab/dicom-web``)."""
    prefix = prefix.rstrip("/")
    return [(prefix + route.path + "/?", handler, {"route": route, "context": context}) for route in ROUTES]

"""pacslab in JupyterLab: the "PACS" side panel (prebuilt labextension) and its server extension.

The server extension mounts pacslab's DICOMweb routes (:mod:`pacslab.dicomweb.jupyter`) under
``{base_url}pacslab/dicom-web`` and adds, behind Jupyter's authentication:

- ``GET  {base_url}pacslab/api/status``: the archive, the DICOMweb mount and the DICOM (DIMSE) service;
- ``POST {base_url}pacslab/api/upload?filename=NAME``: a DICOM file or a zip of them, ingested into the archive.

Configure it with traitlets::

    c.PacslabConfig.archive_root = "/data/pacs"      # or $PACSLAB_ARCHIVE
    c.PacslabConfig.role = "admin"                   # read / write / admin (admin may DELETE)
    c.PacslabExtension.start_dicom = True            # run a pacslab DICOM server inside Jupyter
    c.PacslabExtension.dicom_port = 11112
    c.PacslabExtension.dicom_ae_title = "PACSLAB"
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from traitlets import Bool, Int, Unicode
from traitlets.config import Configurable

__version__ = "0.1.0"
__all__ = ["PacslabExtension", "__version__"]

MAX_UPLOAD = 2 * 1024**3


class PacslabExtension(Configurable):
    """Services the pacslab Jupyter extension starts (``c.PacslabExtension.*``)."""

    start_dicom = Bool(False, help="Start a pacslab DICOM (DIMSE) server on the archive inside Jupyter.").tag(
        config=True
    )
    dicom_port = Int(11112, help="Port of the DICOM server (0 picks a free port).").tag(config=True)
    dicom_host = Unicode("127.0.0.1", help="Address the DICOM server listens on.").tag(config=True)
    dicom_ae_title = Unicode("", help="AE title of the DICOM server (default: pacslab's dimse.ae-title).").tag(
        config=True
    )
    build_volumes = Bool(True, help="Build Zarr volumes of uploaded series right away.").tag(config=True)


class _State:
    """What the handlers share: the archive, the DICOM server, the last study received."""

    def __init__(self, archive: Any, prefix: str, role: str) -> None:
        self.archive = archive
        self.prefix = prefix
        self.role = role
        self.dicom: Any = None
        self.dicom_error = ""
        self.last_study: dict[str, Any] | None = None
        self.lock = threading.Lock()


class _Base(APIHandler):
    @property
    def state(self) -> _State:
        return self.settings["pacslab_state"]


class StatusHandler(_Base):
    """``GET pacslab/api/status``: the archive and the services."""

    @tornado.web.authenticated
    async def get(self) -> None:  # noqa: D102
        s = self.state
        dicom: dict[str, Any] = {"enabled": s.dicom is not None, "running": False, "error": s.dicom_error}
        if s.dicom is not None:
            dicom.update(
                running=bool(s.dicom.running), ae_title=s.dicom.ae_title, host=s.dicom.host, port=s.dicom.port
            )
        self.finish(
            json.dumps(
                {
                    "version": __version__,
                    "archive": str(getattr(s.archive, "url", "")),
                    "role": s.role,
                    "dicomweb": {"running": True, "url": s.prefix},
                    "dicom": dicom,
                    "last_study": s.last_study,
                }
            )
        )


def _safe_name(name: str) -> str:
    r"""The upload's name as one plain file name in the upload folder (``upload.dcm`` when nothing is left).

    Directories (``/`` or ``\\``), NUL, leading dots (``..``; ingest skips hidden files) and all but
    the last 120 bytes are dropped: the name is a label, never a path.
    """
    base = os.path.basename(name.replace("\\", "/").replace("\x00", "")).lstrip(".")
    base = base.encode("utf-8", "surrogateescape")[-120:].decode("utf-8", "ignore").lstrip(".")
    return base or "upload.dcm"


def _ingest_upload(state: _State, name: str, body: bytes, build_volumes: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pacslab-upload-") as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        safe = _safe_name(name)
        path = folder / safe
        path.write_bytes(body)
        if zipfile.is_zipfile(path):
            out = folder / "unzipped"
            with zipfile.ZipFile(path) as zf:
                for member in zf.infolist():
                    target = (out / member.filename).resolve()
                    if not target.is_relative_to(out.resolve()):  # not a prefix test: "unzipped2" starts like it
                        why = f"unsafe path in zip: {ascii(member.filename)[:100]} leaves the upload folder; remove it"
                        raise tornado.web.HTTPError(400, reason=why)
                    if not member.is_dir():
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(zf.read(member))
            path.unlink()
        with state.lock:
            report = state.archive.ingest(folder, progress=False, build_volumes=build_volumes)
        import pydicom

        studies: list[str] = []
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                try:
                    ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["StudyInstanceUID"])
                    uid = str(ds.StudyInstanceUID)
                    if uid not in studies:
                        studies.append(uid)
                except Exception:  # noqa: BLE001 - not DICOM: the report says it was rejected
                    pass
    result = {
        "filename": safe,
        "new": report.new,
        "duplicate": report.duplicate,
        "conflict": report.conflict,
        "rejected": [list(r) for r in report.rejected],
        "studies": studies,
    }
    if studies:
        state.last_study = {"study": studies[-1], "source": "upload", "time": time.time()}
    return result


@tornado.web.stream_request_body
class UploadHandler(_Base):
    """``POST pacslab/api/upload?filename=NAME``: the body is one DICOM file or a zip."""

    def initialize(self) -> None:  # noqa: D102
        self._chunks: list[bytes] = []
        self._size = 0

    async def prepare(self) -> None:  # noqa: D102
        await super().prepare()
        # refuse before the body streams in: @authenticated on post() would only run after it
        if self.current_user is None:
            raise tornado.web.HTTPError(403)
        if self.request.method == "POST":
            self.request.connection.set_max_body_size(MAX_UPLOAD)

    def data_received(self, chunk: bytes) -> None:  # noqa: D102
        self._size += len(chunk)
        if self._size > MAX_UPLOAD:
            raise tornado.web.HTTPError(413)
        self._chunks.append(chunk)

    @tornado.web.authenticated
    async def post(self) -> None:  # noqa: D102
        if self.state.role == "read":
            raise tornado.web.HTTPError(403, reason="uploads need the write role")
        name = self.get_query_argument("filename", "upload.dcm")
        body = b"".join(self._chunks)
        if not body:
            raise tornado.web.HTTPError(400, reason="empty upload")
        build = self.settings.get("pacslab_build_volumes", True)
        result = await asyncio.get_running_loop().run_in_executor(
            None, _ingest_upload, self.state, name, body, build
        )
        self.finish(json.dumps(result))


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "pacslab-jupyterlab"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "pacslab_jupyterlab"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Mount pacslab's DICOMweb routes and the panel's API; start the DICOM service if asked."""
    from pacslab.dicomweb import jupyter as dw

    web_app = serverapp.web_app
    if "pacslab_archive" not in web_app.settings:  # not already loaded as its own extension
        dw._load_jupyter_server_extension(serverapp)
    archive = web_app.settings.get("pacslab_archive")
    if archive is None:
        serverapp.log.warning("pacslab panel API is not mounted: no archive configured.")
        return
    cfg = dw.PacslabConfig(parent=serverapp)
    ext = PacslabExtension(parent=serverapp)
    base = web_app.settings["base_url"]
    state = _State(archive, url_path_join(base, dw.MOUNT), cfg.role)
    web_app.settings["pacslab_state"] = state
    web_app.settings["pacslab_build_volumes"] = ext.build_volumes
    if ext.start_dicom:
        try:
            from pacslab.dimse import DicomServer

            kwargs: dict[str, Any] = {"host": ext.dicom_host, "port": ext.dicom_port}
            if ext.dicom_ae_title:
                kwargs["ae_title"] = ext.dicom_ae_title
            state.dicom = DicomServer(archive, **kwargs).start()
            serverapp.log.info(
                "pacslab DICOM server %s on %s:%s", state.dicom.ae_title, state.dicom.host, state.dicom.port
            )
        except Exception as exc:  # noqa: BLE001 - Jupyter keeps running; the panel shows the error
            state.dicom_error = f"{type(exc).__name__}: {exc}"
            serverapp.log.error("pacslab DICOM server did not start: %s", state.dicom_error)
    api = url_path_join(base, "pacslab", "api")
    web_app.add_handlers(
        ".*$",
        [(url_path_join(api, "status"), StatusHandler), (url_path_join(api, "upload"), UploadHandler)],
    )
    serverapp.log.info("pacslab panel API at %s", api)


load_jupyter_server_extension = _load_jupyter_server_extension

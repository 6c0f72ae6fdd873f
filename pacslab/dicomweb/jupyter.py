"""The DICOMweb service inside a Jupyter server, at ``{base_url}pacslab/dicom-web``.

The same routes and service as the standalone server, behind Jupyter's own
authentication (its token or login): every user Jupyter lets in gets the role of
``PacslabConfig.role``. The archive is ``PacslabConfig.archive_root`` or the
``PACSLAB_ARCHIVE`` environment variable.

Enable it with ``jupyter server extension enable pacslab.dicomweb.jupyter`` or
``--ServerApp.jpserver_extensions='{"pacslab.dicomweb.jupyter": true}'``, and point it
at an archive::

    # jupyter_server_config.py
    c.ServerApp.jpserver_extensions = {"pacslab.dicomweb.jupyter": True}
    c.PacslabConfig.archive_root = "/data/pacs"
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
from typing import Any

import tornado.web
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from traitlets import Enum, Int, Unicode
from traitlets.config import Configurable

from pacslab.dicomweb.auth import Principal, RoleValues
from pacslab.dicomweb.handlers import DicomwebContext, DicomwebMixin, make_handlers
from pacslab.dicomweb.service import DicomwebService

__all__ = ["JupyterDicomwebHandler", "PacslabConfig"]

logger = logging.getLogger(__name__)

MOUNT = "pacslab/dicom-web"


class PacslabConfig(Configurable):
    """Settings of pacslab's Jupyter server extension (``c.PacslabConfig.*``)."""

    archive_root = Unicode(
        "", help="The pacslab archive to serve over DICOMweb (a folder or fsspec URL); else $PACSLAB_ARCHIVE."
    ).tag(config=True)
    role = Enum(
        ["read", "write", "admin"],
        default_value="write",
        help="What users Jupyter authenticated may do: read (QIDO, WADO), write (+ STOW), admin (+ DELETE).",
    ).tag(config=True)
    max_results = Int(1000, help="Most matches one DICOMweb search returns.").tag(config=True)
    workers = Int(4, help="Threads for blocking archive I/O.").tag(config=True)


class JupyterDicomwebHandler(DicomwebMixin, JupyterHandler):
    """A DICOMweb route served by Jupyter: Jupyter authenticates, pacslab does the rest."""

    def get_login_url(self) -> str:
        """API clients without credentials get 403, not a redirect to a login page."""
        raise tornado.web.HTTPError(403)

    async def authenticate(self) -> Principal:  # noqa: D102
        user = self.current_user
        name = getattr(user, "username", None) or getattr(user, "name", None) or str(user)
        return Principal(f"jupyter:{name}", self.context.user_role)

    @tornado.web.authenticated
    async def get(self, **path: str) -> None:  # noqa: D102
        await self.dispatch("GET", path)

    @tornado.web.authenticated
    async def post(self, **path: str) -> None:  # noqa: D102
        await self.dispatch("POST", path)

    @tornado.web.authenticated
    async def delete(self, **path: str) -> None:  # noqa: D102
        await self.dispatch("DELETE", path)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "pacslab.dicomweb.jupyter"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Mount the DICOMweb routes in a running Jupyter server."""
    from pacslab.archive import open_archive

    config = PacslabConfig(parent=serverapp)
    root = config.archive_root or os.environ.get("PACSLAB_ARCHIVE", "")
    if not root:
        serverapp.log.warning(
            "pacslab DICOMweb is not mounted: set c.PacslabConfig.archive_root or PACSLAB_ARCHIVE to an archive."
        )
        return
    archive = open_archive(root)
    service = DicomwebService(archive, max_results=config.max_results)
    web_app = serverapp.web_app
    prefix = url_path_join(web_app.settings["base_url"], MOUNT)
    context = DicomwebContext(
        service=service,
        executor=cf.ThreadPoolExecutor(config.workers, thread_name_prefix="pacslab-dicomweb"),
        prefix=prefix,
        user_role=RoleValues(config.role),
    )
    web_app.settings["pacslab_archive"] = archive
    web_app.add_handlers(".*$", make_handlers(prefix, context, JupyterDicomwebHandler))
    serverapp.log.info("pacslab DICOMweb serves %s at %s", archive.url, prefix)


# Older Jupyter servers look for these names.
load_jupyter_server_extension = _load_jupyter_server_extension

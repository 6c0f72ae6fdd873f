"""DICOMweb for the archive: QIDO-RS, WADO-RS and STOW-RS (PS3.18), standalone or inside Jupyter.

- :class:`DicomwebServer` serves an archive at ``http://host:port/dicom-web`` from a
  background thread (start and stop it from a notebook, or ``pacslab serve``).
- :mod:`pacslab.dicomweb.jupyter` mounts the same handlers in a Jupyter server under
  ``/pacslab/dicom-web``, behind Jupyter's own authentication.
- :class:`DicomwebService` is the framework-free layer both use; :data:`ROUTES` the route table.

Access needs a bearer token with a role (``read``, ``write``, ``admin``):
``pacslab token create ROOT --role read`` or :func:`create_token`.

Examples
--------
>>> import pacslab
>>> from pacslab.dicomweb import DicomwebServer, create_token
>>> archive = pacslab.open_archive("memory://dicomweb-doctest", create=True)
>>> token = create_token(archive, role="read")
>>> server = DicomwebServer(archive, port=0).start()
>>> import urllib.request, json
>>> req = urllib.request.Request(server.url + "/studies", headers={"Authorization": f"Bearer {token}"})
>>> json.loads(urllib.request.urlopen(req).read())
[]
>>> server.stop()
"""

from __future__ import annotations

try:
    import tornado  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "pacslab.dicomweb needs tornado (and Pillow for rendered images): pip install 'pacslab[dicomweb]'"
    ) from exc

from pacslab.dicomweb.auth import AuthenticationError, Principal, RoleValues, TokenStore, create_token
from pacslab.dicomweb.routes import ROUTES, Operation, Route
from pacslab.dicomweb.server import DicomwebServer
from pacslab.dicomweb.service import DicomwebError, DicomwebService, Request, Response, status_for

__all__ = [
    "AuthenticationError",
    "create_token",
    "DicomwebError",
    "DicomwebServer",
    "DicomwebService",
    "Operation",
    "Principal",
    "Request",
    "Response",
    "RoleValues",
    "Route",
    "ROUTES",
    "status_for",
    "TokenStore",
]

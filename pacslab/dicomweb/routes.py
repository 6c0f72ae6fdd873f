"""The DICOMweb route table (PS3.18 Tables 8.1-1, 10.3-1, 10.4.1-1, 10.5-1): data, not code.

Each :class:`Route` is a path under the service root, and for each HTTP method
the :class:`~pacslab.dicomweb.service.DicomwebService` method that serves it and
the role it needs. Path groups are passed to that method by name.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pacslab.dicomweb.auth import RoleValues

__all__ = [
    "Operation",
    "Route",
    "ROUTES",
]

_UID = r"[0-9A-Za-z.\-]+"
STUDY = rf"/studies/(?P<study>{_UID})"
SERIES = rf"{STUDY}/series/(?P<series>{_UID})"
INSTANCE = rf"{SERIES}/instances/(?P<instance>{_UID})"
FRAMES = rf"{INSTANCE}/frames/(?P<frames>[0-9,%Cc]+)"


@dataclasses.dataclass(frozen=True)
class Operation:
    """What one HTTP method of a route does: a service method, the role it needs, fixed arguments."""

    method: str
    role: RoleValues = RoleValues.READ
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Whether the response carries or the request stores patient data (written to the audit table).
    audited: bool = True


@dataclasses.dataclass(frozen=True)
class Route:
    """A path (a regular expression relative to the service root) and its operations by HTTP method."""

    path: str
    operations: dict[str, Operation]


_READ = RoleValues.READ
_WRITE = RoleValues.WRITE
_ADMIN = RoleValues.ADMIN

ROUTES: tuple[Route, ...] = (
    Route("/studies", {"GET": Operation("search_studies"), "POST": Operation("store", _WRITE)}),
    Route("/series", {"GET": Operation("search_series")}),
    Route("/instances", {"GET": Operation("search_instances")}),
    Route(
        STUDY,
        {
            "GET": Operation("retrieve"),
            "POST": Operation("store", _WRITE),
            "DELETE": Operation("delete", _ADMIN),
        },
    ),
    Route(f"{STUDY}/metadata", {"GET": Operation("metadata")}),
    Route(f"{STUDY}/series", {"GET": Operation("search_series")}),
    Route(f"{STUDY}/instances", {"GET": Operation("search_instances")}),
    Route(f"{STUDY}/thumbnail", {"GET": Operation("thumbnail")}),
    Route(SERIES, {"GET": Operation("retrieve"), "DELETE": Operation("delete", _ADMIN)}),
    Route(f"{SERIES}/metadata", {"GET": Operation("metadata")}),
    Route(f"{SERIES}/instances", {"GET": Operation("search_instances")}),
    Route(f"{SERIES}/rendered", {"GET": Operation("rendered")}),
    Route(f"{SERIES}/thumbnail", {"GET": Operation("thumbnail")}),
    Route(INSTANCE, {"GET": Operation("retrieve")}),
    Route(f"{INSTANCE}/metadata", {"GET": Operation("metadata")}),
    Route(f"{INSTANCE}/rendered", {"GET": Operation("rendered")}),
    Route(f"{INSTANCE}/thumbnail", {"GET": Operation("thumbnail")}),
    Route(f"{INSTANCE}/bulk/(?P<tag>[0-9A-Fa-f]{{8}})", {"GET": Operation("bulkdata")}),
    Route(FRAMES, {"GET": Operation("frames")}),
    Route(f"{FRAMES}/rendered", {"GET": Operation("rendered")}),
)

"""Helpers of the DICOMweb tests (a module with its own name: several test folders have a conftest)."""

from __future__ import annotations

from typing import Any

import pacslab
from pacslab.dicomweb import DicomwebServer, create_token


class Served:
    """A running server over an archive, with one token per role."""

    def __init__(self, archive: pacslab.Archive, server: DicomwebServer) -> None:
        self.archive, self.server = archive, server
        self.tokens = {
            role: create_token(archive, role=role, name=f"test-{role}") for role in ("read", "write", "admin")
        }

    @property
    def url(self) -> str:
        return self.server.url

    def headers(self, role: str = "read") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def client(self, role: str = "read") -> Any:
        from dicomweb_client.api import DICOMwebClient

        return DICOMwebClient(self.url, headers=self.headers(role))

"""Fixtures of the DIMSE tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dimse_helpers import write_ct_series

import pacslab
from pacslab.dimse import DicomServer


@pytest.fixture(scope="session")
def ct_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """One CT study: two series of 6 slices."""
    return write_ct_series(tmp_path_factory.mktemp("ct"), 12, series=2)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DicomServer]:
    """A pacslab DICOM server on a free loopback port, over a fresh archive."""
    archive = pacslab.open_archive(tmp_path / "served", create=True)
    srv = DicomServer(archive, port=0, stable_delay=0.3, ae_title="PACSLAB").start()
    try:
        yield srv
    finally:
        srv.stop()
        archive.close()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A throw-away CA, and server and client certificates it signed (:func:`pacslab.testing.tls.write_test_pki`)."""
    pytest.importorskip("cryptography")
    from pacslab.testing.tls import write_test_pki

    return write_test_pki(tmp_path_factory.mktemp("tls"))

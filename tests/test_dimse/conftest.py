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
    """A throw-away CA, and server and client certificates it signed (made with the openssl CLI)."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("tls")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=pacslab test CA")  # fmt: skip
    for name in ("server", "client"):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost")  # fmt: skip
        (d / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")  # fmt: skip
    return {p.name: str(p) for p in d.iterdir()}

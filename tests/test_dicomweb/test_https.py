"""DICOMweb over HTTPS: QIDO and WADO with the test CA; plain HTTP and unverified clients are refused."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
import requests
from dicomweb_helpers import Served
from pydicom.data import get_testdata_file

import pacslab
from pacslab.dicomweb import DicomwebServer
from pacslab.examples import generate_ct_series, write_series

pytest.importorskip("cryptography")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from pacslab.testing.tls import write_test_pki

    return write_test_pki(tmp_path_factory.mktemp("https-pki"))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("https-data")
    paths = write_series(generate_ct_series(seed=7, n_slices=3, rows=32, columns=32), d / "ct")
    return [*map(Path, paths), Path(get_testdata_file("CT_small.dcm"))]


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory, pki: dict[str, str], files: list[Path]) -> Iterator[Served]:
    """A DICOMweb server over TLS with the test CA's server certificate."""
    archive = pacslab.open_archive(tmp_path_factory.mktemp("https") / "archive", create=True)
    archive.ingest(files, progress=False)
    server = DicomwebServer(archive, port=0, stable_delay=None, tls_certificate=pki["server.crt"],
                            tls_private_key=pki["server.key"]).start()  # fmt: skip
    try:
        yield Served(archive, server)
    finally:
        server.stop()
        archive.close()


def _session(served: Served, ca: str | bool) -> requests.Session:
    session = requests.Session()
    session.verify = ca
    session.trust_env = False  # else REQUESTS_CA_BUNDLE replaces session.verify (requests lets the environment win)
    session.headers.update(served.headers())
    return session


def test_qido_and_wado_over_https(https: Served, pki: dict[str, str], files: list[Path]) -> None:
    # Given a client that trusts the test CA
    from dicomweb_client.api import DICOMwebClient

    assert https.url.startswith("https://127.0.0.1:")
    client = DICOMwebClient(https.url, session=_session(https, pki["ca.crt"]))
    # When it searches (QIDO-RS) and retrieves (WADO-RS)
    studies = client.search_for_studies()
    ds = pydicom.dcmread(files[0])
    (instance,) = client.search_for_instances(search_filters={"SOPInstanceUID": ds.SOPInstanceUID})
    parts = list(client.retrieve_study(ds.StudyInstanceUID))
    # Then both answer as over HTTP, and the retrieved instances are the originals
    assert len(studies) == 2
    assert instance["00080018"]["Value"] == [ds.SOPInstanceUID]
    retrieved = {p.SOPInstanceUID: p for p in parts}
    assert len(retrieved) == 3
    expected = hashlib.sha256(files[0].read_bytes()).hexdigest()
    raw = _session(https, pki["ca.crt"]).get(
        f"{https.url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}",
        headers={"Accept": 'multipart/related; type="application/dicom"'},
        timeout=30,
    )
    (part,) = DICOMwebClient(https.url)._decode_multipart_message(raw, stream=False)
    assert hashlib.sha256(part).hexdigest() == expected


def test_plain_http_to_the_tls_port_fails(https: Served) -> None:
    plain = https.url.replace("https://", "http://")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{plain}/studies", headers=https.headers(), timeout=10)


def test_client_without_the_ca_fails_verification(https: Served) -> None:
    # the system trust store does not know the test CA
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        requests.get(f"{https.url}/studies", headers=https.headers(), timeout=10)


def test_tls_from_config_and_bad_settings(tmp_path: Path, pki: dict[str, str]) -> None:
    with pacslab.open_archive(tmp_path / "a", create=True) as archive:
        settings = {"dicomweb.tls.certificate": pki["server.crt"], "dicomweb.tls.private-key": pki["server.key"]}
        with pacslab.config.set(settings):
            assert DicomwebServer(archive, port=0).url.startswith("https://")
        assert DicomwebServer(archive, port=0).url.startswith("http://")
        with pytest.raises(ValueError, match="both a certificate and its private key"):
            DicomwebServer(archive, tls_certificate=pki["server.crt"])
        with pytest.raises(ValueError, match="cannot be used together"):
            DicomwebServer(archive, tls_certificate=pki["server.crt"], tls_private_key=pki["client.key"])
        with pytest.raises(ValueError, match="does not exist"):
            DicomwebServer(archive, tls_certificate=str(tmp_path / "none.crt"), tls_private_key=pki["server.key"])


def test_serve_cli_https_flags(tmp_path: Path, pki: dict[str, str]) -> None:
    root = tmp_path / "archive"
    pacslab.open_archive(root, create=True).close()
    # port 0, read back from what the command prints: a port picked here could be taken by another test's server
    # before this one binds it, and the request below would go there
    cmd = [sys.executable, "-m", "pacslab", "serve", str(root), "--dicom-port", "0", "--http-port", "0",
           "--http-tls-cert", pki["server.crt"], "--http-tls-key", pki["server.key"]]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    printed = []
    try:
        assert proc.stdout is not None
        while not (printed and printed[-1].startswith("DICOMweb at ")):
            line = proc.stdout.readline()
            assert line, f"pacslab serve ended before serving DICOMweb: {printed}"
            printed.append(line.strip())
        url = printed[-1].removeprefix("DICOMweb at ")
        assert url.startswith("https://127.0.0.1:") and url.endswith("/dicom-web")
        response = requests.get(f"{url}/studies", verify=pki["ca.crt"], timeout=10)
        assert response.status_code == 401  # TLS is up; the server still wants a token
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err

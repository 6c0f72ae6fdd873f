"""The DICOMweb routes inside a real Jupyter server, behind Jupyter's authentication."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import pacslab

pytest.importorskip("jupyter_server", reason="jupyter_server is not installed")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _peers import free_port  # noqa: E402

TOKEN = "pacslab-test-token"


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[str]:
    """A Jupyter server with the extension enabled over an archive of one series; yields its base URL."""
    tmp = tmp_path_factory.mktemp("jupyter")
    archive = pacslab.open_archive(tmp / "archive", create=True)
    archive.ingest(data_dir / "gen2", progress=False)
    archive.close()
    config = tmp / "jupyter_server_config.json"
    config.write_text(json.dumps({
        "ServerApp": {"jpserver_extensions": {"pacslab.dicomweb.jupyter": True}},
        "PacslabConfig": {"archive_root": str(tmp / "archive"), "role": "read"},
    }))  # fmt: skip
    port = free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp / "cfg"), "JUPYTER_DATA_DIR": str(tmp / "data"),
           "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "JUPYTER_PLATFORM_DIRS": "1"}  # fmt: skip
    env.pop("PACSLAB_ARCHIVE", None)
    log = open(tmp / "jupyter.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", f"--config={config}", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={tmp}", "--allow-root"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/api/status", headers={"Authorization": f"token {TOKEN}"}, timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"jupyter server did not start:\n{(tmp / 'jupyter.log').read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_qido_with_jupyter_token(jupyter: str) -> None:
    from dicomweb_client.api import DICOMwebClient

    # Given a Jupyter server with the pacslab extension, When searching with Jupyter's token
    client = DICOMwebClient(f"{jupyter}/pacslab/dicom-web", headers={"Authorization": f"token {TOKEN}"})
    studies = client.search_for_studies()
    # Then the archive's study is found, with a RetrieveURL under the Jupyter mount
    assert len(studies) == 1
    assert studies[0]["00081190"]["Value"][0].startswith(f"{jupyter}/pacslab/dicom-web/studies/")
    assert len(client.search_for_instances()) == 6
    assert len(client.retrieve_study(studies[0]["0020000D"]["Value"][0])) == 6


def test_wado_through_jupyter_is_byte_identical(jupyter: str, data_dir: Path) -> None:
    from dicomweb_client.api import DICOMwebClient

    files = {p.read_bytes() for p in (data_dir / "gen2").rglob("*") if p.is_file()}
    base = f"{jupyter}/pacslab/dicom-web"
    headers = {"Authorization": f"token {TOKEN}"}
    (study,) = [s["0020000D"]["Value"][0] for s in DICOMwebClient(base, headers=headers).search_for_studies()]
    accept = 'multipart/related; type="application/dicom"'
    r = requests.get(f"{base}/studies/{study}", headers={**headers, "Accept": accept})
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(r.content)
    parts = list(DICOMwebClient(base)._decode_multipart_message(r, stream=False))
    # streamed by the same handler code as the standalone server
    assert len(parts) == 6 and {bytes(p) for p in parts} == files


def test_refused_without_jupyter_token(jupyter: str) -> None:
    r = requests.get(f"{jupyter}/pacslab/dicom-web/studies", allow_redirects=False)
    assert r.status_code in (401, 403)
    r = requests.get(f"{jupyter}/pacslab/dicom-web/studies", headers={"Authorization": "token wrong"},
                     allow_redirects=False)  # fmt: skip
    assert r.status_code in (401, 403)


def test_jupyter_role_limits_writes(jupyter: str) -> None:
    r = requests.delete(f"{jupyter}/pacslab/dicom-web/studies/1.2.3", headers={"Authorization": f"token {TOKEN}"})
    assert r.status_code == 403

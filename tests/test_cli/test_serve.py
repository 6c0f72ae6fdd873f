"""``pacslab serve``: DICOM and DICOMweb from one command, as a user starts it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

import pacslab
from pacslab import examples
from pacslab.testing.peers import process_tree, wait_for


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _stow_a_series(url: str, token: str, tmp_path) -> None:
    paths = examples.write_series(
        examples.generate_mr_series(seed=41, n_slices=4, rows=32, columns=32), tmp_path / "mr"
    )
    body = b"".join(b"--b0\r\nContent-Type: application/dicom\r\n\r\n" + p.read_bytes() + b"\r\n" for p in paths)
    headers = {"Authorization": f"Bearer {token}",
               "Content-Type": 'multipart/related; type="application/dicom"; boundary=b0'}  # fmt: skip
    stow = urllib.request.Request(url, data=body + b"--b0--\r\n", method="POST", headers=headers)
    with urllib.request.urlopen(stow, timeout=60) as response:
        assert response.status == 200


def _gone(pids: list[int]) -> bool:
    return not [p for p in pids if _alive(p)]


_SERVE_DICOMWEB = """
import sys, pacslab
from pacslab.dicomweb import DicomwebServer
server = DicomwebServer(pacslab.open_archive(sys.argv[1]), port=0, stable_delay=None).start()
print("ready", server.port, flush=True)
server.serve_forever()
"""


def test_dicomweb_server_stops_its_workers_on_sigterm(tmp_path):
    """``DicomwebServer.serve_forever`` (a server of its own, as in a container) ends its STOW-RS workers on SIGTERM."""
    pytest.importorskip("tornado")
    from pacslab.dicomweb import create_token

    root = tmp_path / "archive"
    with pacslab.open_archive(root, create=True) as archive:
        writer = create_token(archive, role="write")
    proc = subprocess.Popen([sys.executable, "-c", _SERVE_DICOMWEB, str(root)], stdout=subprocess.PIPE)
    try:
        ready, port = proc.stdout.readline().decode().split()  # its own choice: a port picked here could be taken
        assert ready == "ready"
        _stow_a_series(f"http://127.0.0.1:{port}/dicom-web/studies", writer, tmp_path)
        tree = process_tree(proc.pid)
        assert len(tree) >= 3  # the server, and the workers (under a fork server)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    wait_for(lambda: _gone(tree), timeout=10)


@pytest.mark.slow
def test_serve_dicom_and_dicomweb(tmp_path):
    pytest.importorskip("pynetdicom")
    pytest.importorskip("tornado")
    from pacslab.dicomweb import create_token
    from pacslab.dimse import echo, send

    root = tmp_path / "archive"
    with pacslab.open_archive(root, create=True) as archive:
        token = create_token(archive, role="read")
        writer = create_token(archive, role="write")
    # ports 0, read back from what the command prints: ports picked here could be taken by another test's
    # servers before this one binds them
    cmd = [sys.executable, "-m", "pacslab", "serve", str(root), "--dicom-port", "0", "--http-port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        serving, web = proc.stdout.readline().strip(), proc.stdout.readline().strip()
        assert serving.startswith("serving ") and web.startswith("DICOMweb at http://127.0.0.1:"), (serving, web)
        dicom_port = int(serving.split(" on ", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])
        http_port = int(web.removeprefix("DICOMweb at http://127.0.0.1:").split("/", 1)[0])
        assert echo(("PACSLAB", "127.0.0.1", dicom_port)) > 0
        datasets = examples.generate_ct_series(seed=40, n_slices=3, rows=32, columns=32)
        paths = examples.write_series(datasets, tmp_path / "in")
        assert send(("PACSLAB", "127.0.0.1", dicom_port), paths).ok
        url = f"http://127.0.0.1:{http_port}/dicom-web/studies"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        assert refused.value.code == 401
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        studies = []
        for _ in range(100):  # a C-STORE may be archived a moment after its success response
            with urllib.request.urlopen(request, timeout=10) as response:
                studies = json.loads(response.read() or b"[]")
            if studies:
                break
            time.sleep(0.1)
        assert [s["0020000D"]["Value"][0] for s in studies] == [datasets[0].StudyInstanceUID]
        _stow_a_series(url, writer, tmp_path)  # its parts are prepared in worker processes, started on demand
        tree = process_tree(proc.pid)
        assert len(tree) >= 3  # the server, and the workers (under a fork server)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    wait_for(lambda: _gone(tree), timeout=10)

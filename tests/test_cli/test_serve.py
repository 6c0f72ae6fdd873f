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
from pacslab.testing.peers import free_port, wait_port


@pytest.mark.slow
def test_serve_dicom_and_dicomweb(tmp_path):
    pytest.importorskip("pynetdicom")
    pytest.importorskip("tornado")
    from pacslab.dicomweb import create_token
    from pacslab.dimse import echo, send

    root = tmp_path / "archive"
    with pacslab.open_archive(root, create=True) as archive:
        token = create_token(archive, role="read")
    dicom_port, http_port = free_port(), free_port()
    cmd = [sys.executable, "-m", "pacslab", "serve", str(root), "--dicom-port", str(dicom_port),
           "--http-port", str(http_port)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_port(dicom_port, timeout=30)
        wait_port(http_port, timeout=30)
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
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"DICOMweb at http://127.0.0.1:{http_port}" in out

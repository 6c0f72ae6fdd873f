"""``pacslab serve | echo | send | find | get | move``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from dimse_helpers import free_port, read, wait_port

import pacslab
from pacslab.cli.main import main
from pacslab.dimse import echo


def test_echo_send_find_get_move(server, ct_files, tmp_path, capsys):
    remote = f"PACSLAB@127.0.0.1:{server.port}"
    assert main(["echo", remote, "--ae-title", "CLI"]) == 0
    assert "C-ECHO succeeded" in capsys.readouterr().out
    assert main(["send", remote, str(ct_files[0].parent)]) == 0
    assert "12 completed, 0 failed" in capsys.readouterr().out
    assert main(["find", remote, "--level", "SERIES", "-k", "PatientName=DOE*", "-k", "SeriesDescription",
                 "--json"]) == 0  # fmt: skip
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and {r["NumberOfSeriesRelatedInstances"] for r in rows} == {6}
    study = read(ct_files[0].read_bytes()).StudyInstanceUID
    local = tmp_path / "local"
    pacslab.open_archive(local, create=True).close()
    assert main(["get", remote, "--root", str(local), "--study", study]) == 0
    assert "archived: 12 new" in capsys.readouterr().out
    with pacslab.open_archive(local) as archive:
        assert len(archive.instances()) == 12 and set(archive.series().volume_state) == {"ready"}
    assert main(["move", remote, "--dest", "NOBODY", "--study", study]) == 1
    assert "0xA801" in capsys.readouterr().out


def test_serve_runs_until_terminated(tmp_path):
    root = tmp_path / "archive"
    pacslab.open_archive(root, create=True).close()
    port = free_port()
    cmd = [sys.executable, "-m", "pacslab", "serve", str(root), "--dicom-port", str(port), "--ae-title", "SERVED",
           "--no-http"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_port(port, timeout=30)
        assert echo(("SERVED", "127.0.0.1", port)) > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"as SERVED on 127.0.0.1:{port}" in out
    with pacslab.open_archive(root) as archive:
        assert {"server-start", "server-stop", "association"} <= set(archive.audit_log().action)

"""pacslab against dcmtk's reference tools: echoscu, storescu, findscu, getscu, movescu, storescp."""

from __future__ import annotations

import concurrent.futures as cf
import subprocess
from pathlib import Path

import pydicom
import pytest
from dimse_helpers import (
    NODELAY_ENV,
    dataset_bytes,
    free_port,
    read,
    requires,
    run_dcmtk,
    wait_for,
    wait_port,
    write_ct_series,
)

import pacslab
from pacslab.dimse import DicomServer, RemoteAE, send

pytestmark = pytest.mark.peers


@requires("echoscu")
def test_echoscu(server):
    result = run_dcmtk("echoscu", "-aet", "ECHOSCU", "-aec", server.ae_title, "127.0.0.1", str(server.port))
    assert result.returncode == 0


@requires("storescu")
def test_four_concurrent_storescu_associations(tmp_path):
    folders = [tmp_path / f"modality{i}" for i in range(4)]
    for i, folder in enumerate(folders):
        write_ct_series(folder, 60, study_seed=f"concurrent-{i}", patient=f"PATIENT{i}^X")
    archive = pacslab.open_archive(tmp_path / "archive", create=True)
    with DicomServer(archive, port=0, stable_delay=0.5) as server:

        def storescu(folder: Path) -> int:
            return run_dcmtk("storescu", "-aet", f"MOD{folder.name[-1]}", "-aec", "PACSLAB", "+sd", "+r",
                             "127.0.0.1", str(server.port), str(folder), timeout=120).returncode  # fmt: skip

        with cf.ThreadPoolExecutor(4) as pool:
            assert list(pool.map(storescu, folders)) == [0, 0, 0, 0]
        assert server.flush(timeout=120)
        instances = archive.instances()
        assert len(instances) == 240 and instances.SOPInstanceUID.is_unique
        expected = {read(p.read_bytes()).SOPInstanceUID for f in folders for p in f.iterdir()}
        assert set(instances.SOPInstanceUID) == expected
        wait_for(lambda: set(archive.series().volume_state) == {"ready"}, timeout=60)
        report = archive.verify()
        assert report.ok and not report.pending, report.problems
        assert len(archive.volumes()) == 4
        assert {v.shape[0] for v in archive.volumes().itertuples()} == {60}
    archive.close()


@requires("findscu")
def test_findscu(server, ct_files, tmp_path):
    send(server.remote, ct_files)
    out = tmp_path / "responses"
    out.mkdir()
    run_dcmtk("findscu", "-S", "-aet", "FINDSCU", "-aec", server.ae_title, "-X", "-od", str(out),
              "-k", "QueryRetrieveLevel=SERIES", "-k", "PatientName=DOE*", "-k", "SeriesInstanceUID",
              "-k", "StudyInstanceUID", "-k", "Modality=CT", "-k", "NumberOfSeriesRelatedInstances",
              "127.0.0.1", str(server.port))  # fmt: skip
    responses = [pydicom.dcmread(p) for p in sorted(out.iterdir())]
    assert len(responses) == 2
    assert {r.NumberOfSeriesRelatedInstances for r in responses} == {6}
    assert {r.SeriesInstanceUID for r in responses} == {read(p.read_bytes()).SeriesInstanceUID for p in ct_files}


@requires("getscu")
def test_getscu_brings_back_identical_datasets(server, ct_files, tmp_path):
    send(server.remote, ct_files)
    out = tmp_path / "got"
    out.mkdir()
    study = read(ct_files[0].read_bytes()).StudyInstanceUID
    run_dcmtk("getscu", "-S", "+B", "-aet", "GETSCU", "-aec", server.ae_title, "-od", str(out),
              "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
              "127.0.0.1", str(server.port))  # fmt: skip
    got = {read(p.read_bytes()).SOPInstanceUID: dataset_bytes(p.read_bytes()) for p in out.iterdir()}
    sent = {read(p.read_bytes()).SOPInstanceUID: dataset_bytes(p.read_bytes()) for p in ct_files}
    assert got == sent


@requires("movescu", "storescp")
def test_movescu_to_storescp_and_send_to_storescp(tmp_path, ct_files):
    out = tmp_path / "storescp"
    out.mkdir()
    port = free_port()
    # storescp listens on every interface: a random high port, stopped below
    scp = subprocess.Popen(["storescp", "+B", "-aet", "STORESCP", "-od", str(out), str(port)], env=NODELAY_ENV,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    archive = pacslab.open_archive(tmp_path / "archive", create=True)
    try:
        wait_port(port)
        remotes = {"storescp": RemoteAE("STORESCP", "127.0.0.1", port)}
        with DicomServer(archive, port=0, remotes=remotes) as server:
            send(server.remote, ct_files)
            study = read(ct_files[0].read_bytes()).StudyInstanceUID
            run_dcmtk("movescu", "-S", "-aet", "MOVESCU", "-aec", server.ae_title, "-aem", "STORESCP",
                      "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
                      "127.0.0.1", str(server.port))  # fmt: skip
            files = wait_for(lambda: (fs := list(out.iterdir())) and len(fs) == len(ct_files) and fs, timeout=20)
            got = {read(p.read_bytes()).SOPInstanceUID: dataset_bytes(p.read_bytes()) for p in files}
            sent = {read(p.read_bytes()).SOPInstanceUID: dataset_bytes(p.read_bytes()) for p in ct_files}
            assert got == sent
            for p in files:
                p.unlink()
            report = send(remotes["storescp"], archive=archive, study_instance_uid=study)
            assert report.ok and report.completed == len(ct_files)
            files = wait_for(lambda: (fs := list(out.iterdir())) and len(fs) == len(ct_files) and fs, timeout=20)
            assert {read(p.read_bytes()).SOPInstanceUID: dataset_bytes(p.read_bytes()) for p in files} == sent
    finally:
        scp.terminate()
        scp.wait(timeout=20)
        archive.close()

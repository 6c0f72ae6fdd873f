"""pacslab and a real Orthanc: C-MOVE both ways, C-GET, C-FIND, byte-identical datasets.

Orthanc 1.10 cannot bind to loopback only: it listens on every interface, on random high
ports, and is stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dimse_helpers import Orthanc, dataset_bytes, free_port, read, requires, run_dcmtk, wait_for, write_ct_series

import pacslab
from pacslab.dimse import DicomServer, RemoteAE, find, get, move, send

pytestmark = [pytest.mark.peers, requires("Orthanc")]


@pytest.fixture(scope="module")
def nodes(tmp_path_factory) -> Iterator[tuple[DicomServer, Orthanc]]:
    root = tmp_path_factory.mktemp("orthanc-peers")
    orthanc_port = free_port()
    archive = pacslab.open_archive(root / "archive", create=True)
    remotes = {"orthanc": RemoteAE("ORTHANC", "127.0.0.1", orthanc_port)}
    server = DicomServer(archive, port=0, remotes=remotes, stable_delay=0.3).start()
    (root / "orthanc").mkdir()
    try:
        orthanc = Orthanc(root / "orthanc", {"pacslab": ["PACSLAB", "127.0.0.1", server.port]}, dicom_port=orthanc_port)
    except Exception:
        server.stop()
        raise
    try:
        yield server, orthanc
    finally:
        orthanc.stop()
        server.stop()
        archive.close()


def _study(tmp_path, seed: str) -> tuple[str, list]:
    files = write_ct_series(tmp_path / seed, 4, study_seed=seed, patient=f"ORTHANC^{seed}")
    return read(files[0].read_bytes()).StudyInstanceUID, files


def _same_as_orthanc(orthanc: Orthanc, archive: pacslab.Archive, files) -> None:
    for path in files:
        sop = read(path.read_bytes()).SOPInstanceUID
        assert dataset_bytes(archive.read_instance(sop)) == dataset_bytes(orthanc.instance_file(sop)), sop


def test_orthanc_c_moves_a_study_to_pacslab(nodes, tmp_path):
    server, orthanc = nodes
    study, files = _study(tmp_path, "m1")
    remote = server.settings.remotes["orthanc"]
    assert send(remote, files).ok  # into Orthanc
    run_dcmtk("movescu", "-S", "-aet", "PACSLAB", "-aec", "ORTHANC", "-aem", "PACSLAB",
              "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
              "127.0.0.1", str(orthanc.dicom_port))  # fmt: skip
    wait_for(lambda: len(server.archive.instances(StudyInstanceUID=study)) == 4, timeout=20)
    _same_as_orthanc(orthanc, server.archive, files)


def test_pacslab_c_moves_and_c_gets_from_orthanc(nodes, tmp_path):
    server, orthanc = nodes
    remote = server.settings.remotes["orthanc"]
    study, files = _study(tmp_path, "m2")
    assert send(remote, files).ok
    found = find(remote, "STUDY", StudyInstanceUID=study)
    assert list(found.StudyInstanceUID) == [study]
    moved = move(remote, server.ae_title, study_instance_uid=study)
    assert moved.ok and moved.completed == 4, moved
    assert server.flush(timeout=60)
    _same_as_orthanc(orthanc, server.archive, files)
    local = pacslab.open_archive(tmp_path / "local", create=True)
    got = get(remote, archive=local, study_instance_uid=study)
    assert got.ok and got.outcomes["new"] == 4, got
    _same_as_orthanc(orthanc, local, files)
    local.close()


def test_orthanc_retrieves_from_pacslab(nodes, tmp_path):
    server, orthanc = nodes
    study, files = _study(tmp_path, "m3")
    assert send(server.remote, files).ok  # into pacslab only
    job = orthanc.rest("POST", "/modalities/pacslab/move", {
        "Level": "Study", "Resources": [{"StudyInstanceUID": study}], "TargetAet": "ORTHANC", "Synchronous": True,
    })  # fmt: skip
    assert job is not None
    wait_for(lambda: len(orthanc.rest("POST", "/tools/lookup", study.encode())) == 1, timeout=20)
    for path in files:
        sop = read(path.read_bytes()).SOPInstanceUID
        assert dataset_bytes(orthanc.instance_file(sop)) == dataset_bytes(server.archive.read_instance(sop))
    moves = server.archive.audit_log()
    assert any(s == "C-MOVE" for s in moves.service.dropna())

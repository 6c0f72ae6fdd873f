"""The pacslab DICOM server against pacslab's own (pynetdicom) clients: storage, query, retrieve, audit."""

from __future__ import annotations

import json

import pydicom
import pytest
from dimse_helpers import audit_entries, dataset_bytes, read, wait_for, write_ct_series
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

import pacslab
from pacslab.dimse import DicomServer, RemoteAE, echo, find, get, move, send
from pacslab.errors import RemoteError


def test_start_stop_is_non_blocking_and_picks_a_free_port(tmp_path):
    archive = pacslab.open_archive(tmp_path / "a", create=True)
    server = DicomServer(archive, port=0)
    assert not server.running
    server.start()
    try:
        assert server.running and server.port > 0
        assert server.ae_title == "PACSLAB"
        assert echo(server.remote) > 0
    finally:
        server.stop()
    assert not server.running
    with pytest.raises(RemoteError):
        echo(server.remote)
    archive.close()


def test_store_then_get_is_byte_identical(server, ct_files):
    report = send(server.remote, ct_files)
    assert report.ok and report.completed == len(ct_files)
    assert server.flush(timeout=60)
    study = read(ct_files[0].read_bytes()).StudyInstanceUID
    back = get(server.remote, study_instance_uid=study)
    assert back.ok and back.completed == len(ct_files), back.failures
    sent = {read(p.read_bytes()).SOPInstanceUID: dataset_bytes(p.read_bytes()) for p in ct_files}
    assert {k: dataset_bytes(v) for k, v in back.received.items()} == sent
    # what the archive stored is a Part 10 file whose dataset is the received one
    archive = server.archive
    for sop, data in sent.items():
        assert dataset_bytes(archive.read_instance(sop)) == data
    assert archive.verify().ok


def test_volumes_are_built_once_the_series_is_stable(server, ct_files):
    send(server.remote, ct_files)
    archive = server.archive
    wait_for(lambda: set(archive.series().volume_state) == {"ready"}, timeout=30)
    volume = archive.open_volume(archive.series().SeriesInstanceUID[0])
    assert volume.sizes["z"] == 6


def test_duplicates_succeed_and_stay_single(server, ct_files):
    send(server.remote, ct_files[:3])
    again = send(server.remote, ct_files[:3])
    assert again.ok and again.completed == 3
    assert server.flush(timeout=60)
    assert len(server.archive.instances()) == 3


def test_bad_instance_fails_with_a_reason_and_is_quarantined(server):
    ds = pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm"))
    del ds.StudyInstanceUID
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(CTImageStorage, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", server.port, ae_title=server.ae_title)
    try:
        status = assoc.send_c_store(ds)
    finally:
        assoc.release()
    assert status.Status == 0xA900
    assert "StudyInstanceUID" in status.ErrorComment and len(status.ErrorComment) <= 64
    assert server.flush(timeout=60)
    rejections = server.archive.rejections()
    assert len(rejections) == 1
    key = rejections.quarantine_path[0]
    assert server.archive.fs.exists(f"{server.archive.root}/{key}")  # nothing is lost


def test_every_association_is_audited(server, ct_files):
    send(server.remote, ct_files[:2], calling_ae_title="MODALITY")
    find(server.remote, "STUDY", calling_ae_title="VIEWER")
    echo(server.remote, calling_ae_title="MONITOR")

    log = audit_entries(server.archive, at_least=3, action="association")
    by_actor = {r.actor: r for r in log.itertuples()}
    store = by_actor["MODALITY"]
    assert store.service == "C-STORE" and store.count == 2 and store.outcome == "success"
    assert store.address.startswith("127.0.0.1:")
    assert json.loads(store.uids) == [read(ct_files[0].read_bytes()).StudyInstanceUID]
    assert json.loads(store.detail)["counts"]["new"] == 2
    assert by_actor["VIEWER"].service == "C-FIND"
    assert by_actor["MONITOR"].service == "C-ECHO"


def test_allow_list_rejects_unknown_calling_ae(tmp_path):
    archive = pacslab.open_archive(tmp_path / "a", create=True)
    with DicomServer(archive, port=0, allowed_aes=["FRIEND"]) as server:
        assert echo(server.remote, calling_ae_title="FRIEND") > 0
        with pytest.raises(RemoteError, match="rejected"):
            echo(server.remote, calling_ae_title="STRANGER")
        rejected = audit_entries(archive, outcome="rejected")
        assert list(rejected.actor) == ["STRANGER"]
    archive.close()


def test_allowed_hosts_refuse_other_addresses(tmp_path):
    archive = pacslab.open_archive(tmp_path / "a", create=True)
    with DicomServer(archive, port=0, allowed_hosts=["10.9.8.7"]) as server:
        with pytest.raises(RemoteError):
            echo(server.remote)
    with DicomServer(archive, port=0, allowed_hosts=["127.0.0.1"]) as server:
        assert echo(server.remote) > 0
    archive.close()


def test_c_move_to_a_second_pacslab_and_c_get_from_itself(tmp_path, ct_files):
    source = pacslab.open_archive(tmp_path / "source", create=True)
    target = pacslab.open_archive(tmp_path / "target", create=True)
    with DicomServer(target, port=0, ae_title="TARGET", stable_delay=0.2) as dest:
        remotes = {"target": RemoteAE("TARGET", "127.0.0.1", dest.port)}
        with DicomServer(source, port=0, ae_title="SOURCE", remotes=remotes) as src:
            send(src.remote, ct_files)
            study = read(ct_files[0].read_bytes()).StudyInstanceUID
            moved = move(src.remote, "TARGET", study_instance_uid=study)
            assert moved.ok and moved.completed == len(ct_files), moved
            unknown = move(src.remote, "NOBODY", study_instance_uid=study)
            assert unknown.status == 0xA801
            series = read(ct_files[-1].read_bytes()).SeriesInstanceUID
            got = get(src.remote, series_instance_uid=series)
            assert got.completed == 6
            assert dest.flush(timeout=60) and src.flush(timeout=60)
    for path in ct_files:
        sop = read(path.read_bytes()).SOPInstanceUID
        assert dataset_bytes(target.read_instance(sop)) == dataset_bytes(path.read_bytes())
        assert dataset_bytes(source.read_instance(sop)) == dataset_bytes(path.read_bytes())
    assert target.verify().ok and source.verify().ok
    source.close()
    target.close()


def test_c_get_into_an_archive_builds_the_same_catalog(tmp_path, server, ct_files):
    send(server.remote, ct_files)
    assert server.flush(timeout=60)
    study = read(ct_files[0].read_bytes()).StudyInstanceUID
    local = pacslab.open_archive(tmp_path / "local", create=True)
    report = get(server.remote, archive=local, study_instance_uid=study)
    assert report.ok and report.outcomes["new"] == len(ct_files)
    assert sorted(local.instances().SOPInstanceUID) == sorted(server.archive.instances().SOPInstanceUID)
    audit = local.audit_log()
    assert "get" in set(audit.action)
    local.close()


def test_send_from_the_archive_by_uid(tmp_path, server, ct_files):
    local = pacslab.open_archive(tmp_path / "local", create=True)
    local.ingest(ct_files, progress=False)
    series = read(ct_files[0].read_bytes()).SeriesInstanceUID
    report = send(server.remote, archive=local, series_instance_uid=series)
    assert report.ok and report.completed == 6
    assert server.flush(timeout=60)
    assert set(server.archive.instances().SeriesInstanceUID) == {series}
    for sop in server.archive.instances().SOPInstanceUID:
        assert dataset_bytes(server.archive.read_instance(sop)) == dataset_bytes(local.read_instance(sop))
    local.close()


def test_tls_association(tmp_path, tls_files):
    from pacslab.dimse import TLSSettings

    archive = pacslab.open_archive(tmp_path / "a", create=True)
    server_tls = TLSSettings(tls_files["server.crt"], tls_files["server.key"], tls_files["ca.crt"])
    client_tls = TLSSettings(tls_files["client.crt"], tls_files["client.key"], tls_files["ca.crt"])
    with DicomServer(archive, port=0, tls=server_tls) as server:
        remote = RemoteAE("PACSLAB", "127.0.0.1", server.port, tls=True)
        with pacslab.config.set({"dimse.tls": {"enabled": True, "certificate": client_tls.certificate,
                                               "private-key": client_tls.private_key,
                                               "ca-certificates": client_tls.ca_certificates}}):  # fmt: skip
            assert echo(remote) > 0
            ds = pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm"))
            assert send(remote, ds).completed == 1
        # a plain (non-TLS) client gets nowhere
        with pytest.raises(RemoteError):
            echo(RemoteAE("PACSLAB", "127.0.0.1", server.port))
    archive.close()


def test_find_requests_sequence_keys_from_the_headers(server, tmp_path):
    paths = write_ct_series(tmp_path / "seq", 2)
    for i, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = f"P{i}", "99X", f"Procedure {i}"
        ds.ProcedureCodeSequence = [item]
        ds.StudyInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(path)
    send(server.remote, paths)
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ""
    item = Dataset()
    item.CodeValue = "P1"
    item.CodeMeaning = ""
    query.ProcedureCodeSequence = [item]
    frame = find(server.remote, identifier=query)
    assert len(frame) == 1
    (returned,) = frame.ProcedureCodeSequence[0]
    assert returned["00080100"]["Value"] == ["P1"]
    assert returned["00080104"]["Value"] == ["Procedure 1"]
    assert "00080102" not in returned  # only the requested item keys come back

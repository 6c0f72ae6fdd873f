"""C-STORE spooling: Success once the file is in ROOT/spool, archived in the background, nothing lost."""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from dimse_helpers import audit_entries, dataset_bytes, free_port, read, wait_port, write_ct_series
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

import pacslab
from pacslab.dimse import DicomServer, DimseSettings, find, send
from pacslab.dimse._spool import SPOOL_DIR, check_uids


def _store(port: int, datasets, calling: str = "MODALITY") -> list:
    ae = AE(ae_title=calling)
    ae.add_requested_context(CTImageStorage, pydicom.uid.ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", port, ae_title="PACSLAB")
    assert assoc.is_established
    try:
        return [assoc.send_c_store(ds) for ds in datasets]
    finally:
        assoc.release()


def _spooled(root) -> list:
    """Files waiting in any spool folder of the archive."""
    return sorted(p.name for p in (Path(root) / SPOOL_DIR).rglob("*.dcm"))


def _truncated(path) -> pydicom.Dataset:
    ds = pydicom.dcmread(path)
    ds.PixelData = ds.PixelData[:100]  # the UIDs are fine: only the full pipeline sees this
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    return ds


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_check_uids_reads_only_the_required_uids(ct_files):
    data = ct_files[0].read_bytes()
    uids, reason = check_uids(data)
    assert reason is None
    ds = read(data)
    assert uids == {k: str(ds[k].value) for k in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID",
                                                   "SeriesInstanceUID")}  # fmt: skip
    ds.SeriesInstanceUID = "1.2.abc"
    buffer = io.BytesIO()
    ds.save_as(buffer)
    assert "SeriesInstanceUID" in check_uids(buffer.getvalue())[1]
    assert check_uids(b"garbage" * 20)[1] is not None


def test_spooled_instances_are_archived_and_the_spool_emptied(server, ct_files):
    assert send(server.remote, ct_files).ok
    assert server.flush(timeout=60)
    assert server.spooled == 0
    archive = server.archive
    assert len(archive.instances()) == len(ct_files)
    assert _spooled(archive.root) == []
    for path in ct_files:
        assert dataset_bytes(archive.read_instance(read(path.read_bytes()).SOPInstanceUID)) == dataset_bytes(
            path.read_bytes()
        )
    assert set(archive.instances().source) == {s for s in archive.instances().source if s.startswith("dimse:")}
    assert archive.verify().ok


def test_files_left_in_the_spool_are_archived_at_start(tmp_path, ct_files):
    archive = pacslab.open_archive(tmp_path / "a", create=True)
    spool = tmp_path / "a" / SPOOL_DIR
    spool.mkdir()
    for i, path in enumerate(ct_files[:5]):
        (spool / f"{i:020d}-left.dcm").write_bytes(path.read_bytes())
    (spool / ".tmp-half-written").write_bytes(b"never acknowledged")
    with DicomServer(archive, port=0) as server:
        assert server.flush(timeout=60)
        assert len(archive.instances()) == 5
        assert _spooled(archive.root) == [] and not (spool / ".tmp-half-written").exists()
    archive.close()


def test_a_query_sees_what_was_stored_before_it(server, ct_files):
    assert send(server.remote, ct_files).ok
    frame = find(server.remote, "SERIES", StudyInstanceUID=read(ct_files[0].read_bytes()).StudyInstanceUID)
    assert sorted(frame.NumberOfSeriesRelatedInstances.astype(int)) == [6, 6]


def test_rejected_after_success_is_quarantined_recorded_and_logged(server, ct_files, caplog):
    with caplog.at_level(logging.WARNING, logger="pacslab.dimse"):
        (status,) = _store(server.port, [_truncated(ct_files[0])], calling="TRUNCATER")
        assert status.Status == 0x0000  # the cheap check cannot see it: the sender is told Success
        assert server.flush(timeout=60)
    archive = server.archive
    assert archive.instances().empty
    rejections = archive.rejections()
    assert len(rejections) == 1 and "TRUNCATER" in rejections.source[0]
    assert archive.fs.exists(f"{archive.root}/{rejections.quarantine_path[0]}")
    assert any("TRUNCATER" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    log = audit_entries(archive, action="association", actor="TRUNCATER")
    detail = json.loads(log.detail.iloc[0])
    assert detail["counts"]["rejected"] == 1 and log.outcome.iloc[0] == "partial"


def test_spool_false_archives_before_answering(tmp_path, ct_files):
    archive = pacslab.open_archive(tmp_path / "a", create=True)
    with DicomServer(archive, port=0, spool=False) as server:
        assert server.flush() is True and server.spooled == 0
        good, bad = _store(server.port, [pydicom.dcmread(ct_files[0]), _truncated(ct_files[1])])
        assert good.Status == 0x0000 and len(archive.instances()) == 1  # no flush needed
        assert bad.Status == 0xA900 and len(archive.rejections()) == 1
    assert not os.path.exists(os.path.join(archive.root, SPOOL_DIR))
    archive.close()


def test_spool_setting_from_the_configuration():
    assert DimseSettings.resolve().spool is True
    with pacslab.config.set({"dimse.spool": False}):
        assert DimseSettings.resolve().spool is False
    assert DimseSettings.resolve({"dimse": {"spool": "false", "spool-fsync": True}}).spool is False
    assert DimseSettings.resolve({"dimse": {"spool-fsync": True}}).spool_fsync is True


def test_duplicates_and_conflicts_end_as_before(server, ct_files):
    first = pydicom.dcmread(ct_files[0])
    changed = copy.deepcopy(first)
    changed.PatientName = "SOMEONE^ELSE"
    statuses = _store(server.port, [first, first, changed])
    assert [s.Status for s in statuses] == [0, 0, 0]
    assert server.flush(timeout=60)
    archive = server.archive
    assert len(archive.instances()) == 1 and str(archive.instances().PatientName[0]) == "DOE^JANE"
    assert len(archive.conflicts()) == 1
    log = audit_entries(archive, action="association", actor="MODALITY")
    counts = json.loads(log.detail.iloc[0])["counts"]
    assert (counts["new"], counts["duplicate"], counts["conflict"]) == (1, 1, 1)


def test_a_spool_write_failure_refuses_with_out_of_resources(server, ct_files, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("pacslab.dimse._spool._write", full)
    (status,) = _store(server.port, [pydicom.dcmread(ct_files[0])])
    assert status.Status == 0xA700 and "spool" in status.ErrorComment
    assert server.flush(timeout=10) and server.archive.instances().empty


def test_kill_9_after_success_loses_nothing(tmp_path):
    files = write_ct_series(tmp_path / "in", 60, study_seed="kill9")
    root = tmp_path / "archive"
    pacslab.open_archive(root, create=True).close()
    port = free_port()
    cmd = [sys.executable, "-m", "pacslab", "serve", str(root), "--dicom-port", str(port), "--no-http"]
    env = {**os.environ, "PACSLAB_DIMSE__STABLE_DELAY": "3600"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, timeout=60)
        report = send(("PACSLAB", "127.0.0.1", port), files)
        os.kill(proc.pid, signal.SIGKILL)  # right after the last Success
        assert report.ok and report.completed == len(files)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    left = len(_spooled(root))
    print(f"{left} instances were still in the spool when the server was killed")
    with pacslab.open_archive(root) as archive, DicomServer(archive, port=0) as server:
        assert server.flush(timeout=120)
        instances = archive.instances()
        assert len(instances) == len(files)
        for path in files:
            data = path.read_bytes()
            assert dataset_bytes(archive.read_instance(read(data).SOPInstanceUID)) == dataset_bytes(data)
        assert archive.verify().ok
        assert _spooled(root) == []


def test_spool_fsync(tmp_path, ct_files):
    archive = pacslab.open_archive(tmp_path / "a", create=True)
    with pacslab.config.set({"dimse.spool-fsync": True}), DicomServer(archive, port=0) as server:
        assert server.settings.spool_fsync and server._spool.fsync
        assert send(server.remote, ct_files[:3]).ok
        assert server.flush(timeout=60) and len(archive.instances()) == 3
    archive.close()


def test_two_servers_on_one_archive_keep_their_spools_apart(tmp_path, ct_files):
    """Each running spool has its own locked folder; a server that starts adopts only what stopped ones left."""
    archive = pacslab.open_archive(tmp_path / "a", create=True)
    first = DicomServer(archive, port=0, ae_title="FIRST").start()
    second = DicomServer(archive, port=0, ae_title="SECOND").start()
    try:
        assert first._spool.directory != second._spool.directory
        # a spool folder left by a crashed receiver, and one file of the flat layout of earlier versions
        crashed = tmp_path / "a" / SPOOL_DIR / "deadbeefdeadbeef"
        crashed.mkdir()
        (crashed / ".lock").touch()
        (crashed / f"{1:020d}-left.dcm").write_bytes(ct_files[0].read_bytes())
        (tmp_path / "a" / SPOOL_DIR / f"{2:020d}-flat.dcm").write_bytes(ct_files[1].read_bytes())
        third = DicomServer(archive, port=0, ae_title="THIRD").start()
        try:
            assert third._spool.recovered == 2  # the crashed folder and the flat file; not the running spools
            assert third._spool.flush(timeout=60)
            assert not crashed.exists()
            assert os.path.isdir(first._spool.directory) and os.path.isdir(second._spool.directory)
        finally:
            third.stop()
        for server, files in ((first, ct_files[2:5]), (second, ct_files[5:8])):
            assert send(server.remote, files).ok
            assert server.flush(timeout=60)
    finally:
        first.stop()
        second.stop()
    assert len(archive.instances()) == 8
    assert os.listdir(tmp_path / "a" / SPOOL_DIR) == []  # stopped spools remove their empty folders
    assert archive.verify().ok

"""The same files again add nothing; the same UID with other bytes is a visible conflict."""

from __future__ import annotations

import shutil
import zipfile

import pydicom
from pydicom.data import get_testdata_file


def test_second_ingest_adds_nothing(archive, tmp_path):
    path = get_testdata_file("CT_small.dcm")
    first = archive.ingest(path, progress=False)
    second = archive.ingest(path, progress=False)
    assert (first.new, second.new, second.duplicate) == (1, 0, 1)
    assert len(archive.instances()) == 1
    assert archive.verify().orphans == []


def test_same_uid_other_content_is_a_conflict(archive, tmp_path):
    path = get_testdata_file("CT_small.dcm")
    archive.ingest(path, progress=False)
    ds = pydicom.dcmread(path)
    ds.PatientName = "OTHER^PATIENT"
    changed = tmp_path / "changed.dcm"
    ds.save_as(changed)
    report = archive.ingest(changed, progress=False)
    assert report.conflict == 1 and report.new == 0
    conflicts = archive.conflicts()
    assert list(conflicts.SOPInstanceUID) == [ds.SOPInstanceUID]
    # the first one stays; the second is kept, not overwritten
    assert archive.read_instance(ds.SOPInstanceUID) == open(path, "rb").read()
    key = conflicts.stored_key.iloc[0]
    assert archive.originals.read(key) == changed.read_bytes()
    assert archive.verify().ok


def test_zip_members_are_ingested(archive, tmp_path):
    z = tmp_path / "study.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(get_testdata_file("CT_small.dcm"), "a/ct.dcm")
        zf.write(get_testdata_file("MR_small.dcm"), "b/mr.dcm")
        zf.writestr("DICOMDIR", b"skipped")
        zf.writestr("readme.txt", b"not dicom")
    report = archive.ingest(z, progress=False)
    assert report.new == 2
    assert [s.endswith("study.zip:readme.txt") for s, _ in report.rejected] == [True]
    sop = pydicom.dcmread(get_testdata_file("MR_small.dcm")).SOPInstanceUID
    assert archive.read_instance(sop) == open(get_testdata_file("MR_small.dcm"), "rb").read()


def test_watch_folder_ingests_settled_files(archive, tmp_path):
    import threading

    folder = tmp_path / "watched"
    folder.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), folder / "a.dcm")
    stop = threading.Event()
    result = {}

    def run():
        result["report"] = archive.watch(folder, interval=0.05, settle=0.1, stop=stop)

    t = threading.Thread(target=run)
    t.start()
    try:
        import time

        deadline = time.monotonic() + 20
        while len(archive.instances()) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.copy(get_testdata_file("MR_small.dcm"), folder / "b.dcm")
        while len(archive.instances()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        t.join(timeout=20)
    assert result["report"].new == 2
    assert len(archive.instances()) == 2


def test_memory_archive_round_trip(memory_archive):
    path = get_testdata_file("CT_small.dcm")
    report = memory_archive.ingest(path, progress=False)
    assert report.new == 1 and report.volumes_built == 1
    sop = pydicom.dcmread(path).SOPInstanceUID
    assert memory_archive.read_instance(sop, verify=True) == open(path, "rb").read()
    series = memory_archive.series().SeriesInstanceUID.iloc[0]
    volume = memory_archive.open_volume(series)
    assert volume.shape == (1, 128, 128)
    assert memory_archive.verify().ok


def test_ingest_bytes_single_instance(archive):
    data = open(get_testdata_file("CT_small.dcm"), "rb").read()
    assert archive.ingest_bytes(data, source="test") == "new"
    assert archive.ingest_bytes(data, source="test") == "duplicate"
    assert archive.ingest_bytes(b"garbage" * 10, source="test") == "rejected"
    assert len(archive.rejections()) == 1
    series = archive.series()
    assert series.volume_state.iloc[0] == "pending"
    archive.build_volumes()
    assert archive.series().volume_state.iloc[0] == "ready"


def test_delete_series_and_study(archive):
    archive.ingest([get_testdata_file("CT_small.dcm"), get_testdata_file("MR_small.dcm")], progress=False)
    studies = archive.studies()
    assert len(studies) == 2
    series = archive.series(Modality="MR").SeriesInstanceUID.iloc[0]
    assert archive.delete(series_instance_uid=series) == 1
    assert archive.series(Modality="MR").empty and archive.studies(ModalitiesInStudy="MR").empty
    study = archive.studies().StudyInstanceUID.iloc[0]
    assert archive.delete(study_instance_uid=study) == 1
    assert archive.studies().empty and archive.patients().empty
    v = archive.verify()
    assert v.ok and v.orphans == [] and v.checked["volumes"] == 0
    assert list(archive.audit_log().action).count("delete") == 2

"""Every storage instance among pydicom's bundled test files goes in by C-STORE and comes back by C-GET intact."""

from __future__ import annotations

import collections
import warnings

import pydicom
import pytest
from dimse_helpers import dataset_bytes
from pydicom.data import get_testdata_files

from pacslab.dimse import get, send
from pacslab.dimse.scp import STORAGE_SOP_CLASSES


def _storage_files() -> list[str]:
    out = []
    for path in sorted(set(get_testdata_files())):  # local files only: get_testdata_files never downloads
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
            sop_class = str(ds.get("SOPClassUID", ""))
        except Exception:  # noqa: BLE001 - not DICOM at all
            continue
        if sop_class in STORAGE_SOP_CLASSES and ds.get("SOPInstanceUID"):
            out.append(path)
    return out


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_pydicom_storage_files_round_trip(server):
    files = _storage_files()
    assert len(files) > 50
    # (on pydicom 3.0.2: ~150 storage files, ~118 distinct instances archived, a handful refused as invalid)
    report = send(server.remote, files)
    assert server.flush(timeout=120)
    by_uid: dict[str, set[bytes]] = collections.defaultdict(set)
    for path in files:
        data = open(path, "rb").read()
        by_uid[str(pydicom.dcmread(path, stop_before_pixels=True, force=True).SOPInstanceUID)].add(dataset_bytes(data))
    # whatever failed was refused by the archive with a reason (and quarantined), never silently lost;
    # with the spool, an instance whose defect only the full pipeline sees (truncated pixel data) was
    # answered Success, then quarantined and recorded all the same
    rejections = server.archive.rejections()
    late = [r for r in rejections.reason if r.startswith(("the pixel data", "the image pixel module"))]
    assert len(rejections) == len(report.failures) + len(late), report.failures
    for _, reason in report.failures:
        assert "status 0x" in reason and len(reason) > 12
        assert any(r[:40] in reason for r in rejections.reason), reason
    archived = server.archive.instances()
    assert len(archived) >= 0.8 * len(by_uid)
    studies = sorted(set(archived.StudyInstanceUID))
    back = get(server.remote, study_instance_uid=studies)
    assert back.failed == 0 and back.completed == len(archived), back.failures
    assert set(back.received) == set(archived.SOPInstanceUID)
    for uid, data in back.received.items():
        assert dataset_bytes(data) in by_uid[uid], uid

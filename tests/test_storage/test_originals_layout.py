"""Blobs rest one folder deep; archives written with the older two-level keys still read, verify and delete."""

from __future__ import annotations

import pydicom
from pydicom.data import get_testdata_file

from pacslab import examples
from pacslab.storage import Codec, OriginalStore


def _two_levels(self, sha256, codec):  # type: ignore[no-untyped-def]
    return f"originals/{sha256[:2]}/{sha256[2:4]}/{sha256}.{Codec(codec).value}"


def test_new_blobs_rest_one_folder_deep(archive, tmp_path):
    examples.write_series(examples.generate_ct_series(seed=41, n_slices=4, rows=32, columns=32), tmp_path / "ct")
    archive.ingest(tmp_path / "ct", progress=False)
    keys = archive.originals.iter_keys()
    assert len(keys) == 4 and all(len(key.split("/")) == 3 for key in keys), keys


def test_archives_with_two_level_keys_keep_working(archive, tmp_path, monkeypatch):
    examples.write_series(examples.generate_ct_series(seed=42, n_slices=4, rows=32, columns=32), tmp_path / "ct")
    mr = tmp_path / "mr" / "mr.dcm"
    mr.parent.mkdir()
    mr.write_bytes(open(get_testdata_file("MR_small.dcm"), "rb").read())  # noqa: SIM115 - kept whole (no volume take)
    with monkeypatch.context() as patch:
        patch.setattr(OriginalStore, "key", _two_levels)
        archive.ingest([tmp_path / "ct", tmp_path / "mr"], progress=False)
    old = archive.catalog.instance_keys()
    keys = [row["stored_key"] for row in old]
    assert len(keys) == 5 and all(len(key.split("/")) == 4 for key in keys), keys
    # read, check, ingest again (duplicates), delete: all through the keys the catalog holds
    for row in old:
        assert archive.read_instance(row["SOPInstanceUID"], verify=True)
    assert archive.verify().ok
    report = archive.ingest([tmp_path / "ct", tmp_path / "mr"], progress=False)
    assert report.duplicate == 5 and report.new == 0
    assert sorted(archive.originals.iter_keys()) == sorted(keys)  # no second copy left behind
    assert archive.verify().ok
    ct = pydicom.dcmread(next((tmp_path / "ct").iterdir())).SeriesInstanceUID
    archive.delete(series_instance_uid=str(ct))
    assert len(archive.originals.iter_keys()) == 1 and archive.verify().ok

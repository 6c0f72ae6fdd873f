"""Whole blobs rest one folder deep, the heads of originals whose pixels a volume keeps rest in one file of that
volume's generation; archives written with the older layouts (two-level keys, a file per head) still read, verify,
delete, and move to the new one when their series is built again."""

from __future__ import annotations

import pydicom
from pydicom.data import get_testdata_file

from pacslab import examples
from pacslab.storage import Codec, OriginalStore


def _two_levels(self, sha256, codec):  # type: ignore[no-untyped-def]
    return f"originals/{sha256[:2]}/{sha256[2:4]}/{sha256}.{Codec(codec).value}"


def _write_inputs(tmp_path, seed):
    examples.write_series(examples.generate_ct_series(seed=seed, n_slices=4, rows=32, columns=32), tmp_path / "ct")
    mr = tmp_path / "mr" / "mr.dcm"
    mr.parent.mkdir()
    mr.write_bytes(open(get_testdata_file("MR_small.dcm"), "rb").read())  # noqa: SIM115 - kept whole (no volume take)
    return [tmp_path / "ct", tmp_path / "mr"], str(pydicom.dcmread(next((tmp_path / "ct").iterdir())).SeriesInstanceUID)


def _heads_in_files_of_their_own(archive, series):
    """Rewrite a series' rows as archives written before keep them: each head in a file ``originals/aa/bb/<sha>.pxr``."""
    updates = []
    for row in archive.catalog.instance_keys(series_instance_uid=series):
        name, _, span = row["stored_key"].partition("#")
        start, end = (int(n) for n in span.split("-"))
        payload = archive.fs.cat_file(archive.originals.path(name), start=start, end=end)
        key = _two_levels(None, row["sha256"], Codec.PIXEL_REF)
        archive.fs.pipe_file(archive.originals.path(key), payload)
        updates.append({"SOPInstanceUID": row["SOPInstanceUID"], "stored_key": key, "stored_codec": "pxr",
                        "stored_size": len(payload), "pixel_ref": row["pixel_ref"]})  # fmt: skip
    archive.catalog.replace_volumes(series, archive.catalog.volumes(series), "ready", None, updates)
    return [u["stored_key"] for u in updates]


def test_whole_blobs_rest_one_folder_deep_and_heads_with_their_volume(archive, tmp_path):
    inputs, ct = _write_inputs(tmp_path, 41)
    archive.ingest(inputs, progress=False)
    keys = archive.originals.iter_keys()
    assert len(keys) == 1 and len(keys[0].split("/")) == 3 and not keys[0].endswith(".pxr"), keys  # the MR, whole
    (generation,) = {v["path"].rsplit("/", 1)[0] for v in archive.catalog.volumes(ct)}
    rows = archive.catalog.instance_keys(series_instance_uid=ct)
    spans = sorted(tuple(int(n) for n in row["stored_key"].partition("#")[2].split("-")) for row in rows)
    assert {row["stored_key"].partition("#")[0] for row in rows} == {f"{generation}/heads.pxr"}
    assert spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))  # one after the other
    assert spans[-1][1] == archive.fs.size(archive.originals.path(f"{generation}/heads.pxr"))
    assert archive.verify().ok and archive.verify().orphans == []
    archive.originals.delete(rows[0]["stored_key"])  # a head's key: the file of all heads stays
    assert archive.read_instance(rows[1]["SOPInstanceUID"], verify=True)
    assert archive.verify().ok


def test_a_missing_or_damaged_file_of_heads_is_found_by_verify(archive, tmp_path):
    inputs, ct = _write_inputs(tmp_path, 43)
    archive.ingest(inputs, progress=False)
    row = archive.catalog.instance_keys(series_instance_uid=ct)[0]
    heads = archive.originals.path(row["stored_key"].partition("#")[0])
    data = archive.fs.cat_file(heads)
    archive.fs.pipe_file(heads, data[:-3])  # the last head cut short
    report = archive.verify()
    assert not report.ok and len(report.problems) == 1 and "ends before byte" in report.problems[0]
    archive.fs.rm_file(heads)
    report = archive.verify()
    assert not report.ok and len(report.problems) == 4 and all("is missing" in p for p in report.problems)
    assert report.orphans == []


def test_archives_with_older_layouts_keep_working(archive, tmp_path, monkeypatch):
    inputs, ct = _write_inputs(tmp_path, 42)
    with monkeypatch.context() as patch:
        patch.setattr(OriginalStore, "key", _two_levels)
        archive.ingest(inputs, progress=False)
    (generation,) = {v["path"].rsplit("/", 1)[0] for v in archive.catalog.volumes(ct)}
    head_keys = _heads_in_files_of_their_own(archive, ct)
    archive.fs.rm_file(archive.originals.path(f"{generation}/heads.pxr"))
    old = archive.catalog.instance_keys()
    keys = [row["stored_key"] for row in old]
    assert len(keys) == 5 and all(len(key.split("/")) == 4 for key in keys), keys
    assert sorted(archive.originals.iter_keys()) == sorted(keys)
    # read, check, ingest again (duplicates): all through the keys the catalog holds
    for row in old:
        assert archive.read_instance(row["SOPInstanceUID"], verify=True)
    assert archive.verify().ok
    report = archive.ingest(inputs, progress=False)
    assert report.duplicate == 5 and report.new == 0
    assert sorted(archive.originals.iter_keys()) == sorted(keys)  # no second copy left behind
    assert archive.verify().ok
    # built again, the series' heads move into one file of its new generation; their old files are removed
    archive.build_volumes(ct)
    now = archive.catalog.instance_keys(series_instance_uid=ct)
    assert {row["stored_key"].partition("#")[0] for row in now} == {
        f"{v['path'].rsplit('/', 1)[0]}/heads.pxr" for v in archive.catalog.volumes(ct)
    }
    assert not set(head_keys) & set(archive.originals.iter_keys())
    for row in old:
        assert archive.read_instance(row["SOPInstanceUID"], verify=True)
    assert archive.verify().ok and archive.verify().orphans == []
    archive.delete(series_instance_uid=ct)
    assert len(archive.originals.iter_keys()) == 1 and archive.verify().ok

"""A folder's series are built by the worker that prepared them, from memory, when they prove whole."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest

import pacslab.volumes.builder
from pacslab import examples
from pacslab.config import config
from pacslab.ingest.pipeline import ingest_sources
from pacslab.ingest.report import IngestReport
from pacslab.ingest.scan import absolute, list_sources
from pacslab.storage import OriginalStore, join


def _write(folder, seed, n_slices, naming="random"):
    datasets = examples.generate_ct_series(seed=seed, n_slices=n_slices, rows=32, columns=32)
    files = {p.name: p.read_bytes() for p in examples.write_series(datasets, folder, naming=naming, seed=seed)}
    return str(datasets[0].SeriesInstanceUID), datasets, files


def _assert_clean(archive):
    """Consistent, no blob or volume generation that the catalog does not point at."""
    report = archive.verify()
    assert report.ok, report.problems
    assert report.orphans == []
    for uid in archive.series().SeriesInstanceUID:
        current = {v["path"].split("/")[2] for v in archive.catalog.volumes(uid)}
        found = {p.rstrip("/").rsplit("/", 1)[-1] for p in archive.fs.ls(join(archive.root, f"volumes/{uid}"))}
        assert found == current


def _assert_volume_is(archive, uid, datasets):
    ordered = sorted(datasets, key=lambda ds: float(ds.ImagePositionPatient[2]))
    expected = np.stack([ds.pixel_array for ds in ordered])
    assert np.array_equal(archive.open_volume(uid, rescale=False).values, expected)


def test_folders_are_built_by_the_workers(archive, tmp_path, monkeypatch):
    first, first_ds, first_files = _write(tmp_path / "in" / "a", 11, 12)
    second, second_ds, second_files = _write(tmp_path / "in" / "b", 12, 9)
    sources, _ = list_sources(absolute([tmp_path / "in"]))
    written = []
    write = OriginalStore._write
    monkeypatch.setattr(
        OriginalStore, "_write", lambda self, key, payload: written.append(key) or write(self, key, payload)
    )
    report = ingest_sources(archive, sources, IngestReport(), build_volumes=True)  # no volume build afterwards
    assert report.new == 21 and report.volumes_built == 2
    assert written and all(key.endswith(".pxr") for key in written)  # never the whole file first
    assert set(archive.series().volume_state) == {"ready"}
    assert set(archive.instances().stored_codec) == {"pxr"}
    _assert_volume_is(archive, first, first_ds)
    _assert_volume_is(archive, second, second_ds)
    for name, data in (first_files | second_files).items():
        assert archive.read_instance(_sop(data), verify=True) == data, name
    _assert_clean(archive)


def _sop(data):
    return str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID)


@pytest.mark.parametrize("commit_every", [4, 256])
def test_a_series_over_two_folders_is_built_whole(archive, tmp_path, commit_every):
    datasets = examples.generate_ct_series(seed=13, n_slices=30, rows=32, columns=32)
    examples.write_series(datasets[::2], tmp_path / "in" / "a", naming="random", seed=1)
    examples.write_series(datasets[1::2], tmp_path / "in" / "b", naming="random", seed=2)
    uid = str(datasets[0].SeriesInstanceUID)
    with config.set({"ingest.commit-every": commit_every, "ingest.batch-size": 4}):
        report = archive.ingest(tmp_path / "in", progress=False)
    assert report.new == 30 and report.ok
    assert archive.series().volume_state.tolist() == ["ready"]
    _assert_volume_is(archive, uid, datasets)
    _assert_clean(archive)


def test_ingesting_a_folder_again_changes_nothing(archive, tmp_path):
    uid, datasets, files = _write(tmp_path / "in" / "a", 14, 10)
    archive.ingest(tmp_path / "in", progress=False)
    before = (archive.catalog.volumes(uid), _keys(archive))
    report = archive.ingest(tmp_path / "in", progress=False)
    assert report.duplicate == 10 and report.new == 0
    after = (archive.catalog.volumes(uid), _keys(archive))
    assert after == before
    _assert_volume_is(archive, uid, datasets)
    _assert_clean(archive)


def _keys(archive):
    return sorted((row["SOPInstanceUID"], row["stored_key"]) for row in archive.catalog.instance_keys())


def test_a_failed_rebuild_keeps_the_heads_of_the_current_volumes(archive, tmp_path, monkeypatch):
    uid, _, files = _write(tmp_path / "in", 15, 8, naming="uid")
    archive.ingest(tmp_path / "in", progress=False)
    settle = pacslab.volumes.builder._settle_originals

    def settle_then_fail(*args, **kwargs):
        settle(*args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pacslab.volumes.builder, "_settle_originals", settle_then_fail)
    report = archive.build_volumes(uid)
    assert report.no_volume and "No space left" in report.no_volume[0][1]
    for name, data in files.items():
        assert archive.read_instance(name.removesuffix(".dcm"), verify=True) == data


def test_two_copies_of_an_instance_in_one_folder_are_both_kept(archive, tmp_path):
    uid, datasets, files = _write(tmp_path / "in", 16, 6, naming="uid")
    other = datasets[2].copy()
    other.PatientName = "OTHER^COPY"
    other.save_as(tmp_path / "in" / "zz-copy.dcm", enforce_file_format=True)
    report = archive.ingest(tmp_path / "in", progress=False)
    assert report.new == 6 and report.conflict == 1
    sop = str(datasets[2].SOPInstanceUID)
    copies = {files[f"{sop}.dcm"], (tmp_path / "in" / "zz-copy.dcm").read_bytes()}
    kept = archive.read_instance(sop, verify=True)
    aside = archive.originals.read(archive.conflicts().stored_key.iloc[0])
    assert {kept, aside} == copies
    _assert_volume_is(archive, uid, datasets)
    _assert_clean(archive)

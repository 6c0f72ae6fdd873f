"""Every file pydicom ships either ingests or is rejected with a reason, and comes back intact."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_files

import pacslab


@pytest.fixture(scope="module")
def loaded(
    tmp_path_factory: pytest.TempPathFactory, catalog_url: str | None
) -> tuple[pacslab.Archive, pacslab.IngestReport, list[str]]:
    files = sorted(set(get_testdata_files()))
    archive = pacslab.open_archive(
        tmp_path_factory.mktemp("pydicom") / "archive", create=True, catalog=catalog_url
    )
    report = archive.ingest(files, progress=False)
    return archive, report, files


def test_every_file_is_accounted_for(loaded):
    archive, report, files = loaded
    instances = archive.instances()
    sources = set(instances["source"]) | set(archive.conflicts().get("source", []))
    rejected = {s for s, _ in report.rejected}
    duplicates = report.duplicate
    # every file is an instance, a conflict, a rejection, or a byte-identical duplicate of one
    assert len(sources) + len(rejected) + duplicates >= len(files)
    for source, reason in report.rejected:
        assert reason and len(reason) > 10, source
    assert report.new > 80
    assert report.n_rejected < 60


def test_rejected_files_are_quarantined_with_reason(loaded):
    archive, report, _ = loaded
    assert len(report.quarantined) == report.n_rejected
    for key in report.quarantined:
        assert archive.fs.exists(f"{archive.root}/{key}")
        reason = archive.fs.cat_file(f"{archive.root}/{key}.reason.txt").decode()
        assert reason.strip()
    assert len(archive.rejections()) == report.n_rejected


def test_originals_come_back_byte_identical(loaded):
    archive, _, _ = loaded
    instances = archive.instances()
    for row in instances.itertuples():
        data = archive.read_instance(row.SOPInstanceUID)
        assert Path(row.source).read_bytes() == data, row.source


def test_volumes_equal_pixel_array(loaded):
    archive, _, _ = loaded
    checked = 0
    for row in archive.volumes().itertuples():
        volume = archive.open_volume(row.SeriesInstanceUID, stack=row.stack_index)
        stored = archive.open_volume(row.SeriesInstanceUID, stack=row.stack_index, rescale=False).values
        group_frames = _frames(archive, row)
        values = volume.values
        dims = volume.dims
        for t, column in enumerate(group_frames):
            for z, ref in enumerate(column):
                sop, frame = ref.split("#")
                ds = archive.dataset(sop)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    pixels = ds.pixel_array
                if int(ds.get("NumberOfFrames", 1) or 1) > 1:
                    pixels = pixels[int(frame)]
                got = _select(values, dims, t, z)
                got_stored = _select(stored, dims, t, z)
                np.testing.assert_array_equal(got_stored, pixels, err_msg=f"{sop} frame {frame}")
                slope = float(ds.get("RescaleSlope", 1) or 1)
                intercept = float(ds.get("RescaleIntercept", 0) or 0)
                if volume.attrs["rescaled"]:
                    np.testing.assert_allclose(got, pixels * slope + intercept, rtol=1e-6, atol=1e-3)
                checked += 1
    assert checked > 100


def _frames(archive, row):
    from pacslab.volumes.store import open_volume_group

    return open_volume_group(archive.fs, f"{archive.root}/{row.path}").attrs["pacslab"]["frames"]


def _select(values, dims, t, z):
    index = []
    for d in dims:
        if d == "z":
            index.append(z)
        elif d in ("y", "x"):
            index.append(slice(None))
        elif d == "c":
            index.append(slice(None))
        else:
            index.append(t)
    out = values[tuple(index)]
    if "c" in dims:
        out = np.moveaxis(out, 0, -1)
    return out


def test_image_series_have_volumes_or_a_reason(loaded):
    archive, report, _ = loaded
    series = archive.series()
    images = series[series.volume_state != "none"]
    assert (images.volume_state.isin(["ready", "failed"])).all()
    failed = images[images.volume_state == "failed"]
    assert failed.volume_reason.notna().all()
    assert len(failed) <= 6  # the deliberately broken files of pydicom's set
    assert {uid for uid, _ in report.no_volume} == set(failed.SeriesInstanceUID)


def test_verify_is_consistent(loaded):
    archive, _, _ = loaded
    result = archive.verify()
    assert result.ok, result.problems
    assert result.orphans == []


def test_dataset_round_trip(loaded):
    archive, _, _ = loaded
    sop = archive.instances(Modality="CT").SOPInstanceUID.iloc[0]
    ds = archive.dataset(sop)
    assert ds.SOPInstanceUID == sop

"""Results back into the archive: DICOM SEG (highdicom, dciodvfy), label volumes in Zarr, measurements."""

from __future__ import annotations

import io
import shutil
import subprocess

import highdicom as hd
import numpy as np
import pytest

import pacslab
from pacslab import analysis


@pytest.fixture(scope="module")
def segmented(phantom_archive):
    archive, truths, chests = phantom_archive
    result = analysis.run_cohort(archive, "ct-segmentation", chests)
    assert not result.failed, result.failed
    return archive, chests, result


def _seg_bytes(archive, seg_series_uid):
    rows = archive.instances(SeriesInstanceUID=seg_series_uid)
    assert len(rows) == 1 and rows.iloc[0]["SOPClassUID"] == "1.2.840.10008.5.1.4.1.1.66.4"
    return archive.read_instance(rows.iloc[0]["SOPInstanceUID"])


def test_seg_is_archived_and_queryable(segmented):
    archive, chests, result = segmented
    segs = archive.series(Modality="SEG")
    made = set(result.derived["SeriesInstanceUID"])
    assert made <= set(segs["SeriesInstanceUID"]) and len(made) == len(chests)
    source_study = archive.series(SeriesInstanceUID=chests[0]).iloc[0]["StudyInstanceUID"]
    derived = result.derived.set_index("SourceSeriesInstanceUID")
    seg_uid = derived.loc[chests[0], "SeriesInstanceUID"]
    assert archive.series(SeriesInstanceUID=seg_uid).iloc[0]["StudyInstanceUID"] == source_study


def test_seg_reads_back_with_highdicom_and_references_its_sources(segmented):
    archive, chests, result = segmented
    derived = result.derived.set_index("SourceSeriesInstanceUID")
    for source in chests:
        seg = hd.seg.segread(io.BytesIO(_seg_bytes(archive, derived.loc[source, "SeriesInstanceUID"])))
        assert [d.SegmentLabel for d in seg.SegmentSequence] == ["Body", "Lung", "Bone"]
        source_sops = set(archive.instances(SeriesInstanceUID=source)["SOPInstanceUID"])
        referenced = {sop for _, _, sop in seg.get_source_image_uids()}
        assert referenced == source_sops
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source
        # the pixels match the stored label volume, slice by slice
        labels = analysis.read_labels(archive, derived.loc[source, "path"]).values
        from pacslab.analysis.derived import source_frames

        frames = [f.split("#")[0] for f in source_frames(archive, source)]
        pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=frames, combine_segments=True)
        np.testing.assert_array_equal(pixels, labels)


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) is not installed")
def test_seg_passes_dciodvfy(segmented, tmp_path):
    archive, chests, result = segmented
    path = tmp_path / "seg.dcm"
    path.write_bytes(_seg_bytes(archive, result.derived["SeriesInstanceUID"].iloc[0]))
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    errors = [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]
    assert not errors, "\n".join(errors)


def test_label_volume_in_zarr_has_the_source_grid(segmented):
    archive, chests, result = segmented
    source = archive.open_volume(chests[0])
    path = result.derived.set_index("SourceSeriesInstanceUID").loc[chests[0], "path"]
    labels = analysis.read_labels(archive, path)
    assert labels.shape == source.shape and labels.attrs["segments"] == {1: "Body", 2: "Lung", 3: "Bone"}
    np.testing.assert_allclose(labels["z"], source["z"])
    np.testing.assert_allclose(labels.attrs["affine"], source.attrs["affine"])
    np.testing.assert_array_equal(labels.values, analysis.ct_labels(source).values)
    # the synthetic chest: two lungs, bone, and a body that holds them
    lung_ml = result.wide().set_index(["SeriesInstanceUID", "roi"]).loc[(chests[0], "Lung"), "volume_ml"]
    body_ml = result.wide().set_index(["SeriesInstanceUID", "roi"]).loc[(chests[0], "Body"), "volume_ml"]
    assert 0.05 * body_ml < lung_ml < 0.6 * body_ml


def test_measurements_are_queryable_with_provenance(segmented):
    archive, chests, result = segmented
    lungs = analysis.measurements(archive, run_id=result.run_id, feature="volume_ml", roi="Lung")
    assert set(lungs["SeriesInstanceUID"]) == set(chests)
    row = lungs.iloc[0]
    assert row["function"] == "pacslab.analysis.analyses.ct_segmentation"
    assert row["versions"]["pacslab"] == pacslab.__version__ and "dask" in row["versions"]
    assert row["source_uids"]["SeriesInstanceUID"] == row["SeriesInstanceUID"]
    assert row["derived_series_uid"] in set(archive.series(Modality="SEG")["SeriesInstanceUID"])
    assert row["created_at"] and row["unit"] == "mL"
    # DICOM keywords of the source series filter too
    patient = archive.series(SeriesInstanceUID=chests[1]).iloc[0]["PatientID"]
    one = analysis.measurements(archive, run_id=result.run_id, PatientID=patient, feature="volume_*")
    assert set(one["SeriesInstanceUID"]) == {chests[1]}
    wide = analysis.measurements(archive, run_id=result.run_id, wide=True)
    assert {"volume_ml", "mean_hu", "std_hu"} <= set(wide.columns) and len(wide) == 3 * len(chests)


def test_user_functions_per_volume_and_per_chunk(phantom_archive):
    from scipy import ndimage

    from pacslab import processing

    archive, truths, chests = phantom_archive

    def air_fraction(volume):
        """Fraction of voxels below -500 HU."""
        return {"air_fraction": (volume < -500).mean().data, "slices": volume.sizes["z"]}

    def smoothed(volume):
        return processing.map_volume(ndimage.uniform_filter, volume, size=3, depth=1, mode="reflect")

    result = analysis.run_cohort(archive, air_fraction, chests)
    values = result.measurements.set_index("SeriesInstanceUID").query("feature == 'air_fraction'")["value"]
    for uid in chests:
        assert values[uid] == pytest.approx(float((archive.load_volume(uid).values < -500).mean()))
    assert set(analysis.measurements(archive, analysis="air-fraction")["SeriesInstanceUID"]) == set(chests)
    new = analysis.run_cohort(archive, smoothed, chests[:1])
    stored = analysis.read_labels(archive, new.derived["path"].iloc[0])
    np.testing.assert_allclose(
        stored.values, ndimage.uniform_filter(archive.load_volume(chests[0]).values, 3, mode="reflect"), rtol=1e-5
    )


def test_intensity_statistics_per_roi(phantom_archive):
    archive, truths, chests = phantom_archive
    result = analysis.run_cohort(archive, "intensity-statistics", chests[:1], parameters={"rois": "ct"})
    w = result.wide().set_index("roi")
    hu = archive.load_volume(chests[0]).values
    body = analysis.ct_labels(archive.open_volume(chests[0])).values > 0
    assert w.loc["Body", "count"] == body.sum()
    assert w.loc["Body", "mean"] == pytest.approx(hu[body].mean())
    assert w.loc["Body", "p50"] == pytest.approx(np.median(hu[body]), abs=1.0)
    assert w.loc["Lung", "mean"] < -500 < 200 < w.loc["Bone", "mean"]
    hist = result.measurements.query("feature == 'histogram' and roi == 'Body'")["data"].iloc[0]
    assert sum(hist["counts"]) == body.sum() and hist["low"] == -1024.0


def test_unknown_analysis_and_parameter_say_what_exists(phantom_archive):
    archive, _, chests = phantom_archive
    with pytest.raises(ValueError, match="ct-segmentation"):
        analysis.run_cohort(archive, "ct-segmentaton", chests)
    with pytest.raises(ValueError, match="threshold"):
        analysis.run_cohort(archive, "body-mask", chests, parameters={"treshold": 1})
    with pytest.raises(ValueError, match="scheduler"):
        analysis.run_cohort(archive, "body-mask", chests, scheduler="nonsense")


def test_a_failing_series_does_not_stop_the_cohort(phantom_archive):
    archive, truths, chests = phantom_archive
    result = analysis.run_cohort(archive, "body-mask", [chests[0], "1.2.3.4.5"], save=False, batch_size=2)
    assert [uid for uid, _ in result.failed] == ["1.2.3.4.5"]
    assert "SeriesNotFoundError" in result.failed[0][1]
    assert set(result.measurements["SeriesInstanceUID"]) == {chests[0]}
    with pytest.raises(ValueError, match="not both"):
        analysis.run_cohort(archive, "body-mask", chests, Modality="CT")


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) is not installed")
def test_seg_of_an_oblique_volume_passes_dciodvfy_and_matches_the_labels(phantom_archive, tmp_path):
    from pacslab.analysis.derived import source_frames

    archive, truths, _ = phantom_archive
    uid = truths["oblique"]["series_instance_uid"]
    result = analysis.run_cohort(archive, "roi-features", [uid], parameters={"lower": 150})
    data = _seg_bytes(archive, result.derived["SeriesInstanceUID"].iloc[0])
    path = tmp_path / "oblique-seg.dcm"
    path.write_bytes(data)
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    assert not [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]
    seg = hd.seg.segread(io.BytesIO(data))
    frames = [f.split("#")[0] for f in source_frames(archive, uid)]
    pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=frames, combine_segments=True)
    np.testing.assert_array_equal(pixels, analysis.read_labels(archive, result.derived["path"].iloc[0]).values)

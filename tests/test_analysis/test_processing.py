"""pacslab.processing: lazy operations (nothing computes until asked) that agree with NumPy."""

from __future__ import annotations

import dask
import numpy as np
import pytest
from analysis_helpers import raise_if_dask_computes
from scipy import ndimage

from pacslab import analysis, processing
from pacslab.processing import geometry_of


@pytest.fixture
def volumes(phantom_archive):
    archive, truths, chests = phantom_archive
    return {
        "oblique": archive.open_volume(truths["oblique"]["series_instance_uid"]),
        "anisotropic": archive.open_volume(truths["anisotropic"]["series_instance_uid"]),
        "chest": archive.open_volume(chests[0]),
    }, truths


def test_operations_stay_lazy(volumes):
    vols, _ = volumes
    v = vols["chest"]
    with raise_if_dask_computes():
        results = [
            processing.resample(v, 2.0),
            processing.reformat(v, "coronal"),
            processing.reformat(v, examples_oblique()),
            processing.project(v, "max"),
            processing.threshold(v, lower=-500),
            processing.map_volume(ndimage.uniform_filter, v, size=3, depth=1),
            processing.intensity_statistics(v)["mean"],
            processing.histogram(v)[0],
            analysis.ct_labels(v),
            analysis.components(v, lower=200),
            analysis.roi_features(v, analysis.components(v, lower=200)),
        ]
        for name in ("intensity-statistics", "body-mask", "ct-segmentation", "roi-features"):
            params = {"lower": 200} if name == "roi-features" else {}
            results.append(analysis.get_analysis(name).function(v, **params))
    assert all(processing.is_lazy(r) or hasattr(r, "rows") for r in results)


def examples_oblique():
    from pacslab import examples

    return examples.oblique_orientation(0.0, 25.0, 0.0)


def test_statistics_and_histogram_match_numpy(volumes):
    vols, _ = volumes
    v = vols["chest"]
    hu = v.values
    mask = hu > -500
    stats = dask.compute(processing.intensity_statistics(v, mask=mask))[0]
    assert float(stats["count"]) == mask.sum()
    assert float(stats["mean"]) == pytest.approx(hu[mask].mean())
    assert float(stats["std"]) == pytest.approx(hu[mask].std(), rel=1e-6)
    assert float(stats["max"]) == hu[mask].max()
    counts, edges = processing.histogram(v, mask=mask, bin_width=4.0)
    expected, _ = np.histogram(hu[mask], bins=edges)
    np.testing.assert_array_equal(counts.compute(), expected)
    p = processing.percentiles_from_histogram(counts.compute(), edges, [50])[50.0]
    assert p == pytest.approx(np.percentile(hu[mask], 50), abs=4.0)


def test_resample_to_target_spacing(volumes):
    vols, _ = volumes
    v = vols["anisotropic"]  # (1.5, 0.7, 0.7) mm
    iso = processing.resample(v, 1.0)
    assert iso.attrs["spacing"] == (1.0, 1.0, 1.0)
    assert iso.sizes["z"] == int((v.sizes["z"] - 1) * 1.5) + 1
    np.testing.assert_allclose(iso.attrs["origin"], v.attrs["origin"])
    # a voxel of the resampled volume holds the value at the same patient position
    g_in, g_out = geometry_of(v), geometry_of(iso)
    point = g_out.index_to_patient([30, 40, 50])
    k, j, i = g_in.patient_to_index(point)
    expected = ndimage.map_coordinates(v.values, [[k], [j], [i]], order=1)[0]
    assert float(iso[30, 40, 50]) == pytest.approx(expected, abs=1e-3)
    # volumes of ROIs survive resampling
    hu = iso.values
    assert (hu > 150).sum() * 1.0 / 1000 == pytest.approx((v.values > 150).sum() * 1.5 * 0.49 / 1000, rel=0.02)


def test_reformat_axial_volume_to_coronal_and_sagittal(volumes):
    vols, _ = volumes
    v = vols["anisotropic"]  # axial
    hu = v.values
    cor = processing.reformat(v, "coronal", spacing=(0.7, 1.5, 0.7), order=0)
    sag = processing.reformat(v, "sagittal", spacing=(0.7, 1.5, 0.7), order=0)
    # coronal: rows run from head to feet (-z), columns along +x, slices along +y (posterior)
    assert cor.sizes == {"z": hu.shape[1], "y": hu.shape[0], "x": hu.shape[2]}
    np.testing.assert_array_equal(cor.values, np.transpose(hu, (1, 0, 2))[:, ::-1, :])
    assert sag.sizes == {"z": hu.shape[2], "y": hu.shape[0], "x": hu.shape[1]}
    # sagittal: columns along +y, rows from head to feet, slices along the normal row x column = -x
    np.testing.assert_array_equal(sag.values, np.transpose(hu, (2, 0, 1))[::-1, ::-1, :])
    axial = processing.reformat(v, "axial", spacing=(1.5, 0.7, 0.7), order=0)
    np.testing.assert_array_equal(axial.values, hu)


def test_oblique_reformat_puts_structures_where_they_are(volumes):
    vols, truths = volumes
    v = vols["oblique"]
    axial = processing.reformat(v, "axial", spacing=1.0, order=1)
    g = geometry_of(axial)
    labels = analysis.label_components_np(axial.values, lower=150)
    k, j, i = np.nonzero(labels == 1)
    centre = g.index_to_patient(np.array([k.mean(), j.mean(), i.mean()]))
    np.testing.assert_allclose(centre, (0.0, 0.0, 0.0), atol=1.0)
    assert (labels == 1).sum() * 1e-3 == pytest.approx(truths["oblique"]["ellipsoids"][0]["volume_ml"], rel=0.02)


@pytest.mark.parametrize(("kind", "reducer"), [("max", np.max), ("min", np.min), ("mean", np.mean)])
def test_projections(volumes, kind, reducer):
    vols, _ = volumes
    v = vols["chest"]
    for dim, axis in (("z", 0), ("y", 1)):
        p = processing.project(v, kind, dim=dim)
        assert dim not in p.dims and p.attrs["units"] == "HU"
        np.testing.assert_allclose(p.values, reducer(v.values, axis=axis), rtol=1e-6)


def test_map_volume_with_overlap_equals_whole_volume_filter(volumes):
    vols, _ = volumes
    v = vols["chest"].chunk({"z": 4})
    out = processing.map_volume(ndimage.uniform_filter, v, size=3, depth=1, boundary="reflect", mode="reflect")
    np.testing.assert_allclose(out.values, ndimage.uniform_filter(v.values, size=3, mode="reflect"), rtol=1e-5)


@pytest.fixture(scope="module")
def rescaled_chest(tmp_path_factory):
    """A chest CT whose rescale is not integral: HU values fall between float32 steps."""
    from analysis_helpers import chest, ingest

    import pacslab

    base = tmp_path_factory.mktemp("rescaled")
    datasets = chest(5)
    for ds in datasets:
        ds.RescaleSlope, ds.RescaleIntercept = "0.37", "-1000.25"
    archive = pacslab.open_archive(base / "archive", create=True)
    uid = ingest(archive, datasets, base / "in")
    yield archive.open_volume(uid)
    archive.close()


@pytest.mark.parametrize(
    ("lower", "upper"), [(-500.3, None), (None, 120.7), (-600.0, 40.08), (5000.0, None), (None, None)]
)
def test_threshold_on_stored_values_equals_the_float_comparison(rescaled_chest, lower, upper):
    v = rescaled_chest
    hu = v.values
    expected = np.ones(hu.shape, bool)
    if lower is not None:
        expected &= hu >= lower
    if upper is not None:
        expected &= hu <= upper
    mask = processing.threshold(v, lower=lower, upper=upper)
    assert mask.dtype == bool and mask.dims == v.dims
    np.testing.assert_array_equal(mask.values, expected)
    assert processing.threshold(v + 0.0, lower=lower, upper=upper).values.tolist() == expected.tolist()


def test_stored_mask_lookup_and_fallback(rescaled_chest):
    from pacslab.processing.reductions import stored_mask

    v = rescaled_chest
    hu = v.values
    outside = stored_mask(v, lambda x: (x < -900.5) | (x > 200.2))  # two runs of stored values: a lookup table
    np.testing.assert_array_equal(outside.compute(), (hu < -900.5) | (hu > 200.2))
    assert stored_mask(v + 1.0, lambda x: x > 0) is None  # no longer the stored values' rescale
    assert stored_mask(v.copy(data=v.data * 2), lambda x: x > 0) is None


def test_body_labels_equal_body_mask_of_the_values(rescaled_chest):
    from pacslab.analysis.segmentation import BODY, body_labels, body_mask

    v = rescaled_chest
    labels = body_labels(v, threshold=-499.9)
    np.testing.assert_array_equal(labels.values, body_mask(v.values, threshold=-499.9).astype(np.uint8) * BODY)
    assert labels.values.any()
    np.testing.assert_array_equal(body_labels(v + 0.0, threshold=-499.9).values, labels.values)


def test_threshold_at_values_the_volume_holds(rescaled_chest):
    """Bounds equal to float32 values of the volume: the stored-value test must round as the rescale does."""
    v = rescaled_chest
    hu = v.values
    for value in np.unique(hu)[::97]:
        bound = float(value)
        np.testing.assert_array_equal(processing.threshold(v, lower=bound).values, hu >= bound)
        np.testing.assert_array_equal(processing.threshold(v, upper=bound).values, hu <= bound)

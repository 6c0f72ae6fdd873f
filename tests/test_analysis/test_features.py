"""ROI features on phantoms of known geometry: volumes, surface areas and HU within 2 % of the analytic values."""

from __future__ import annotations

import numpy as np
import pytest

from pacslab import analysis
from pacslab.analysis import features

TOLERANCE = 0.02


def _by_feature(result, roi="region_1"):
    w = result.wide().set_index("roi")
    return w.loc[roi]


@pytest.mark.parametrize("kind", ["oblique", "anisotropic"])
@pytest.mark.parametrize(("name", "bounds"), [("ellipsoid", {"lower": 150}), ("sphere", {"upper": -200})])
def test_roi_features_match_the_analytic_truth(phantom_archive, kind, name, bounds):
    archive, truths, _ = phantom_archive
    truth = truths[kind]
    expected = next(e for e in truth["ellipsoids"] if e["name"] == name)
    result = analysis.run_cohort(
        archive, "roi-features", [truth["series_instance_uid"]], parameters=bounds, save_seg=False
    )
    assert not result.failed
    row = _by_feature(result)
    assert row["volume_ml"] == pytest.approx(expected["volume_ml"], rel=TOLERANCE)
    assert row["shape_MeshVolume"] / 1000 == pytest.approx(expected["volume_ml"], rel=TOLERANCE)
    assert row["shape_SurfaceArea"] == pytest.approx(expected["surface_area_mm2"], rel=TOLERANCE)
    assert row["firstorder_Mean"] == pytest.approx(expected["hu"], rel=TOLERANCE)
    assert row["firstorder_StandardDeviation"] == pytest.approx(truth["noise_sd"], rel=0.1)
    sphericity = (36 * np.pi * (expected["volume_ml"] * 1000) ** 2) ** (1 / 3) / expected["surface_area_mm2"]
    assert row["shape_Sphericity"] == pytest.approx(sphericity, rel=2 * TOLERANCE)
    centroid = result.measurements.query("feature == 'shape_CentroidPatient'")["data"].iloc[0]
    np.testing.assert_allclose(centroid, expected["center_mm"], atol=1.0)  # patient mm, through the affine


def test_shape_is_measured_in_patient_space():
    # the same sphere, voxelised on an axis-aligned grid, measured through a rotated affine
    z, y, x = np.mgrid[-20:21, -20:21, -20:21]
    mask = (z * 2.0) ** 2 + (y * 1.0) ** 2 + (x * 1.0) ** 2 <= 18.0**2
    affine = np.eye(4)
    affine[:3, :3] = np.diag([1.0, 1.0, 2.0])
    rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    rotated = affine.copy()
    rotated[:3, :3] = rotation @ affine[:3, :3]
    a, b = features.shape(mask, affine), features.shape(mask, rotated)
    assert a["SurfaceArea"] == pytest.approx(b["SurfaceArea"], rel=1e-9)
    assert a["SurfaceArea"] == pytest.approx(4 * np.pi * 18.0**2, rel=TOLERANCE)
    assert a["VoxelVolume"] == pytest.approx(4 / 3 * np.pi * 18.0**3, rel=TOLERANCE)


def test_first_order_follows_pyradiomics_definitions():
    rng = np.random.default_rng(1)
    x = rng.normal(40.0, 10.0, 20000)
    f = features.first_order(x, bin_width=25)
    assert f["Mean"] == pytest.approx(x.mean())
    assert f["StandardDeviation"] == pytest.approx(x.std())  # population, as pyradiomics
    assert f["Energy"] == pytest.approx((x**2).sum())
    assert f["Kurtosis"] == pytest.approx(3.0, abs=0.1)  # not excess kurtosis
    assert f["Skewness"] == pytest.approx(0.0, abs=0.05)
    assert f["10Percentile"] == pytest.approx(np.percentile(x, 10))
    counts = np.bincount((np.floor(x / 25) - np.floor(x.min() / 25)).astype(int)) / x.size
    p = counts[counts > 0]
    assert f["Entropy"] == pytest.approx(-(p * np.log2(p)).sum())
    assert set(features.FIRST_ORDER) == set(f)

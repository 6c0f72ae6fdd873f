"""The fast morphology of pacslab.analysis.segmentation equals SciPy's textbook operations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from pacslab.analysis import segmentation as seg

SQUARE = np.ones((1, 3, 3), bool)


def _masks():
    rng = np.random.default_rng(7)
    for shape, p in [((3, 17, 23), 0.5), ((4, 40, 31), 0.7), ((2, 5, 5), 0.3), ((1, 1, 9), 0.6), ((5, 64, 64), 0.85)]:
        yield rng.random(shape) < p


@pytest.mark.parametrize("mask", list(_masks()), ids=lambda m: "x".join(map(str, m.shape)))
def test_in_plane_morphology_equals_scipy(mask):
    np.testing.assert_array_equal(seg._erode_in_plane(mask), ndimage.binary_erosion(mask, structure=SQUARE))
    np.testing.assert_array_equal(seg._dilate_in_plane(mask), ndimage.binary_dilation(mask, structure=SQUARE))
    np.testing.assert_array_equal(seg._open_in_plane(mask), ndimage.binary_opening(mask, structure=SQUARE))


@pytest.mark.parametrize("mask", list(_masks()), ids=lambda m: "x".join(map(str, m.shape)))
def test_fill_slices_equals_binary_fill_holes(mask):
    expected = np.stack([ndimage.binary_fill_holes(s) for s in mask])
    np.testing.assert_array_equal(seg._fill_slices(mask), expected)


@pytest.mark.parametrize("keep,min_voxels", [(1, 1), (2, 1), (2, 30), (3, 5), (50, 1)])
def test_largest_keeps_the_biggest_components(keep, min_voxels):
    mask = next(iter(_masks()))
    labels, n = ndimage.label(mask)
    sizes = np.bincount(labels.ravel())[1:]
    got = seg._largest(mask, keep=keep, min_voxels=min_voxels)
    kept = sorted(sizes[np.unique(labels[got]) - 1].tolist(), reverse=True) if got.any() else []
    expected = [s for s in sorted(sizes.tolist(), reverse=True)[:keep] if s >= min_voxels]
    assert kept == expected
    assert not (got & ~mask).any()


def test_body_mask_matches_the_textbook_pipeline():
    """Threshold, opening, largest component, holes filled: against SciPy's own calls on a body with a table."""
    z, y, x = np.mgrid[:6, :96, :96]
    hu = np.full((6, 96, 96), -1000.0)
    body = ((y - 45) / 30.0) ** 2 + ((x - 48) / 38.0) ** 2 <= 1
    hu[body] = 40.0
    hu[(((y - 45) / 12.0) ** 2 + ((x - 35) / 8.0) ** 2) <= 1] = -850.0  # a lung: a hole to fill
    hu[:, 82:85, 10:86] = 200.0  # the table, apart from the body
    hu[:, 20, 48] = -1000.0  # noise
    reference = ndimage.binary_opening(hu > -500, structure=SQUARE)
    labels, _ = ndimage.label(reference)
    reference = labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1
    reference = np.stack([ndimage.binary_fill_holes(s) for s in reference])
    got = seg.body_mask(hu)
    np.testing.assert_array_equal(got, reference)
    assert not got[:, 83, 50].any() and got[:, 45, 35].all()  # no table; the lung is filled



def test_intensity_statistics_from_stored_integers_match_numpy(tmp_path):
    """A volume fresh from open_volume takes the exact integer path; a changed one the general path; both match NumPy."""
    import dask

    import pacslab
    from pacslab import examples
    from pacslab.processing import intensity_statistics
    from pacslab.processing.reductions import _stored

    examples.write_series(examples.generate_ct_series(seed=5, n_slices=6, rows=32, columns=32), tmp_path / "in")
    archive = pacslab.open_archive(tmp_path / "archive", create=True)
    archive.ingest(tmp_path / "in", progress=False)
    volume = archive.open_volume(archive.series().SeriesInstanceUID.iloc[0], chunks={0: 4})
    shifted = volume.copy(data=volume.data + 7.5)  # keeps xarray's encoding, not the values it describes
    assert _stored(volume) is not None and _stored(shifted) is None
    for v, rel in ((volume, 1e-12), (shifted, 1e-6)):  # exact integer sums; float64 E[x²] − mean² loses digits
        (stats,) = dask.compute(intensity_statistics(v))
        values = v.values.astype(np.float64)
        assert stats["count"] == values.size
        for name, expected in [("mean", values.mean()), ("std", values.std()), ("min", values.min()),
                               ("max", values.max()), ("sum", values.sum()), ("energy", (values**2).sum())]:  # fmt: skip
            assert float(stats[name]) == pytest.approx(expected, rel=rel), name

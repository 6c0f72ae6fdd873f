"""Generated series through the whole path: files → ingest → volume with the right geometry."""

from __future__ import annotations

import numpy as np
import pytest

from pacslab import examples


def _ingest(archive, datasets, tmp_path, naming="random"):
    paths = examples.write_series(datasets, tmp_path / "in", naming=naming, seed=3)
    report = archive.ingest(tmp_path / "in", progress=False)
    assert report.ok and report.new == len(paths)
    return datasets[0].SeriesInstanceUID


def _expected_axis(datasets):
    iop = np.asarray(datasets[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    order = sorted(datasets, key=lambda d: float(np.dot(np.asarray(d.ImagePositionPatient, dtype=float), normal)))
    return order, iop, normal


def test_shuffled_renamed_ct_comes_back_ordered(archive, tmp_path):
    datasets = examples.generate_ct_series(seed=4, n_slices=12, rows=64, columns=64, slice_thickness=3.0)
    shuffled = [datasets[i] for i in np.random.default_rng(1).permutation(len(datasets))]
    for n, ds in enumerate(shuffled):  # InstanceNumber tells nothing
        ds.InstanceNumber = n + 1
    uid = _ingest(archive, shuffled, tmp_path)
    volume = archive.open_volume(uid)
    order, iop, normal = _expected_axis(datasets)
    assert volume.dims == ("z", "y", "x") and volume.shape == (12, 64, 64)
    assert volume.attrs["spacing"] == pytest.approx((3.0, 0.7, 0.7))
    np.testing.assert_allclose(volume.attrs["origin"], order[0].ImagePositionPatient, atol=1e-4)
    np.testing.assert_allclose(np.asarray(volume.attrs["direction"]).ravel(), [*iop, *normal], atol=1e-6)
    for z, ds in enumerate(order):
        hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(volume[z].values, hu)
    assert volume.attrs["units"] == "HU"
    np.testing.assert_allclose(np.diff(volume.z.values), 3.0, atol=1e-3)


def test_oblique_series_keeps_direction_cosines(archive, tmp_path):
    datasets = examples.generate_oblique_ct(seed=5, n_slices=8, rows=48, columns=48)
    uid = _ingest(archive, datasets, tmp_path)
    volume = archive.open_volume(uid)
    order, iop, normal = _expected_axis(datasets)
    np.testing.assert_allclose(volume.attrs["direction"][0], iop[:3], atol=1e-6)
    np.testing.assert_allclose(volume.attrs["direction"][1], iop[3:], atol=1e-6)
    assert abs(np.dot(iop[:3], [1, 0, 0])) < 0.999  # really oblique
    affine = np.asarray(volume.attrs["affine"])
    for k in (0, 7):  # the affine puts each slice where the file says it is
        np.testing.assert_allclose(affine @ [0, 0, k, 1], [*order[k].ImagePositionPatient, 1], atol=1e-3)


def test_localizer_is_split_not_mis_stacked(archive, tmp_path):
    datasets = examples.generate_localizer_mixed_series(seed=6, n_slices=10, rows=64, columns=64, localizer_shape=(80, 64))
    uid = _ingest(archive, datasets, tmp_path)
    volumes = archive.volumes(uid)
    assert len(volumes) >= 2
    main = archive.open_volume(uid)
    assert main.shape == (10, 64, 64)
    assert "localizer" in archive.series(SeriesInstanceUID=uid).volume_reason.iloc[0]
    for stack in volumes.stack_index[1:]:
        assert archive.open_volume(uid, stack=int(stack)).shape[0] == 1


def test_enhanced_multiframe_is_ordered_by_frame_position(archive, tmp_path):
    ds = examples.generate_enhanced_ct(seed=7, n_frames=10, rows=32, columns=32, shuffle_frames=True)
    uid = _ingest(archive, [ds], tmp_path, naming="uid")
    volume = archive.open_volume(uid)
    assert volume.shape == (10, 32, 32)
    positions = [np.asarray(f.PlanePositionSequence[0].ImagePositionPatient, dtype=float)
                 for f in ds.PerFrameFunctionalGroupsSequence]  # fmt: skip
    iop = np.asarray(ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    order = np.argsort([p @ normal for p in positions])
    pixels = ds.pixel_array
    for z, frame in enumerate(order):
        np.testing.assert_array_equal(volume.isel(z=z).values, _rescaled(ds, frame, pixels[frame]))
    assert np.all(np.diff(volume.z.values) > 0)


def _rescaled(ds, frame, pixels):
    item = ds.PerFrameFunctionalGroupsSequence[frame]
    shared = ds.SharedFunctionalGroupsSequence[0]
    for source in (item, shared):
        if "PixelValueTransformationSequence" in source:
            t = source.PixelValueTransformationSequence[0]
            return pixels * float(t.RescaleSlope) + float(t.RescaleIntercept)
    return pixels


def test_multi_echo_mr_is_four_dimensional(archive, tmp_path):
    datasets = examples.generate_mr_series(seed=8, n_slices=6, rows=32, columns=32, echo_times=[12.0, 90.0])
    uid = _ingest(archive, datasets, tmp_path)
    volume = archive.open_volume(uid)
    assert volume.dims == ("echo_time", "z", "y", "x")
    assert volume.shape == (2, 6, 32, 32)
    np.testing.assert_allclose(volume.echo_time.values, [12.0, 90.0])


def test_dx_single_image_volume(archive, tmp_path):
    ds = examples.generate_dx_image(seed=9, rows=128, columns=96)
    uid = _ingest(archive, [ds], tmp_path, naming="uid")
    volume = archive.open_volume(uid)
    assert volume.shape == (1, 128, 96)
    assert not volume.attrs["geometry_known"]
    np.testing.assert_array_equal(volume[0].values, ds.pixel_array)
    spacing = [float(v) for v in ds.ImagerPixelSpacing]
    assert volume.attrs["spacing"][1:] == pytest.approx(spacing)


def test_chunks_are_tiles_of_slices_and_a_2d_image_is_one_chunk(archive, tmp_path):
    import json

    from pacslab.config import config

    ct = examples.generate_ct_series(seed=12, n_slices=3, rows=40, columns=24)
    dx = examples.generate_dx_image(seed=12, rows=40, columns=24)
    with config.set({"volumes.chunks": [2, 16, 16]}):
        shapes = {}
        for name, datasets in (("ct", ct), ("dx", [dx])):
            uid = _ingest(archive, datasets, tmp_path / name)
            array = f"{archive.root}/{archive.volumes(uid).path.iloc[0]}/0"
            metadata = json.loads(archive.fs.cat_file(f"{array}/zarr.json"))
            files = [p.rsplit("/", 1)[-1] for p in archive.fs.find(array) if not p.endswith("zarr.json")]
            shapes[name] = metadata["chunk_grid"]["configuration"]["chunk_shape"], sorted(files)
            ordered = _expected_axis(datasets)[0] if name == "ct" else datasets
            expected = np.stack([ds.pixel_array for ds in ordered])
            np.testing.assert_array_equal(archive.open_volume(uid, rescale=False).values, expected)
    assert shapes["ct"][0] == [2, 16, 16] and len(shapes["ct"][1]) == 2 * 3 * 2  # every chunk a file of its own
    assert shapes["dx"] == ([1, 40, 24], ["c.0.0.0"])


def test_volume_is_lazy_and_stored_values_reachable(archive, tmp_path):
    datasets = examples.generate_ct_series(seed=10, n_slices=9, rows=32, columns=32)
    uid = _ingest(archive, datasets, tmp_path)
    import dask.array as da

    volume = archive.open_volume(uid)
    assert isinstance(volume.data, da.Array)
    stored = archive.open_volume(uid, rescale=False)
    assert stored.dtype == datasets[0].pixel_array.dtype
    assert stored.attrs["units"] == "stored value"
    loaded = archive.load_volume(uid)
    assert isinstance(loaded.data, np.ndarray)
    # dask chunks by dim name: -1 is the whole axis, dims left out keep the Zarr chunks
    zarr_chunks = volume.data.chunksize
    by_name = archive.open_volume(uid, chunks={"z": 4, "y": -1})
    assert by_name.data.chunks[0] == (4, 4, 1) and by_name.data.chunks[1] == (32,)
    assert by_name.data.chunksize[2] == zarr_chunks[2]
    np.testing.assert_array_equal(by_name.values, volume.values)


def test_ngff_metadata(archive, tmp_path):
    import zarr

    datasets = examples.generate_ct_series(seed=11, n_slices=4, rows=32, columns=32)
    uid = _ingest(archive, datasets, tmp_path)
    path = archive.volumes(uid).path.iloc[0]
    group = zarr.open_group(f"{archive.root}/{path}", mode="r")
    ms = group.attrs["ome"]["multiscales"][0]
    assert [a["name"] for a in ms["axes"]] == ["z", "y", "x"]
    assert all(a["unit"] == "millimeter" for a in ms["axes"])
    scale = ms["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale == pytest.approx([2.5, 0.7, 0.7])
    assert group["0"].metadata.dimension_names == ("z", "y", "x")


def test_xarray_engine(archive, tmp_path):
    import xarray as xr

    datasets = examples.generate_ct_series(seed=12, n_slices=4, rows=32, columns=32)
    uid = _ingest(archive, datasets, tmp_path)
    ds = xr.open_dataset(archive.root, engine="pacslab", series_instance_uid=uid)
    assert ds["image"].shape == (4, 32, 32)

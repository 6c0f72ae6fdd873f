"""NIfTI export: RAS affine against the volume and the DICOM positions, voxel values, 4-D, colour, de-identified."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from export_helpers import Filled, export_rows

from pacslab.export import LPS_TO_RAS, ExportError


def _sorted_by_position(datasets: list) -> list:
    row, col = np.asarray(datasets[0].ImageOrientationPatient[:3]), np.asarray(datasets[0].ImageOrientationPatient[3:])
    normal = np.cross(row, col)
    return sorted(datasets, key=lambda ds: float(np.dot(np.asarray(ds.ImagePositionPatient, dtype=float), normal)))


@pytest.mark.parametrize("which", ["ct", "oblique"])
def test_affine_is_the_volume_affine_in_ras(filled: Filled, tmp_path: Path, which: str) -> None:
    datasets = getattr(filled, which)
    series = str(datasets[0].SeriesInstanceUID)
    report = filled.archive.export(series, tmp_path, format="nifti")
    assert report.ok and len(report) == 1
    path = Path(report.written[0])
    assert path.relative_to(tmp_path).parts == (str(datasets[0].StudyInstanceUID), f"{series}.nii.gz")
    image = nib.load(path)
    volume = filled.archive.load_volume(series)
    np.testing.assert_allclose(image.affine, LPS_TO_RAS @ np.asarray(volume.attrs["affine"]), atol=1e-5)
    assert int(image.header["sform_code"]) == 1 and int(image.header["qform_code"]) == 1
    # independent of the volume: voxel (0, 0, k) sits at slice k's ImagePositionPatient, LPS -> RAS
    ordered = _sorted_by_position(datasets)
    for k, ds in enumerate(ordered):
        lps = np.asarray(ds.ImagePositionPatient, dtype=float)
        np.testing.assert_allclose(image.affine @ [0, 0, k, 1], [-lps[0], -lps[1], lps[2], 1], atol=1e-3)
    # one step along i (a column) moves along the row direction by the column spacing, in RAS
    row_direction = np.asarray(ordered[0].ImageOrientationPatient[:3], dtype=float) * [-1, -1, 1]
    step = image.affine[:3, 0]
    np.testing.assert_allclose(step, row_direction * float(ordered[0].PixelSpacing[1]), atol=1e-5)


def test_voxels_are_modality_values(filled: Filled, tmp_path: Path) -> None:
    series = str(filled.ct[0].SeriesInstanceUID)
    image = nib.load(filled.archive.export(series, tmp_path, format="nifti").written[0])
    data = np.asarray(image.dataobj)
    volume = filled.archive.load_volume(series)
    assert data.shape == tuple(reversed(volume.shape))
    np.testing.assert_array_equal(data, volume.transpose("x", "y", "z").values)
    for k, ds in enumerate(_sorted_by_position(filled.ct)):  # and against the DICOM pixels: HU
        hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(data[:, :, k], hu.T)
    assert image.get_data_dtype().kind == "i"  # integral HU stay integers
    assert image.header.get_xyzt_units()[0] == "mm"


def test_four_d_and_colour(filled: Filled, tmp_path: Path) -> None:
    mr = str(filled.mr[0].SeriesInstanceUID)
    image = nib.load(filled.archive.export(mr, tmp_path / "mr", format="nifti").written[0])
    volume = filled.archive.load_volume(mr)
    assert image.shape == (16, 16, 3, 2)
    np.testing.assert_array_equal(np.asarray(image.dataobj), volume.transpose("x", "y", "z", "echo_time").values)
    sc = filled.archive.series(Modality="OT")["SeriesInstanceUID"].iloc[0]
    rgb = nib.load(filled.archive.export(sc, tmp_path / "sc", format="nifti").written[0])
    colour = filled.archive.load_volume(sc)
    assert rgb.shape == (100, 100, 2, 1, 3)
    np.testing.assert_array_equal(np.asarray(rgb.dataobj)[:, :, :, 0, :], colour.transpose("x", "y", "z", "c").values)


def test_deidentified_nifti_carries_no_identifiers(filled: Filled, tmp_path: Path) -> None:
    study = str(filled.ct[0].StudyInstanceUID)
    report = filled.archive.export(study, tmp_path, format="nifti", deidentify="nifti-trial")
    assert report.ok and len(report) == 2  # the axial and the oblique series
    identifiers = filled.identifiers(filled.ct + filled.oblique)
    for path in report:
        relative = str(Path(path).relative_to(tmp_path))
        assert not any(text in relative for text in identifiers)
        assert all(part.startswith("2.25.") for part in Path(relative).parts)
        raw = gzip.decompress(Path(path).read_bytes())
        assert not any(text.encode() in raw for text in identifiers)
        assert b"ANON" not in raw and b"PSN" not in raw  # no pseudonyms either: geometry and units only
    plain = nib.load(filled.archive.export(str(filled.ct[0].SeriesInstanceUID), tmp_path / "plain",
                                           format="nifti").written[0])  # fmt: skip
    deid = [nib.load(p) for p in report.written]
    assert any(np.array_equal(np.asarray(d.dataobj), np.asarray(plain.dataobj)) for d in deid)


def test_burned_in_series_are_held_back_whole(filled: Filled, tmp_path: Path) -> None:
    sc = filled.archive.series(Modality="OT")["SeriesInstanceUID"].iloc[0]
    report = filled.archive.export(sc, tmp_path, format="nifti", deidentify=True)
    assert report.written == [] and report.held_back[0][0] == sc
    assert not list(tmp_path.rglob("*.nii.gz"))
    row = export_rows(filled.archive, tmp_path).iloc[0]
    assert (row["service"], row["outcome"], row["count"]) == ("nifti", "failure", 0)


@pytest.mark.parametrize("fmt", ["nifti", "ome-zarr"])
def test_series_without_a_volume_are_held_back(filled: Filled, tmp_path: Path, fmt: str) -> None:
    plan = filled.archive.series(Modality="RTPLAN")["SeriesInstanceUID"].iloc[0]
    ct = str(filled.ct[0].SeriesInstanceUID)
    report = filled.archive.export([plan, ct], tmp_path, format=fmt)
    assert len(report) == 1 and report.held_back[0][0] == plan and "no volume" in report.held_back[0][1]
    assert export_rows(filled.archive, tmp_path)["outcome"].tolist() == ["partial"]


def test_instances_are_refused(filled: Filled, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="SeriesInstanceUID"):
        filled.archive.export(str(filled.ct[0].SOPInstanceUID), tmp_path, format="nifti")

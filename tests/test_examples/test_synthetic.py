"""Tests of the deterministic synthetic DICOM generator (pacslab.examples)."""

from __future__ import annotations

import io
import math
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    EnhancedCTImageStorage,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    MRImageStorage,
    RLELossless,
)

from pacslab import examples
from pacslab.examples import (
    Ellipsoid,
    demo_studies,
    ellipsoid_surface_area,
    generate_ct_series,
    generate_dx_image,
    generate_enhanced_ct,
    generate_localizer_mixed_series,
    generate_mr_series,
    generate_oblique_ct,
    generate_phantom_ct,
    make_patient,
    make_study,
    write_benchmark_set,
    write_demo_archive_input,
    write_series,
)

# Small versions of every generator, so the whole file stays fast.
SMALL: dict[str, Callable[[int], list[pydicom.Dataset]]] = {
    "ct": lambda seed: generate_ct_series(
        seed=seed, n_slices=6, rows=64, columns=64, pixel_spacing=(5.6, 5.6)
    ),
    "oblique": lambda seed: generate_oblique_ct(
        seed=seed, n_slices=5, rows=48, columns=48, pixel_spacing=(7.5, 7.5)
    ),
    "localizer": lambda seed: generate_localizer_mixed_series(
        seed=seed,
        n_slices=4,
        rows=64,
        columns=64,
        pixel_spacing=(5.6, 5.6),
        localizer_shape=(80, 64),
        localizer_spacing=6.4,
    ),
    "enhanced": lambda seed: [
        generate_enhanced_ct(seed=seed, n_frames=6, rows=64, columns=64, pixel_spacing=(5.6, 5.6))
    ],
    "mr": lambda seed: generate_mr_series(
        seed=seed, n_slices=4, rows=64, columns=64, pixel_spacing=(3.6, 3.6)
    ),
    "mr_multi_echo": lambda seed: generate_mr_series(
        seed=seed,
        n_slices=4,
        rows=64,
        columns=64,
        pixel_spacing=(3.6, 3.6),
        echo_times=[20, 60, 100],
    ),
    "dx": lambda seed: [generate_dx_image(seed=seed, rows=256, columns=200)],
    "phantom": lambda seed: generate_phantom_ct(
        seed=seed, shape=(20, 64, 64), spacing=(4.0, 2.0, 2.0)
    )[0],
}

SOP_CLASSES = {
    "ct": CTImageStorage,
    "oblique": CTImageStorage,
    "localizer": CTImageStorage,
    "enhanced": EnhancedCTImageStorage,
    "mr": MRImageStorage,
    "mr_multi_echo": MRImageStorage,
    "dx": DigitalXRayImageStorageForPresentation,
    "phantom": CTImageStorage,
}


def _bytes(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def _hu(ds: pydicom.Dataset) -> np.ndarray:
    return ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def _cosines(ds: pydicom.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    iop = np.array(ds.ImageOrientationPatient, dtype=float)
    return iop[:3], iop[3:], np.cross(iop[:3], iop[3:])


def _pixel_of(ds: pydicom.Dataset, point: np.ndarray) -> tuple[int, int]:
    """(row, column) of the pixel nearest a patient point lying in the image plane."""
    row_dir, col_dir, _ = _cosines(ds)
    offset = np.asarray(point, dtype=float) - np.array(ds.ImagePositionPatient, dtype=float)
    row_spacing, col_spacing = (float(v) for v in ds.PixelSpacing)
    return round(float(offset @ col_dir) / row_spacing), round(
        float(offset @ row_dir) / col_spacing
    )


# --------------------------------------------------------------------------
# API surface and determinism
# --------------------------------------------------------------------------


def test_all_is_sorted_and_exported() -> None:
    assert examples.__all__ == sorted(examples.__all__)
    for name in examples.__all__:
        assert callable(getattr(examples, name))


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_same_seed_gives_identical_bytes(kind: str) -> None:
    first, second = SMALL[kind](3), SMALL[kind](3)
    assert len(first) == len(second)
    assert [_bytes(a) for a in first] == [_bytes(b) for b in second]


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_other_seed_gives_other_uids_and_pixels(kind: str) -> None:
    first, second = SMALL[kind](1), SMALL[kind](2)
    assert first[0].SeriesInstanceUID != second[0].SeriesInstanceUID
    assert first[0].StudyInstanceUID != second[0].StudyInstanceUID
    if kind != "phantom":  # the phantom is noise-free by default: exact truth
        assert not np.array_equal(first[-1].pixel_array, second[-1].pixel_array)


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_identity_attributes(kind: str) -> None:
    datasets = SMALL[kind](0)
    sops = [ds.SOPInstanceUID for ds in datasets]
    assert len(set(sops)) == len(sops)
    assert {ds.SeriesInstanceUID for ds in datasets} == {datasets[0].SeriesInstanceUID}
    for ds in datasets:
        assert ds.SOPClassUID == SOP_CLASSES[kind]
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        for key in (
            "PatientName",
            "PatientID",
            "PatientBirthDate",
            "PatientSex",
            "StudyDate",
            "StudyTime",
        ):
            assert str(ds[key].value)
        assert pydicom.uid.UID(ds.StudyInstanceUID).is_valid
    assert [ds.InstanceNumber for ds in datasets] == list(range(1, len(datasets) + 1))


def test_uids_do_not_collide_between_kinds() -> None:
    series = {SMALL[kind](0)[0].SeriesInstanceUID for kind in SMALL}
    assert len(series) == len(SMALL)


def test_patient_and_study_can_be_shared() -> None:
    patient, study = make_patient(seed=7), make_study(seed=7, description="MIXED")
    ct = generate_ct_series(
        seed=1,
        n_slices=2,
        rows=32,
        columns=32,
        pixel_spacing=(11.2, 11.2),
        patient=patient,
        study=study,
    )
    mr = generate_mr_series(
        seed=2,
        n_slices=2,
        rows=32,
        columns=32,
        pixel_spacing=(7.2, 7.2),
        patient=patient,
        study=study,
        series_number=2,
    )
    for ds in (ct[0], mr[0]):
        for key, value in {**patient, **study}.items():
            assert str(ds[key].value) == value
    assert ct[0].SeriesInstanceUID != mr[0].SeriesInstanceUID


def test_partial_patient_is_completed_and_bad_keys_rejected() -> None:
    ds = generate_ct_series(
        n_slices=1, rows=32, columns=32, patient={"PatientName": "ZZZTEST^ONE"}
    )[0]
    assert ds.PatientName == "ZZZTEST^ONE"
    assert ds.PatientID == make_patient(seed=0)["PatientID"]
    with pytest.raises(ValueError):
        generate_ct_series(n_slices=1, rows=32, columns=32, patient={"NotAKeyword": "x"})
    with pytest.raises(ValueError):
        generate_ct_series(seed=-1, n_slices=1, rows=32, columns=32)


# --------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("orientation", "spacing"),
    [
        (None, 2.5),
        ([0.0, 1.0, 0.0, 0.0, 0.0, -1.0], 3.0),
        (examples.oblique_orientation(20, 0, 10), 1.25),
        (examples.oblique_orientation(-35, 15, 40), 4.0),
    ],
)
def test_positions_step_along_the_normal(orientation: list[float] | None, spacing: float) -> None:
    datasets = generate_ct_series(
        n_slices=7,
        rows=32,
        columns=40,
        pixel_spacing=(9.0, 9.0),
        slice_thickness=spacing,
        orientation=orientation,
    )
    row_dir, col_dir, normal = _cosines(datasets[0])
    assert np.isclose(np.linalg.norm(row_dir), 1, atol=1e-9)
    assert np.isclose(np.linalg.norm(col_dir), 1, atol=1e-9)
    assert abs(row_dir @ col_dir) < 1e-9
    positions = np.array([ds.ImagePositionPatient for ds in datasets], dtype=float)
    steps = np.diff(positions, axis=0)
    np.testing.assert_allclose(steps, np.tile(normal * spacing, (len(steps), 1)), atol=1e-6)
    for ds, position in zip(datasets, positions, strict=True):
        assert _cosines(ds)[0] @ row_dir == pytest.approx(1)
        assert float(ds.SliceLocation) == pytest.approx(position @ normal, abs=1e-6)
        assert float(ds.SliceThickness) == spacing
        assert (ds.Rows, ds.Columns) == (32, 40)


def test_default_axial_geometry() -> None:
    datasets = generate_ct_series(n_slices=4, rows=64, columns=64, pixel_spacing=(5.6, 5.6))
    assert [float(v) for v in datasets[0].ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    z = [float(ds.ImagePositionPatient[2]) for ds in datasets]
    assert np.allclose(np.diff(z), 2.5)
    assert {ds.FrameOfReferenceUID for ds in datasets} == {datasets[0].FrameOfReferenceUID}
    assert [float(v) for v in datasets[0].PixelSpacing] == [5.6, 5.6]


def test_explicit_origin_is_first_position() -> None:
    datasets = generate_ct_series(n_slices=3, rows=32, columns=32, origin=(-10.0, 20.5, 300.25))
    assert [float(v) for v in datasets[0].ImagePositionPatient] == [-10.0, 20.5, 300.25]


def test_oblique_ct_is_clearly_oblique_and_orthonormal() -> None:
    datasets = SMALL["oblique"](0)
    row_dir, col_dir, normal = _cosines(datasets[0])
    assert np.linalg.norm(row_dir) == pytest.approx(1, abs=1e-9)
    assert np.linalg.norm(col_dir) == pytest.approx(1, abs=1e-9)
    assert row_dir @ col_dir == pytest.approx(0, abs=1e-9)
    angle_to_z = math.degrees(math.acos(abs(normal[2])))
    assert angle_to_z == pytest.approx(20, abs=0.01)
    assert max(abs(row_dir[1]), abs(row_dir[2])) > 0.15
    steps = np.diff([np.array(ds.ImagePositionPatient, dtype=float) for ds in datasets], axis=0)
    np.testing.assert_allclose(steps @ normal, 2.0, atol=1e-6)


@pytest.mark.parametrize("orientation", [[1, 0, 0, 0.5, 1, 0], [0, 0, 0, 0, 1, 0], [1, 0, 0]])
def test_invalid_orientation_is_rejected(orientation: list[float]) -> None:
    with pytest.raises(ValueError):
        generate_ct_series(n_slices=1, rows=16, columns=16, orientation=orientation)


# --------------------------------------------------------------------------
# CT pixel values
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chest() -> list[pydicom.Dataset]:
    # 128 x 128 at 2.8 mm = the reference 358.4 mm FOV, so anatomy is in true mm.
    return generate_ct_series(
        n_slices=5, rows=128, columns=128, pixel_spacing=(2.8, 2.8), slice_thickness=5.0
    )


@pytest.mark.parametrize(
    ("name", "offset", "low", "high"),
    [
        ("right lung", (-80, -10), -950, -750),
        ("left lung", (90, -10), -950, -750),
        ("soft tissue", (-140, 0), 0, 80),
        ("fat rim", (0, -108), -150, -50),
        ("vertebral body", (0, 62), 600, 1100),
        ("air in FOV", (-172, 0), -1024, -940),
    ],
)
def test_ct_tissue_values(
    chest: list[pydicom.Dataset], name: str, offset: tuple[float, float], low: float, high: float
) -> None:
    ds = chest[2]
    center = np.array(ds.ImagePositionPatient, dtype=float) + np.array([63.5 * 2.8, 63.5 * 2.8, 0])
    row, col = _pixel_of(ds, center + np.array([offset[0], offset[1], 0.0]))
    roi = _hu(ds)[row - 1 : row + 2, col - 1 : col + 2]
    assert low <= float(np.median(roi)) <= high, name


def test_ct_encoding_padding_and_masks(chest: list[pydicom.Dataset]) -> None:
    ds = chest[2]
    assert ds.PixelRepresentation == 1 and ds.BitsAllocated == 16 and ds.BitsStored == 16
    assert float(ds.RescaleIntercept) == -1024 and float(ds.RescaleSlope) == 1
    assert ds.PixelPaddingValue == -2000
    assert [float(v) for v in ds.WindowCenter] == [40, -600]
    assert [float(v) for v in ds.WindowWidth] == [400, 1500]
    stored = ds.pixel_array
    assert stored.dtype == np.int16
    padding = stored == -2000
    assert padding[0, 0] and padding[-1, -1] and not padding[64, 64]
    hu = _hu(ds)[~padding]
    assert hu.min() >= -1024 and hu.max() <= 3071
    body = _hu(ds) > -500
    assert 0.25 < body.mean() < 0.6  # body minus lungs inside the 128 x 128 image
    lungs = (_hu(ds) >= -1000) & (_hu(ds) <= -400) & ~padding
    assert lungs[50:80, 28:50].mean() > 0.9 and lungs[70:85, 88:100].mean() > 0.9
    assert (_hu(ds)[body] > 600).sum() > 20  # bone


def test_noise_level_is_realistic(chest: list[pydicom.Dataset]) -> None:
    ds = chest[2]
    center = np.array(ds.ImagePositionPatient, dtype=float) + np.array([63.5 * 2.8, 63.5 * 2.8, 0])
    row, col = _pixel_of(ds, center + np.array([-80.0, -10.0, 0.0]))
    roi = _hu(ds)[row - 4 : row + 5, col - 4 : col + 5]
    assert 7 < roi.std() < 18


def test_ct_anatomy_scales_to_small_fov() -> None:
    ds = generate_ct_series(n_slices=1, rows=48, columns=48)[0]  # 33.6 mm FOV
    hu = _hu(ds)
    assert (hu[20:28, 6:16] < -700).mean() > 0.8  # a lung is still there


# --------------------------------------------------------------------------
# localizer, enhanced CT, MR, DX
# --------------------------------------------------------------------------


def test_localizer_mixed_series() -> None:
    datasets = SMALL["localizer"](0)
    localizers = [ds for ds in datasets if ds.ImageType[2] == "LOCALIZER"]
    axials = [ds for ds in datasets if ds.ImageType[2] == "AXIAL"]
    assert len(localizers) == 2 and len(axials) == 4
    assert list(localizers[0].ImageType) == ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    assert {ds.SeriesInstanceUID for ds in datasets} == {datasets[0].SeriesInstanceUID}
    assert {ds.FrameOfReferenceUID for ds in datasets} == {datasets[0].FrameOfReferenceUID}
    axial_normal = _cosines(axials[0])[2]
    for scout in localizers:
        assert abs(_cosines(scout)[2] @ axial_normal) < 1e-9
        assert (scout.Rows, scout.Columns) == (80, 64) != (axials[0].Rows, axials[0].Columns)
        assert "PixelPaddingValue" not in scout
    assert list(localizers[0].ImageOrientationPatient) != list(
        localizers[1].ImageOrientationPatient
    )
    one = generate_localizer_mixed_series(
        n_slices=2, rows=32, columns=32, n_localizers=1, localizer_shape=(40, 32)
    )
    assert [ds.ImageType[2] for ds in one] == ["LOCALIZER", "AXIAL", "AXIAL"]


@pytest.mark.parametrize("shuffle", [False, True])
def test_enhanced_ct_frames(shuffle: bool) -> None:
    ds = generate_enhanced_ct(
        n_frames=8, rows=48, columns=48, pixel_spacing=(7.5, 7.5), shuffle_frames=shuffle
    )
    assert ds.NumberOfFrames == 8 and len(ds.PerFrameFunctionalGroupsSequence) == 8
    shared = ds.SharedFunctionalGroupsSequence[0]
    row_dir, col_dir, normal = (np.asarray(v) for v in _cosines(shared.PlaneOrientationSequence[0]))
    assert [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing] == [7.5, 7.5]
    frames = ds.PerFrameFunctionalGroupsSequence
    positions = np.array(
        [f.PlanePositionSequence[0].ImagePositionPatient for f in frames], dtype=float
    )
    stack_index = [int(f.FrameContentSequence[0].InStackPositionNumber) for f in frames]
    assert [list(f.FrameContentSequence[0].DimensionIndexValues) for f in frames] == [
        [1, k] for k in stack_index
    ]
    assert sorted(stack_index) == list(range(1, 9))
    assert (stack_index != sorted(stack_index)) == shuffle
    ordered = positions[np.argsort(stack_index)]
    np.testing.assert_allclose(np.diff(ordered, axis=0), np.tile(normal * 2.5, (7, 1)), atol=1e-6)
    pointers = [int(item.DimensionIndexPointer) for item in ds.DimensionIndexSequence]
    assert pointers == [0x00209056, 0x00209057]
    reference = generate_enhanced_ct(n_frames=8, rows=48, columns=48, pixel_spacing=(7.5, 7.5))
    np.testing.assert_array_equal(ds.pixel_array[np.argsort(stack_index)], reference.pixel_array)


def test_mr_multi_echo_repeats_positions() -> None:
    datasets = SMALL["mr_multi_echo"](0)
    assert len(datasets) == 12
    positions = [tuple(ds.ImagePositionPatient) for ds in datasets]
    assert positions[:4] == positions[4:8] == positions[8:]
    assert len(set(positions)) == 4
    assert [float(ds.EchoTime) for ds in datasets] == [20.0] * 4 + [60.0] * 4 + [100.0] * 4
    assert [int(ds.EchoNumbers) for ds in datasets] == [1] * 4 + [2] * 4 + [3] * 4
    brain = [float(np.mean(ds.pixel_array[24:40, 24:40])) for ds in datasets[1::4]]
    assert brain[0] > brain[1] > brain[2] > 50  # T2 decay


@pytest.mark.parametrize(
    ("plane", "normal"), [("axial", (0, 0, 1)), ("sagittal", (-1, 0, 0)), ("coronal", (0, 1, 0))]
)
def test_mr_planes_and_encoding(plane: str, normal: tuple[int, int, int]) -> None:
    datasets = generate_mr_series(
        n_slices=3, rows=64, columns=64, pixel_spacing=(3.6, 3.6), plane=plane
    )
    np.testing.assert_allclose(_cosines(datasets[0])[2], normal, atol=1e-12)
    ds = datasets[1]
    assert ds.PixelRepresentation == 0 and ds.BitsStored == 12 and "RescaleSlope" not in ds
    pixels = ds.pixel_array
    assert pixels.dtype == np.uint16 and pixels.max() <= 4095
    assert pixels[0:4, 0:4].mean() < 60 < pixels[28:36, 28:36].mean()  # air is dark, head is not


def test_dx_image() -> None:
    ds = SMALL["dx"](0)[0]
    assert ds.Modality == "DX" and ds.PresentationIntentType == "FOR PRESENTATION"
    assert ds.PhotometricInterpretation == "MONOCHROME2"
    assert (ds.Rows, ds.Columns) == (256, 200)
    assert [float(v) for v in ds.ImagerPixelSpacing] == pytest.approx([430 / 256] * 2)
    pixels = ds.pixel_array
    assert pixels.dtype == np.uint16 and pixels.max() < 4096
    mediastinum = float(np.median(pixels[150:170, 95:105]))
    lung = float(np.median(pixels[110:130, 55:65]))
    air = float(np.median(pixels[:6, :6]))
    assert mediastinum > lung > air


# --------------------------------------------------------------------------
# ellipsoid phantom
# --------------------------------------------------------------------------


def test_surface_area_of_known_shapes() -> None:
    assert ellipsoid_surface_area(10, 10, 10) == pytest.approx(4 * math.pi * 100, rel=1e-10)
    # prolate spheroid a = b = 3, c = 5 (closed form)
    e = math.sqrt(1 - 9 / 25)
    prolate = 2 * math.pi * 9 * (1 + 5 / (3 * e) * math.asin(e))
    assert ellipsoid_surface_area(3, 3, 5) == pytest.approx(prolate, rel=1e-10)


@pytest.mark.parametrize(
    ("orientation", "spacing"),
    [(None, (2.0, 1.0, 1.0)), (examples.oblique_orientation(25, 10, 30), (1.5, 1.2, 1.0))],
)
def test_phantom_truth(
    orientation: list[float] | None, spacing: tuple[float, float, float]
) -> None:
    datasets, truth = generate_phantom_ct(
        spacing=spacing, shape=(60, 128, 128), orientation=orientation
    )
    assert len(datasets) == 60 and truth["labels"].shape == (60, 128, 128)
    volume = np.stack([_hu(ds) for ds in datasets])
    assert set(np.unique(volume)) == {0.0, 100.0, 400.0, -500.0}
    for item in truth["ellipsoids"]:
        a, b, c = item["semi_axes_mm"]
        assert item["volume_ml"] == pytest.approx(4 / 3 * math.pi * a * b * c / 1000)
        assert item["voxelized_volume_ml"] == pytest.approx(item["volume_ml"], rel=0.05)
        inside = truth["labels"] == item["label"]
        assert np.all(volume[inside] == item["hu"])
    sphere = truth["ellipsoids"][0]
    assert sphere["surface_area_mm2"] == pytest.approx(4 * math.pi * 20**2)


def test_phantom_voxels_are_placed_in_patient_space() -> None:
    target = Ellipsoid(center=(10.0, -5.0, 3.0), semi_axes=(6.0, 6.0, 6.0), hu=1000.0, name="ball")
    datasets, truth = generate_phantom_ct(
        ellipsoids=[target],
        shape=(30, 40, 40),
        spacing=(1.0, 1.0, 1.0),
        orientation=examples.oblique_orientation(30, 0, 45),
    )
    volume = np.stack([_hu(ds) for ds in datasets])
    k, r, c = np.argwhere(volume == 1000).mean(axis=0)
    ds = datasets[0]
    row_dir, col_dir, normal = _cosines(ds)
    point = np.array(ds.ImagePositionPatient, dtype=float) + c * row_dir + r * col_dir + k * normal
    np.testing.assert_allclose(point, target.center, atol=0.3)
    assert truth["ellipsoids"][0]["name"] == "ball"


def test_phantom_accepts_mappings_and_rotated_axes() -> None:
    axes = [[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    spec = {"center": (0, 0, 0), "semi_axes": (20, 8, 8), "hu": 300, "axes": axes}
    datasets, truth = generate_phantom_ct(
        ellipsoids=[spec], shape=(20, 64, 64), spacing=(1.0, 1.0, 1.0)
    )
    inside = np.argwhere(truth["labels"] == 1)
    extent = inside.max(axis=0) - inside.min(axis=0)
    assert extent[1] > 2 * extent[2]  # long axis along rows (patient y)
    with pytest.raises(ValueError):
        generate_phantom_ct(
            ellipsoids=[{"center": (0, 0, 0), "semi_axes": (0, 1, 1), "hu": 1}], shape=(2, 4, 4)
        )


# --------------------------------------------------------------------------
# transfer syntaxes and files
# --------------------------------------------------------------------------


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRBigEndian, RLELossless])
def test_other_transfer_syntaxes_round_trip(syntax: str, tmp_path: Path) -> None:
    kwargs = {"n_slices": 1, "rows": 32, "columns": 32, "pixel_spacing": (11.2, 11.2)}
    reference = generate_ct_series(**kwargs)[0].pixel_array
    ds = generate_ct_series(transfer_syntax=syntax, **kwargs)[0]
    (path,) = write_series([ds], tmp_path)
    back = pydicom.dcmread(path)
    assert back.file_meta.TransferSyntaxUID == syntax
    np.testing.assert_array_equal(back.pixel_array, reference)


@pytest.mark.parametrize("kind", ["ct", "enhanced", "mr_multi_echo", "dx", "localizer"])
def test_written_files_are_part10_and_round_trip(kind: str, tmp_path: Path) -> None:
    datasets = SMALL[kind](0)
    paths = write_series(datasets, tmp_path)
    assert [p.name for p in paths] == [f"{ds.SOPInstanceUID}.dcm" for ds in datasets]
    for ds, path in zip(datasets, paths, strict=True):
        raw = path.read_bytes()
        assert raw[:128] == b"\0" * 128 and raw[128:132] == b"DICM"
        back = pydicom.dcmread(path)
        assert back.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
        assert back.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert back.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
        assert back.SeriesInstanceUID == ds.SeriesInstanceUID
        np.testing.assert_array_equal(back.pixel_array, ds.pixel_array)


def test_random_names_are_meaningless_and_shuffled(tmp_path: Path) -> None:
    datasets = generate_ct_series(n_slices=12, rows=16, columns=16)
    paths = write_series(datasets, tmp_path, naming="random")
    assert len({p.name for p in paths}) == 12
    pairs = zip(datasets, paths, strict=True)
    assert all(ds.SOPInstanceUID not in p.name and "." not in p.name for ds, p in pairs)
    order = [pydicom.dcmread(p, stop_before_pixels=True).InstanceNumber for p in sorted(paths)]
    assert order != sorted(order)
    assert [p.name for p in write_series(datasets, tmp_path / "again", naming="random")] == [
        p.name for p in paths
    ]
    with pytest.raises(ValueError):
        write_series(datasets, tmp_path, naming="bogus")


def test_benchmark_set_scaled_down(tmp_path: Path) -> None:
    paths = write_benchmark_set(
        tmp_path,
        n_ct_series=2,
        ct_slices=3,
        ct_size=32,
        n_mr_series=1,
        mr_slices=2,
        mr_echoes=2,
        mr_size=32,
        n_dx=2,
        dx_size=64,
    )
    assert len(paths) == 2 * 3 + 2 * 2 + 2
    modalities = [pydicom.dcmread(p, stop_before_pixels=True).Modality for p in paths]
    assert (
        modalities.count("CT") == 6 and modalities.count("MR") == 4 and modalities.count("DX") == 2
    )
    for path in paths:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert path.parent.relative_to(tmp_path).parts == (
            ds.PatientID,
            ds.StudyInstanceUID,
            ds.SeriesInstanceUID,
        )
    again = write_benchmark_set(
        tmp_path / "again",
        n_ct_series=2,
        ct_slices=3,
        ct_size=32,
        n_mr_series=1,
        mr_slices=2,
        mr_echoes=2,
        mr_size=32,
        n_dx=2,
        dx_size=64,
    )
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]


@pytest.fixture(scope="module")
def demo() -> list[list[pydicom.Dataset]]:
    return demo_studies(seed=0)


def test_demo_studies_content(demo: list[list[pydicom.Dataset]]) -> None:
    instances = [ds for series in demo for ds in series]
    assert len({ds.PatientID for ds in instances}) == 3
    assert len({ds.StudyInstanceUID for ds in instances}) >= 4
    sop_classes = {ds.SOPClassUID for ds in instances}
    assert sop_classes == {
        CTImageStorage,
        EnhancedCTImageStorage,
        MRImageStorage,
        DigitalXRayImageStorageForPresentation,
    }
    assert any(
        ds.get("ImageType", [""] * 3)[2] == "LOCALIZER"
        for ds in instances
        if ds.SOPClassUID == CTImageStorage
    )
    assert any(
        len({ds.EchoTime for ds in series}) > 1 for series in demo if series[0].Modality == "MR"
    )
    total = sum(len(ds.PixelData) for ds in instances)
    assert total < 60 * 2**20
    ct_series = [s for s in demo if s[0].SOPClassUID == CTImageStorage]
    assert any(len(s) >= 40 and s[0].Rows == 512 for s in ct_series)
    for series in demo:  # series numbers unique within each study
        same_study = [s for s in demo if s[0].StudyInstanceUID == series[0].StudyInstanceUID]
        assert len({s[0].SeriesNumber for s in same_study}) == len(same_study)


def test_write_demo_archive_input_layout(tmp_path: Path, demo: list[list[pydicom.Dataset]]) -> None:
    paths = write_demo_archive_input(tmp_path, seed=0)
    assert len(paths) == sum(len(s) for s in demo)
    first = demo[0][0]
    expected = (
        tmp_path
        / first.PatientID
        / first.StudyInstanceUID
        / first.SeriesInstanceUID
        / f"{first.SOPInstanceUID}.dcm"
    )
    assert expected in paths and expected.is_file()


# --------------------------------------------------------------------------
# dciodvfy
# --------------------------------------------------------------------------


@pytest.mark.skipif(
    shutil.which("dciodvfy") is None,
    reason="dciodvfy (Debian package dicom3tools) is not installed",
)
@pytest.mark.parametrize(
    "kind", ["ct", "oblique", "localizer", "enhanced", "mr_multi_echo", "dx", "phantom"]
)
def test_dciodvfy_reports_no_errors(kind: str, tmp_path: Path) -> None:
    datasets = SMALL[kind](0)
    chosen = datasets[:2] if kind == "localizer" else datasets[-1:]  # a scout and an axial slice
    for path in write_series(chosen, tmp_path):
        result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
        output = result.stdout + result.stderr
        errors = [line for line in output.splitlines() if line.startswith("Error")]
        assert not errors, output

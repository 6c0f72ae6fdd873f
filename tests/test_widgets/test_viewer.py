from __future__ import annotations

import math

import numpy as np
import pytest

from pacslab.widgets import SliceSource, Viewer, annotations, orientation_label, roi_mask, side_by_side


def _sent(viewer: Viewer) -> list:
    out = []
    viewer.send = lambda msg, buffers=None: out.append((msg, buffers))  # type: ignore[method-assign]
    return out


def test_viewer_state_and_slice_messages(small) -> None:
    archive, ct, _ = small
    viewer = archive.view(ct)
    volume = archive.load_volume(ct)
    assert viewer.geometry["n_slices"] == 12 and viewer.index == 6
    assert viewer.geometry["row_spacing"] == pytest.approx(0.8) and viewer.geometry["column_spacing"] == pytest.approx(
        0.6
    )
    assert [p["name"] for p in viewer.presets][-5:] == ["lung", "mediastinum", "bone", "brain", "auto"]
    assert viewer.geometry["orientation"] == {"right": "L", "left": "R", "bottom": "P", "top": "A"}
    sent = _sent(viewer)
    viewer._handle(viewer, {"type": "request", "plane": "axial", "index": 3, "rid": 1}, [])
    msg, buffers = sent[-1]
    assert msg["dtype"] == "int16" and msg["shape"] == [128, 128]
    np.testing.assert_array_equal(np.frombuffer(buffers[0], "<i2").reshape(128, 128), volume.values[3])
    # coronal: rows are z, flipped so that the head is up
    viewer.plane = "coronal"
    assert viewer.geometry["orientation"]["top"] == "S" and viewer.geometry["row_spacing"] == pytest.approx(2.5)
    viewer._handle(viewer, {"type": "request", "plane": "coronal", "index": 64}, [])
    image = np.frombuffer(sent[-1][1][0], "<i2").reshape(12, 128)
    np.testing.assert_array_equal(image, volume.values[::-1, 64, :])
    assert archive.audit_log()["action"].eq("view").any()


def test_labels_overlay_travels_with_the_slice(small) -> None:
    archive, ct, _ = small
    labels = np.zeros((12, 128, 128), dtype=np.uint8)
    labels[5, 10:20, 30:40] = 2
    viewer = Viewer(archive, ct, labels=labels)
    sent = _sent(viewer)
    viewer.send_slice("axial", 5)
    msg, buffers = sent[-1]
    assert msg["labels"] and np.frombuffer(buffers[1], "<u2").reshape(128, 128)[15, 35] == 2
    with pytest.raises(ValueError, match="do not match"):
        viewer.set_labels(np.zeros((3, 3, 3)))


def test_mr_has_auto_window_only(small) -> None:
    archive, _, mr = small
    viewer = archive.view(mr)
    assert viewer.presets[-1]["name"] == "auto" and "lung" not in [p["name"] for p in viewer.presets]


def test_annotations_measure_against_numpy(small) -> None:
    archive, ct, _ = small
    viewer = archive.view(ct)
    image = archive.load_volume(ct).values[6].astype(float)
    ruler = viewer.add_annotation("ruler", [[10, 20], [40, 60]])
    rect = viewer.add_annotation("rectangle", [[10, 20], [49, 59]])
    ell = viewer.add_annotation("ellipse", [[30, 30], [70, 50]])
    poly = viewer.add_annotation("polygon", [[10, 10], [60, 10], [10, 60]])
    angle = viewer.add_annotation("angle", [[10, 0], [0, 0], [0, 10]])
    point = viewer.add_annotation("point", [[5, 7]])
    frame = viewer.annotations.set_index("id")
    # ruler: 30 columns × 0.6 mm and 40 rows × 0.8 mm
    assert frame.loc[ruler, "length_mm"] == pytest.approx(math.hypot(30 * 0.6, 40 * 0.8))
    r = image[20:60, 10:50]
    assert frame.loc[rect, "area_mm2"] == pytest.approx(39 * 0.6 * 39 * 0.8)
    for key, fn in (("mean", np.mean), ("std", np.std), ("min", np.min), ("max", np.max)):
        assert frame.loc[rect, key] == pytest.approx(fn(r))
    rows, cols = np.mgrid[0:128, 0:128]
    mask = ((cols - 50) / 20) ** 2 + ((rows - 40) / 10) ** 2 <= 1
    assert frame.loc[ell, "mean"] == pytest.approx(image[mask].mean())
    assert frame.loc[ell, "area_mm2"] == pytest.approx(math.pi * 20 * 0.6 * 10 * 0.8)
    assert frame.loc[poly, "area_mm2"] == pytest.approx(50 * 0.6 * 50 * 0.8 / 2)
    assert frame.loc[angle, "angle_deg"] == pytest.approx(90.0)
    assert frame.loc[point, "value"] == image[7, 5]
    assert frame.loc[ruler, "SOPInstanceUID"] is not None
    # edit and delete, as the browser does
    viewer._handle(viewer, {"type": "move", "id": ruler, "points": [[10, 20], [10, 30]]}, [])
    assert annotations(archive, ct).set_index("id").loc[ruler, "length_mm"] == pytest.approx(8.0)
    viewer._handle(viewer, {"type": "delete", "id": rect}, [])
    assert rect not in set(annotations(archive, ct)["id"]) and len(viewer.annotation_list) == 5
    assert viewer.error == ""


def test_roi_mask_polygon_matches_rectangle() -> None:
    a = roi_mask("polygon", [[1.5, 1.5], [6.5, 1.5], [6.5, 5.5], [1.5, 5.5]], (10, 10))
    b = roi_mask("rectangle", [[2, 2], [6, 5]], (10, 10))
    assert a.sum() == 20 and (a == b).all()


def test_orientation_labels() -> None:
    assert orientation_label([1, 0, 0]) == "L" and orientation_label([0, -1, 0]) == "A"
    assert orientation_label([0.8, 0, 0.6]) == "LS"


def test_oblique_ruler_uses_the_affine(small) -> None:
    archive, ct, _ = small
    volume = archive.open_volume(ct)
    volume.attrs["affine"] = [[0, 0.6, 0, 1], [0.6, 0, 0, 2], [0, 0, 2.5, 3], [0, 0, 0, 1]]
    source = SliceSource(volume)
    mm = source.to_patient(source.to_voxel("axial", 2, [[0, 0], [10, 0]]))
    assert np.linalg.norm(mm[1] - mm[0]) == pytest.approx(6.0)


def test_linked_side_by_side(small) -> None:
    archive, ct, _ = small
    box = side_by_side(archive, ct, ct)
    a, b = box.viewers
    a.index = 3
    assert b.index == 3

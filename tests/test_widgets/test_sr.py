from __future__ import annotations

import shutil
import subprocess

import pytest

from pacslab.widgets import annotations, read_sr, write_sr

pytest.importorskip("highdicom")


def _annotate(archive, ct):
    viewer = archive.view(ct)
    viewer.add_annotation("ruler", [[10, 20], [40, 60]], label="lesion A")
    viewer.add_annotation("rectangle", [[10, 20], [49, 59]])
    viewer.add_annotation("ellipse", [[30, 30], [70, 50]])
    viewer.add_annotation("polygon", [[10, 10], [60, 10], [10, 60]])
    viewer.add_annotation("freehand", [[10, 10], [30, 12], [35, 30], [12, 28]])
    viewer.add_annotation("angle", [[10, 0], [0, 0], [0, 10]])
    viewer.add_annotation("point", [[5, 7]])
    viewer.plane = "coronal"
    viewer.add_annotation("ruler", [[10, 2], [10, 9]])
    return viewer


def test_sr_round_trip(small, tmp_path) -> None:
    archive, ct, _ = small
    viewer = _annotate(archive, ct)
    before = annotations(archive, ct)
    sr = viewer.export_sr()
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert not archive.instances(SOPInstanceUID=sr.SOPInstanceUID).empty  # stored through ingest
    # load into a fresh table: delete, then read back
    for i in before["id"]:
        viewer.delete_annotation(int(i))
    ids = read_sr(archive, archive.dataset(sr.SOPInstanceUID))
    after = annotations(archive, ct)
    assert len(ids) == len(before)
    cols = ["kind", "plane", "slice_index", "label"]
    assert after[cols].values.tolist() == before[cols].values.tolist()
    for key in ("length_mm", "angle_deg", "area_mm2", "mean"):
        assert after[key].fillna(-1).round(3).tolist() == pytest.approx(
            before[key].fillna(-1).round(3).tolist(), abs=2e-3
        )


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy is not installed (Debian package dicom3tools)")
def test_sr_passes_dciodvfy(small, tmp_path) -> None:
    archive, ct, _ = small
    _annotate(archive, ct)
    sr = write_sr(archive, ct, store=False)
    path = tmp_path / "sr.dcm"
    sr.save_as(path, enforce_file_format=True)
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]
    assert not errors, "\n".join(errors)

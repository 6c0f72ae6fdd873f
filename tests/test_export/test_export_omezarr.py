"""OME-Zarr export: a readable copy of each volume with its NGFF metadata, plain or de-identified."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zarr
from export_helpers import Filled, export_rows

from pacslab.export import ExportError


def test_copy_is_readable_with_zarr_and_identical(filled: Filled, tmp_path: Path) -> None:
    series = str(filled.mr[0].SeriesInstanceUID)
    report = filled.archive.export(series, tmp_path, format="ome-zarr")
    assert report.ok and len(report) == 1
    path = Path(report.written[0])
    assert path.relative_to(tmp_path).parts == (str(filled.mr[0].StudyInstanceUID), f"{series}.ome.zarr")
    group = zarr.open_group(str(path), mode="r")
    multiscale = group.attrs["ome"]["multiscales"][0]
    assert group.attrs["ome"]["version"] == "0.5" and multiscale["datasets"][0]["path"] == "0"
    assert [a["name"] for a in multiscale["axes"]] == ["echo_time", "z", "y", "x"]
    stored = filled.archive.load_volume(series, rescale=False)
    np.testing.assert_array_equal(group["0"][...], stored.values)
    source = Path(filled.archive.root) / filled.archive.volumes(series)["path"].iloc[0]
    assert (path / "zarr.json").read_bytes() == (source / "zarr.json").read_bytes()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary copy left


def test_export_again_replaces_the_earlier_copy(filled: Filled, tmp_path: Path) -> None:
    series = str(filled.ct[0].SeriesInstanceUID)
    first = filled.archive.export(series, tmp_path, format="ome-zarr").written[0]
    (Path(first) / "stray").write_text("left from before")
    again = filled.archive.export(series, tmp_path, format="ome-zarr").written[0]
    assert again == first and not (Path(again) / "stray").exists()
    assert export_rows(filled.archive, tmp_path)["service"].tolist() == ["ome-zarr", "ome-zarr"]


def test_deidentified_copy_keeps_geometry_and_drops_identifiers(filled: Filled, tmp_path: Path) -> None:
    series = str(filled.ct[0].SeriesInstanceUID)
    report = filled.archive.export(series, tmp_path, format="ome-zarr", deidentify="zarr-trial")
    path = Path(report.written[0])
    identifiers = filled.identifiers(filled.ct)
    assert not any(text in str(path.relative_to(tmp_path)) for text in identifiers)
    metadata = "".join(p.read_text() for p in path.rglob("zarr.json"))
    assert not any(text in metadata for text in identifiers)
    assert str(filled.ct[0].SeriesDescription) not in metadata  # removed by the Basic Profile
    group = zarr.open_group(str(path), mode="r")
    attrs = dict(group.attrs["pacslab"])
    plain = zarr.open_group(str(Path(filled.archive.root) / filled.archive.volumes(series)["path"].iloc[0]), mode="r")
    assert attrs["geometry"] == plain.attrs["pacslab"]["geometry"] and attrs["Modality"] == "CT"
    assert attrs["SeriesInstanceUID"] == path.name.removesuffix(".ome.zarr") and attrs["PatientID"].startswith("PSN")
    assert all(ref.startswith("2.25.") for column in attrs["frames"] for ref in column)
    np.testing.assert_array_equal(group["0"][...], plain["0"][...])
    detail = json.loads(export_rows(filled.archive, tmp_path)["detail"].iloc[0])
    assert detail["deidentified"] is True and detail["project"] == "zarr-trial"


def test_a_link_in_place_of_the_copy_is_refused(filled: Filled, tmp_path: Path) -> None:
    series = str(filled.ct[0].SeriesInstanceUID)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / str(filled.ct[0].StudyInstanceUID)).mkdir(parents=True)
    (tmp_path / "out" / str(filled.ct[0].StudyInstanceUID) / f"{series}.ome.zarr").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ExportError, match="link"):
        filled.archive.export(series, tmp_path / "out", format="ome-zarr")
    assert (tmp_path / "elsewhere").is_dir() and not list((tmp_path / "elsewhere").iterdir())

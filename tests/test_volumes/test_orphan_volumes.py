"""A volume generation a killed build left behind is reported by verify and removed by --repair, and only it."""

from __future__ import annotations

import json

from pacslab import examples
from pacslab.cli.main import main
from pacslab.storage import join


def _ingest_series(archive, tmp_path):
    datasets = examples.generate_ct_series(seed=61, n_slices=8, rows=32, columns=32)
    paths = examples.write_series(datasets, tmp_path / "in")
    archive.ingest(tmp_path / "in", progress=False)
    return str(datasets[0].SeriesInstanceUID), {p.name.removesuffix(".dcm"): p.read_bytes() for p in paths}


def _leave_generation(archive, path: str) -> None:
    """What a build killed half-way leaves: a generation folder with some chunks and no commit."""
    for name in ("0/0/zarr.json", "0/0/c.0.0.0"):
        archive.fs.pipe_file(join(archive.root, path, name), b"left by a killed build")


def test_a_killed_builds_generation_is_reported_and_removed_alone(archive, tmp_path):
    series, files = _ingest_series(archive, tmp_path)
    live = archive.catalog.volumes(series)[0]["path"].rsplit("/", 1)[0]
    killed, unknown = f"volumes/{series}/0123456789ab", "volumes/1.2.826.0.1.3680043.99.1/0123456789ab"
    _leave_generation(archive, killed)
    _leave_generation(archive, unknown)  # of a series whose first commit never happened

    report = archive.verify()
    assert report.ok and report.orphans == []  # leftovers are harmless: the catalog points at none of it
    assert report.orphan_volumes == sorted([killed, unknown])
    assert live not in report.orphan_volumes

    assert archive.remove_orphan_volumes() == []  # just written: it could be a build under way
    assert archive.verify().orphan_volumes == sorted([killed, unknown])
    assert archive.remove_orphan_volumes(older_than=0) == sorted([killed, unknown])

    report = archive.verify()
    assert report.ok and report.orphan_volumes == []
    assert not archive.fs.exists(join(archive.root, "volumes/1.2.826.0.1.3680043.99.1"))  # its emptied series folder
    assert archive.open_volume(series).shape == (8, 32, 32)
    for sop, data in files.items():
        assert archive.read_instance(sop, verify=True) == data


def test_verify_repair_removes_them_from_the_command_line(tmp_path, capsys):
    import pacslab

    root = tmp_path / "archive"
    with pacslab.open_archive(root, create=True) as archive:
        series, _ = _ingest_series(archive, tmp_path)
        _leave_generation(archive, f"volumes/{series}/0123456789ab")

    assert main(["verify", str(root), "--quick"]) == 0
    assert "1 volume generations are not in the catalog" in capsys.readouterr().out
    assert main(["verify", str(root), "--repair", "--json"]) == 0  # an hour by default: kept
    assert json.loads(capsys.readouterr().out)["orphan_volumes"] == [f"volumes/{series}/0123456789ab"]
    assert main(["verify", str(root), "--repair", "--orphan-age", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["removed_volumes"] == [f"volumes/{series}/0123456789ab"] and out["orphan_volumes"] == []
    assert out["ok"] and out["checked"]["volumes"] == 1

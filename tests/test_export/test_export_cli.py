"""``pacslab export``: formats, de-identification, sending with --to, exit statuses and messages."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import nibabel as nib
import pytest
from export_helpers import Filled, export_rows, read

from pacslab.cli.main import main
from pacslab.dicomweb import DicomwebServer, create_token
from pacslab.testing.peers import StoreSCP, wait_for


def test_zip_and_nifti(filled: Filled, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, series = str(filled.archive.root), str(filled.ct[0].SeriesInstanceUID)
    assert main(["export", root, series, str(filled.mr[0].SeriesInstanceUID), "-o", str(tmp_path / "two.zip")]) == 0
    assert f"wrote {len(filled.ct) + len(filled.mr)} zip members" in capsys.readouterr().out
    with zipfile.ZipFile(tmp_path / "two.zip") as zf:
        assert len(zf.namelist()) == len(filled.ct) + len(filled.mr)
    assert main(["export", root, series, "-o", str(tmp_path / "nii"), "--format", "nifti", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and nib.load(report["written"][0]).shape == (20, 24, 4)
    assert export_rows(filled.archive, tmp_path / "nii")["service"].tolist() == ["nifti"]


def test_deidentified_with_project_and_option(filled: Filled, tmp_path: Path) -> None:
    root, series = str(filled.archive.root), str(filled.ct[0].SeriesInstanceUID)
    out = tmp_path / "deid"
    args = ["export", root, series, "-o", str(out), "--deidentify", "--project", "cli-trial",
            "--option", "retain-longitudinal-full-dates"]  # fmt: skip
    assert main(args) == 0
    files = list(out.rglob("*.dcm"))
    assert len(files) == len(filled.ct)
    ds = read(files[0].read_bytes())
    assert ds.PatientID != filled.ct[0].PatientID and ds.StudyDate == filled.ct[0].StudyDate
    assert json.loads(export_rows(filled.archive, out)["detail"].iloc[0])["project"] == "cli-trial"


def test_held_back_exits_1(filled: Filled, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sc = filled.archive.series(Modality="OT")["SeriesInstanceUID"].iloc[0]
    assert main(["export", str(filled.archive.root), sc, "-o", str(tmp_path / "x"), "--deidentify"]) == 1
    out = capsys.readouterr().out
    assert "held back 1" in out and "BurnedInAnnotation" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--project", "p"], "go with --deidentify"),
        (["--token", "t"], "go with --to"),
    ],
)
def test_misused_flags_say_what_to_do(filled: Filled, tmp_path: Path, extra: list[str], message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        main(["export", str(filled.archive.root), str(filled.ct[0].SeriesInstanceUID), "-o", str(tmp_path), *extra])


def test_errors_exit_2_with_the_reason(filled: Filled, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(filled.archive.root), "1.2.3.4.5", "-o", str(tmp_path / "y")]) == 2
    assert "'1.2.3.4.5'" in capsys.readouterr().err
    inside = str(Path(filled.archive.root) / "exports")
    assert main(["export", str(filled.archive.root), str(filled.ct[0].SeriesInstanceUID), "-o", inside]) == 2
    assert "inside" in capsys.readouterr().err


@pytest.mark.peers
def test_to_storescp_and_to_dicomweb(filled: Filled, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("storescp") is None:
        pytest.skip("dcmtk's storescp is not installed (apt-get install dcmtk)")
    root, series = str(filled.archive.root), str(filled.oblique[0].SeriesInstanceUID)
    scp = StoreSCP(aet="CLISCP")
    try:
        assert main(["export", root, series, "--to", f"CLISCP@127.0.0.1:{scp.port}"]) == 0
        wait_for(lambda: len([p for p in scp.dir.iterdir() if p.is_file()]) == len(filled.oblique))
    finally:
        scp.stop()
    import pacslab

    target = pacslab.open_archive(tmp_path / "target", create=True)
    server = DicomwebServer(target, port=0, stable_delay=None).start()
    try:
        monkeypatch.setenv("PACSLAB_DICOMWEB_TOKEN", create_token(target, role="write"))
        assert main(["export", root, series, "--to", server.url, "--deidentify"]) == 0
        assert len(target.instances()) == len(filled.oblique)
        assert not set(target.instances()["SOPInstanceUID"]) & {str(d.SOPInstanceUID) for d in filled.oblique}
    finally:
        server.stop()
        target.close()

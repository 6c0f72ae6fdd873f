"""Encryption at rest of originals: byte-identical with the key, unreadable without it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
import requests
import yaml
from pydicom.data import get_testdata_file

import pacslab
from pacslab.cli.main import main
from pacslab.errors import DecryptionError, EncryptionKeyError, StorageError
from pacslab.examples import generate_ct_series, write_series
from pacslab.storage import EncryptionKey, read_key_file, write_key_file
from pacslab.storage._crypto import ENVELOPE_MAGIC, open_envelope, seal_envelope

pytest.importorskip("cryptography")

#: Local pydicom test files: uncompressed CT and MR, JPEG 2000, RLE colour multi-frame, RT dose and plan.
PYDICOM_FILES = ("CT_small.dcm", "MR_small.dcm", "SC_rgb_rle_2frame.dcm", "JPEG2000.dcm", "rtdose.dcm", "rtplan.dcm")


def _key_config(path: str | os.PathLike[str]) -> Any:
    return pacslab.config.set({"storage.encryption-key-file": os.fspath(path)})


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """pydicom's files and a generated 30-slice CT series (enough files for ingest's worker processes)."""
    d = tmp_path_factory.mktemp("encryption-inputs")
    series = write_series(generate_ct_series(seed=5, n_slices=30, rows=64, columns=64), d / "ct")
    return [Path(get_testdata_file(name)) for name in PYDICOM_FILES] + [Path(p) for p in series]


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory, inputs: list[Path]) -> dict[str, Any]:
    """An encrypted archive holding *inputs*; its key is configured, not named in its pacslab.yaml."""
    d = tmp_path_factory.mktemp("encrypted")
    key_file = d / "keys" / "archive.key"
    key = write_key_file(key_file)
    root = d / "archive"
    # a live thread makes ingest start forkserver workers, which must get the key from this process' config
    done = threading.Event()
    threading.Thread(target=done.wait, daemon=True).start()
    with _key_config(key_file), pacslab.open_archive(root, create=True) as archive:
        assert archive.originals.enable_encryption() == key.key_id
        try:
            report = archive.ingest(inputs, progress=False)
        finally:
            done.set()
        assert report.new == len(inputs) and not report.rejected, report
    return {"root": root, "key_file": key_file, "key": key}


@pytest.fixture
def keyed(sealed: dict[str, Any]) -> Iterator[pacslab.Archive]:
    """The encrypted archive, opened with its key configured."""
    with _key_config(sealed["key_file"]), pacslab.open_archive(sealed["root"]) as archive:
        yield archive


def _sop(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def test_round_trip_is_byte_identical(keyed: pacslab.Archive, inputs: list[Path], tmp_path: Path) -> None:
    for path in inputs:
        assert keyed.read_instance(_sop(path), verify=True) == path.read_bytes(), path.name
    codecs = {row["stored_codec"] for row in keyed.catalog.instance_keys()}
    assert "pxr" not in codecs and codecs & {"zst", "bsz"}  # compressed, and whole: pixels never only in volumes
    study = str(pydicom.dcmread(inputs[-1], stop_before_pixels=True).StudyInstanceUID)
    exported = keyed.export(study, tmp_path / "out")
    assert len(exported) == 30
    assert sorted(Path(p).read_bytes() for p in exported) == sorted(p.read_bytes() for p in inputs[-30:])
    assert keyed.open_volume(keyed.series(StudyInstanceUID=study).iloc[0]["SeriesInstanceUID"]).shape == (30, 64, 64)


def test_verify_with_the_key(keyed: pacslab.Archive, inputs: list[Path]) -> None:
    report = keyed.verify()
    assert report.ok, report.problems
    assert report.checked["instances"] == len(inputs) and not report.orphans


@pytest.mark.parametrize("encrypted", [True, False])
def test_no_plaintext_under_originals(tmp_path: Path, encrypted: bool) -> None:
    # Given files stored uncompressed (min-saving 1.0), so only encryption can hide their bytes
    # (unencrypted, volumes are not built: pixel data would move out of the originals)
    series = write_series(generate_ct_series(seed=9, n_slices=3, rows=32, columns=32), tmp_path / "in")
    files = [Path(get_testdata_file("CT_small.dcm")), *map(Path, series)]
    needles = set()
    for path in files:
        ds = pydicom.dcmread(path)
        needles.add(str(ds.PatientName).encode())
        pixels = ds.PixelData
        needles.add(pixels[len(pixels) // 2 : len(pixels) // 2 + 48])
    key_file = tmp_path / "k.key"
    write_key_file(key_file)
    with _key_config(key_file), pacslab.config.set({"storage.min-saving": 1.0}):
        with pacslab.open_archive(tmp_path / "archive", create=True) as archive:
            if encrypted:
                archive.originals.enable_encryption(key_file=str(key_file))
            assert archive.ingest(files, progress=False, build_volumes=encrypted).new == len(files)
            assert archive.verify().ok
    # When every file under originals/ is searched
    blobs = [p.read_bytes() for p in (tmp_path / "archive" / "originals").rglob("*") if p.is_file()]
    assert len(blobs) == len(files)
    found = {needle for needle in needles if any(needle in blob for blob in blobs)}
    # Then none of the names and pixel runs is there, and every blob is an envelope (unencrypted: all are)
    assert found == (set() if encrypted else needles)
    assert all(blob.startswith(ENVELOPE_MAGIC) for blob in blobs) is encrypted


def test_without_the_key_a_clear_error(sealed: dict[str, Any], inputs: list[Path]) -> None:
    before = sorted((sealed["root"] / "originals").rglob("*"))
    with pacslab.open_archive(sealed["root"]) as archive:
        assert len(archive.instances()) == len(inputs)  # the catalog answers without the key
        sop = _sop(inputs[0])
        with pytest.raises(EncryptionKeyError, match="PACSLAB_STORAGE__ENCRYPTION_KEY_FILE") as missing:
            archive.read_instance(sop)
        assert "storage.encryption-key-file" in str(missing.value) and sealed["key"].key_id in str(missing.value)
        with pytest.raises(EncryptionKeyError):
            archive.verify()
        new = write_series(generate_ct_series(seed=77, n_slices=1, rows=16, columns=16), sealed["root"].parent / "x")
        with pytest.raises(EncryptionKeyError):  # nothing is stored in clear, nothing quarantined
            archive.ingest_bytes(Path(new[0]).read_bytes())
    assert sorted((sealed["root"] / "originals").rglob("*")) == before
    assert not (sealed["root"] / "quarantine").exists()


def test_with_a_wrong_key_an_error_and_nothing_returned(
    sealed: dict[str, Any], inputs: list[Path], tmp_path: Path
) -> None:
    other = write_key_file(tmp_path / "other.key")
    with pacslab.config.set({"storage.encryption-key": other.to_text()}), pacslab.open_archive(sealed["root"]) as a:
        with pytest.raises(EncryptionKeyError, match="is not the key of the archive"):
            a.read_instance(_sop(inputs[0]))
    # below the archive's key check, AES-GCM itself refuses: another key, an altered byte, another name
    blob = seal_envelope(sealed["key"], b"DICM secret", name="originals/aa/bb/x.raw")
    assert open_envelope(sealed["key"], blob, name="originals/aa/bb/x.raw") == b"DICM secret"
    forged = blob[:9] + bytes.fromhex(other.key_id) + blob[17:]  # claims the other key's id
    with pytest.raises(DecryptionError, match="fails authentication"):
        open_envelope(other, forged, name="originals/aa/bb/x.raw")
    with pytest.raises(DecryptionError, match="fails authentication"):
        open_envelope(sealed["key"], blob[:-1] + bytes([blob[-1] ^ 1]), name="originals/aa/bb/x.raw")
    with pytest.raises(DecryptionError, match="fails authentication"):
        open_envelope(sealed["key"], blob, name="originals/aa/bb/y.raw")
    with pytest.raises(DecryptionError, match="sealed under key"):
        open_envelope(other, blob, name="originals/aa/bb/x.raw")
    with pytest.raises(DecryptionError, match="truncated"):
        open_envelope(sealed["key"], blob[:20], name="originals/aa/bb/x.raw")


def test_a_damaged_blob_is_reported_by_verify(tmp_path: Path) -> None:
    key_file = tmp_path / "k.key"
    write_key_file(key_file)
    with _key_config(key_file), pacslab.open_archive(tmp_path / "a", create=True) as archive:
        archive.originals.enable_encryption()
        archive.ingest(get_testdata_file("CT_small.dcm"), progress=False)
        (row,) = archive.catalog.instance_keys()
        path = Path(archive.originals.path(row["stored_key"]))
        blob = bytearray(path.read_bytes())
        blob[len(blob) // 2] ^= 0xFF
        path.write_bytes(bytes(blob))
        with pytest.raises(DecryptionError):
            archive.read_instance(row["SOPInstanceUID"])
        report = archive.verify()
        assert not report.ok and "fails authentication" in report.problems[0]


def test_dimse_get_and_wado_decrypt(keyed: pacslab.Archive, inputs: list[Path]) -> None:
    from dicomweb_client.api import DICOMwebClient

    from pacslab.dicomweb import DicomwebServer
    from pacslab.dimse import DicomServer, get
    from pacslab.dimse.scu import read_part10_dataset

    path = inputs[0]
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    with DicomServer(keyed, port=0, stable_delay=None) as server:
        got = get(server.remote, sop_instance_uid=ds.SOPInstanceUID, study_instance_uid=ds.StudyInstanceUID,
                  series_instance_uid=ds.SeriesInstanceUID, level="IMAGE")  # fmt: skip
    assert got.ok, got.failures
    assert read_part10_dataset(got.received[ds.SOPInstanceUID]) == read_part10_dataset(path.read_bytes())
    with DicomwebServer(keyed, port=0, stable_delay=None, allow_anonymous=True) as web:
        url = f"{web.url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
        response = requests.get(url, headers={"Accept": 'multipart/related; type="application/dicom"'}, timeout=30)
    assert response.status_code == 200, response.text
    (part,) = DICOMwebClient(web.url)._decode_multipart_message(response, stream=False)
    assert part == path.read_bytes()


def test_stow_workers_seal_with_the_configured_key(sealed: dict[str, Any], tmp_path: Path) -> None:
    """STOW-RS parts are stored by worker processes, which get the key from the server's config."""
    from pacslab.dicomweb import DicomwebServer, create_token

    paths = write_series(generate_ct_series(seed=6, n_slices=8, rows=32, columns=32), tmp_path / "stow")
    body = b"".join(b"--b0\r\nContent-Type: application/dicom\r\n\r\n" + p.read_bytes() + b"\r\n" for p in paths)
    with _key_config(sealed["key_file"]), pacslab.open_archive(sealed["root"]) as archive:
        token = create_token(archive, role="write")
        with DicomwebServer(archive, port=0, stable_delay=None) as web:
            r = requests.post(f"{web.url}/studies", data=body + b"--b0--\r\n", timeout=60, headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": 'multipart/related; type="application/dicom"; boundary=b0'})  # fmt: skip
            assert r.status_code == 200, r.text
            assert web.service.ingest_executor is not None
        for p in paths:
            row = archive.catalog.instance_keys(sop_instance_uid=_sop(p))[0]
            assert archive.originals.fs.cat_file(archive.originals.path(row["stored_key"])).startswith(ENVELOPE_MAGIC)
            assert archive.read_instance(_sop(p)) == p.read_bytes()


def test_enable_encryption_only_on_an_empty_archive(tmp_path: Path) -> None:
    key_file = tmp_path / "k.key"
    write_key_file(key_file)
    with pacslab.open_archive(tmp_path / "a", create=True) as archive:
        archive.ingest(get_testdata_file("CT_small.dcm"), progress=False)
        with pytest.raises(StorageError, match="already holds originals"):
            archive.originals.enable_encryption(key_file=str(key_file))
        with pytest.raises(EncryptionKeyError, match="inside the archive"):
            pacslab.storage._crypto.key_to_encrypt(str(tmp_path / "a" / "k.key"), archive=str(tmp_path / "a"))
    assert "storage" not in yaml.safe_load((tmp_path / "a" / "pacslab.yaml").read_text())


def test_key_files(tmp_path: Path) -> None:
    key = write_key_file(tmp_path / "k.key")
    assert (tmp_path / "k.key").stat().st_mode & 0o777 == 0o600
    assert read_key_file(tmp_path / "k.key") == key and key.secret not in repr(key).encode()
    assert key.key_id not in key.to_text() and len(key.key_id) == 16
    with pytest.raises(EncryptionKeyError, match="never overwritten"):
        write_key_file(tmp_path / "k.key")
    (tmp_path / "bad.key").write_text("not a key\n")
    with pytest.raises(EncryptionKeyError, match="bad.key"):
        read_key_file(tmp_path / "bad.key")
    with pytest.raises(EncryptionKeyError, match="cannot be read"):
        read_key_file(tmp_path / "missing.key")
    assert EncryptionKey.from_text(key.to_text(), source="test") == key


def test_cli_key_init_encrypt_and_env_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key_file, root = tmp_path / "keys" / "pacs.key", tmp_path / "archive"
    assert main(["key", "create", str(key_file)]) == 0
    key_id = capsys.readouterr().out.split()[-1]
    assert main(["init", str(tmp_path / "bad"), "--encrypt", "--key-file", str(tmp_path / "bad" / "k.key")]) == 2
    assert not (tmp_path / "bad").exists()  # refused before anything was created
    assert main(["init", str(root), "--encrypt", "--key-file", str(key_file)]) == 0
    settings = yaml.safe_load((root / "pacslab.yaml").read_text())["storage"]
    assert settings == {"encryption-key-id": key_id, "encryption-key-file": str(key_file)}
    assert main(["ingest", str(root), get_testdata_file("CT_small.dcm"), "--no-progress"]) == 0
    # the archive names its key file; moved away, the key comes from the environment (base64) in a new process
    (root / "pacslab.yaml").write_text(yaml.safe_dump({**yaml.safe_load((root / "pacslab.yaml").read_text()),
                                                       "storage": {"encryption-key-id": key_id}}))  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACSLAB_STORAGE__")}
    cmd = [sys.executable, "-m", "pacslab", "verify", str(root)]
    without = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert without.returncode == 2 and "PACSLAB_STORAGE__ENCRYPTION_KEY" in without.stderr
    env["PACSLAB_STORAGE__ENCRYPTION_KEY"] = key_file.read_text().strip()
    with_key = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert with_key.returncode == 0, with_key.stderr


def test_encrypted_archive_on_an_fsspec_filesystem(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    import fsspec

    key = write_key_file(tmp_path / "k.key")
    url = f"memory://pacslab-encrypted-{os.getpid()}-{request.node.name}"
    data = Path(get_testdata_file("MR_small.dcm")).read_bytes()
    try:
        with pacslab.open_archive(url, create=True) as archive:
            assert archive.originals.enable_encryption(key_file=str(tmp_path / "k.key")) == key.key_id
            assert archive.ingest_bytes(data) == "new"
            (row,) = archive.catalog.instance_keys()
            assert archive.fs.cat_file(archive.originals.path(row["stored_key"])).startswith(ENVELOPE_MAGIC)
            assert archive.read_instance(row["SOPInstanceUID"], verify=True) == data
    finally:
        fsspec.filesystem("memory").rm(url.removeprefix("memory://"), recursive=True)

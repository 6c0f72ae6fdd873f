"""The archive on an S3-compatible object store (moto's server on 127.0.0.1, see conftest)."""

from __future__ import annotations

import os
import uuid

import numpy as np
import pytest
import zarr

import pacslab
from pacslab import examples
from pacslab.config import config
from pacslab.errors import ArchiveNotFoundError
from pacslab.storage import Codec, OriginalStore, open_filesystem, write_atomic
from pacslab.storage._originals import sha256_hex
from pacslab.volumes.store import zarr_store


@pytest.fixture
def s3_root(s3_endpoint):
    return f"s3://pacslab-test/{uuid.uuid4().hex}"


def test_originals_on_s3_dedupe_list_and_delete(s3_root):
    fs, root = open_filesystem(s3_root)
    store = OriginalStore(fs, root)
    data = bytes(range(256)) * 64
    sha = sha256_hex(data)
    key, codec, size = store.put(data, sha)
    assert codec is Codec.ZSTD and fs.exists(store.path(key))
    assert store.put(data, sha) == (key, codec, size)  # found by one listing, not written again
    assert store.put(data, sha, defer=True)[0] == key
    assert store.read(key, sha256=sha) == data
    assert store.iter_keys() == [key]
    store.delete(key)
    assert store.iter_keys() == []


def test_write_atomic_and_zarr_store_on_s3(s3_root):
    fs, root = open_filesystem(s3_root)
    write_atomic(fs, f"{root}/a/b.bin", b"whole")
    assert fs.cat_file(f"{root}/a/b.bin") == b"whole"
    store = zarr_store(fs, f"{root}/vol")
    assert isinstance(store, zarr.storage.FsspecStore)
    arr = zarr.create_array(store, shape=(4, 8), chunks=(2, 8), dtype="int16")
    arr[:] = np.arange(32, dtype=np.int16).reshape(4, 8)
    again = zarr.open_array(zarr_store(fs, f"{root}/vol", read_only=True), mode="r")
    np.testing.assert_array_equal(again[:], np.arange(32).reshape(4, 8))


def test_cli_init_with_catalog_then_ingest_verify_delete(s3_root, tmp_path, capsys):
    from pacslab.cli.main import main

    catalog = tmp_path / "catalog.sqlite"
    with pytest.raises(ArchiveNotFoundError, match="catalog"):
        pacslab.open_archive(s3_root, create=True)
    assert main(["init", s3_root, "--catalog", str(catalog)]) == 0
    assert "created an empty archive at s3://" in capsys.readouterr().out
    assert catalog.exists()
    datasets = examples.generate_ct_series(seed=3, n_slices=4, rows=32, columns=32)
    folder = tmp_path / "in"
    examples.write_series(datasets, folder)
    with pacslab.open_archive(s3_root) as archive:
        assert archive.url == s3_root
        report = archive.ingest(folder, progress=False)
        assert report.ok and report.new == 4
        uid = datasets[0].SeriesInstanceUID
        volume = archive.load_volume(uid)
        assert volume.shape == (4, 32, 32)
        for ds in datasets:
            ds_back = archive.dataset(ds.SOPInstanceUID)
            np.testing.assert_array_equal(ds_back.pixel_array, ds.pixel_array)
        assert archive.verify().ok
        assert archive.delete(series_instance_uid=uid) == 4
        assert archive.verify().ok
        assert not [k for k in archive.originals.iter_keys()]
    assert main(["verify", s3_root]) == 0


def test_storage_options_from_config(s3_endpoint, monkeypatch):
    import s3fs

    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    s3fs.S3FileSystem.clear_instance_cache()
    options = {"s3": {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"}}
    with config.set({"storage.options": options}):
        fs, root = open_filesystem(f"s3://pacslab-test/{uuid.uuid4().hex}")
        assert fs.storage_options["endpoint_url"] == s3_endpoint
        write_atomic(fs, f"{root}/x", b"1")
        assert fs.cat_file(f"{root}/x") == b"1"
    s3fs.S3FileSystem.clear_instance_cache()
    assert "AWS_ENDPOINT_URL" not in os.environ

from __future__ import annotations

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from pacslab.errors import StorageError
from pacslab.storage import Codec, OriginalStore, decode_blob, encode_blob, open_filesystem
from pacslab.storage._originals import sha256_hex


@pytest.mark.parametrize("itemsize", [1, 2, 4])
def test_encode_decode_round_trip(itemsize):
    rng = np.random.default_rng(0)
    data = (rng.normal(0, 30, 40000).astype(np.int16) + 1000).tobytes() + b"hdr!"
    codec, payload = encode_blob(data, itemsize=itemsize)
    assert decode_blob(codec, payload) == data


def test_incompressible_data_stays_raw():
    data = np.random.default_rng(1).bytes(10000)
    codec, payload = encode_blob(data)
    assert codec is Codec.RAW and payload == data


def test_shuffled_zstd_beats_plain_zstd_on_16_bit_pixels():
    rng = np.random.default_rng(2)
    pixels = (rng.normal(40, 12, 512 * 512)).astype(np.int16).tobytes()
    _, shuffled = encode_blob(pixels, itemsize=2)
    _, plain = encode_blob(pixels, itemsize=1)
    assert len(shuffled) < len(plain)


@pytest.mark.parametrize("root", ["local", "memory://pacslab-test-originals"])
def test_store_put_read_and_tamper_detection(tmp_path, root):
    fs, path = open_filesystem(tmp_path if root == "local" else root)
    store = OriginalStore(fs, path)
    data = open(get_testdata_file("CT_small.dcm"), "rb").read()
    sha = sha256_hex(data)
    key, codec, size = store.put(data, sha, itemsize=2)
    assert store.read(key, sha256=sha) == data
    assert store.put(data, sha, itemsize=2)[0] == key  # idempotent
    assert key in store.iter_keys()
    fs.pipe_file(store.path(key), encode_blob(data[:-2] + b"xx", itemsize=2)[1] if codec is not Codec.RAW else data[:-2] + b"xx")
    with pytest.raises(StorageError, match="does not match"):
        store.read(key, sha256=sha)
    store.delete(key)
    with pytest.raises(StorageError, match="missing"):
        store.read(key)

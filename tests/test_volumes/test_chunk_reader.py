"""Direct Zarr chunk reads give what zarr gives, for every selection; direct writes store the bytes zarr stores;
other arrays are left to zarr."""

from __future__ import annotations

import json

import fsspec
import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec

from pacslab.volumes._chunks import ChunkArray, open_chunks
from pacslab.volumes.store import lazy_array


def _array(tmp_path, dtype="int16", *, shape=(19, 37, 41), chunks=(8, 16, 16), compressors="lz4", **kw):
    rng = np.random.default_rng(7)
    data = rng.integers(-1000, 3000, size=shape).astype(dtype)
    data[8:16] = 0  # whole chunks of the fill value: zarr does not write them
    codec = BloscCodec(cname=compressors, clevel=1, shuffle="shuffle") if compressors else None
    path = tmp_path / "a"
    z = zarr.create_array(
        zarr.storage.LocalStore(path),
        shape=shape,
        chunks=chunks,
        dtype=dtype,
        compressors=codec,
        fill_value=0,
        zarr_format=3,
        **kw,
    )
    z[...] = data
    return fsspec.filesystem("file"), str(path), data


@pytest.mark.parametrize("compressors", ["lz4", "zstd", None])
@pytest.mark.parametrize("separator", ["/", "."])
def test_reads_equal_zarr(tmp_path, compressors, separator):
    encoding = {"name": "default", "separator": separator}
    fs, path, data = _array(tmp_path, compressors=compressors, chunk_key_encoding=encoding)
    reader = open_chunks(fs, path)
    assert isinstance(reader, ChunkArray)
    assert reader.shape == data.shape and reader.chunks == (8, 16, 16)
    assert (tmp_path / "a" / separator.join("c000")).is_file()
    assert not (tmp_path / "a" / separator.join("c100")).exists()  # a fill-value chunk, left unwritten
    selections = [
        (slice(None),) * 3,
        (slice(0, 8), slice(0, 16), slice(0, 16)),  # exactly one chunk
        (slice(16, 19), slice(32, 37), slice(32, 41)),  # the partial edge chunk
        (slice(3, 17), slice(5, 30), slice(1, 40)),  # across chunks, the unwritten ones included
        (5,),
        (-1, slice(2, 9)),
        (Ellipsis, 40),
        (slice(4, 4),),
    ]
    for key in selections:
        got = reader[key]
        np.testing.assert_array_equal(got, data[key], err_msg=str(key))
        assert got.dtype == data.dtype and got.flags.writeable
    with pytest.raises(IndexError):
        reader[19]
    with pytest.raises(IndexError, match="contiguous"):
        reader[::2]


def _empty(path, shape, chunks, dtype, compressors, shuffle="shuffle", separator="/"):
    codec = BloscCodec(cname=compressors, clevel=1, shuffle=shuffle) if compressors else None
    return zarr.create_array(
        zarr.storage.LocalStore(path), shape=shape, chunks=chunks, dtype=dtype, compressors=codec, fill_value=0,
        zarr_format=3, chunk_key_encoding={"name": "default", "separator": separator},
    )  # fmt: skip


def _chunk_files(path):
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file() and p.name != "zarr.json"}


@pytest.mark.parametrize(
    ("dtype", "compressors", "shuffle", "shape", "chunks"),
    [
        ("int16", "lz4", "shuffle", (19, 37, 41), (8, 16, 16)),
        ("uint16", "zstd", "shuffle", (16, 32, 32), (8, 16, 16)),
        ("uint8", "lz4", "bitshuffle", (19, 37, 41), (8, 16, 16)),
        ("float32", None, "shuffle", (9, 20, 20), (4, 16, 16)),
        ("int16", "lz4", "shuffle", (3, 19, 37, 41), (1, 8, 16, 16)),  # 4-D: one time point per block
    ],
)
@pytest.mark.parametrize("separator", ["/", "."])
def test_writes_store_what_zarr_stores(tmp_path, dtype, compressors, shuffle, shape, chunks, separator):
    rng = np.random.default_rng(11)
    data = rng.integers(0, 200, size=shape).astype(dtype)
    data[..., :8, :, :] = 0  # a run of fill-value chunks: zarr leaves them unwritten, so must the writer
    _empty(tmp_path / "zarr", shape, chunks, dtype, compressors, shuffle, separator)[...] = data
    _empty(tmp_path / "direct", shape, chunks, dtype, compressors, shuffle, separator)
    array = open_chunks(fsspec.filesystem("file"), str(tmp_path / "direct"))
    cz, zi = chunks[-3], len(shape) - 3
    for lead in np.ndindex(shape[:zi]):
        for z0 in range(0, shape[zi], cz):
            block = data[lead + (slice(z0, z0 + cz),)][(np.newaxis,) * zi]
            array.write(lead + (z0, 0, 0), block)
    written = _chunk_files(tmp_path / "direct")
    assert written and written == _chunk_files(tmp_path / "zarr")
    np.testing.assert_array_equal(zarr.open_array(zarr.storage.LocalStore(tmp_path / "direct"))[...], data)


def test_writes_off_the_chunk_grid_are_refused(tmp_path):
    _empty(tmp_path / "a", (19, 37, 41), (8, 16, 16), "int16", "lz4")
    array = open_chunks(fsspec.filesystem("file"), str(tmp_path / "a"))
    with pytest.raises(ValueError, match="not aligned"):
        array.write((4, 0, 0), np.ones((8, 37, 41), dtype="int16"))
    with pytest.raises(ValueError, match="not aligned"):
        array.write((0, 0, 0), np.ones((8, 20, 41), dtype="int16"))  # ends inside a chunk, not at the edge


def test_lazy_array_uses_the_reader_and_rechunks(tmp_path):
    fs, path, data = _array(tmp_path)
    lazy = lazy_array(fs, path, chunks={"z": -1, "x": 41}, dims=("z", "y", "x"))
    assert lazy.chunks == ((19,), (16, 16, 5), (41,))
    assert any(isinstance(v, ChunkArray) for v in dict(lazy.__dask_graph__()).values())
    np.testing.assert_array_equal(lazy.compute(), data)
    np.testing.assert_array_equal(lazy_array(fs, path)[3:11, 20].compute(), data[3:11, 20])


def test_other_arrays_are_left_to_zarr(tmp_path):
    fs, path, data = _array(tmp_path, shards=(16, 32, 32))
    assert open_chunks(fs, path) is None  # sharded: the reader does not know that layout
    np.testing.assert_array_equal(lazy_array(fs, path).compute(), data)
    assert open_chunks(fs, str(tmp_path / "missing")) is None


def test_reader_pickles_without_its_codec(tmp_path):
    import pickle

    fs, path, data = _array(tmp_path)
    reader = open_chunks(fs, path)
    reader[0]  # builds the codec
    again = pickle.loads(pickle.dumps(reader))
    np.testing.assert_array_equal(again[2:10, 3], data[2:10, 3])


def test_volume_metadata_is_what_zarr_reads(tmp_path):
    """Volumes open from their group's zarr.json alone; it must agree with zarr, and refuse what is not a volume."""
    from pacslab.errors import VolumeNotFoundError
    from pacslab.volumes.store import open_volume_group, volume_metadata

    fs = fsspec.filesystem("file")
    group = zarr.open_group(zarr.storage.LocalStore(tmp_path / "v"), mode="w", zarr_format=3)
    attrs = {"dims": ["z", "y", "x"], "frames": [["1.2.3#1", "1.2.4#1"]], "rescale_slope": 1.5, "units": "HU"}
    group.attrs["pacslab"] = attrs
    path = str(tmp_path / "v")
    assert volume_metadata(fs, path) == attrs == dict(open_volume_group(fs, path).attrs["pacslab"])
    zarr.open_group(zarr.storage.LocalStore(tmp_path / "other"), mode="w", zarr_format=3).attrs["x"] = 1
    with pytest.raises(VolumeNotFoundError, match="not a pacslab volume"):
        volume_metadata(fs, str(tmp_path / "other"))
    with pytest.raises(VolumeNotFoundError, match="zarr.json is missing"):
        volume_metadata(fs, str(tmp_path / "nowhere"))


@pytest.mark.parametrize(
    ("dtype", "dims"),
    [("int16", ("z", "y", "x")), ("uint8", ("c", "z", "y", "x")), (">u2", ("echo_time", "z", "y", "x")),
     ("float32", ("z", "y", "x")), ("<i4", ("z", "y", "x"))],
)  # fmt: skip
@pytest.mark.parametrize(("cname", "clevel"), [("lz4", 1), ("zstd", 5)])
def test_volume_array_metadata_is_what_zarr_writes(tmp_path, dtype, dims, cname, clevel):
    from pacslab.config import config
    from pacslab.volumes.store import array_metadata

    shape, chunks = (3, 5, 7, 9)[-len(dims) :], (1, 2, 7, 9)[-len(dims) :]
    shuffle = "bitshuffle" if np.dtype(dtype).itemsize == 1 else "shuffle"
    group = zarr.open_group(zarr.storage.LocalStore(tmp_path / "v"), mode="w", zarr_format=3)
    group.create_array("0", shape=shape, chunks=chunks, dtype=np.dtype(dtype), fill_value=0,
                       compressors=BloscCodec(cname=cname, clevel=clevel, shuffle=shuffle),
                       dimension_names=list(dims), chunk_key_encoding={"name": "default", "separator": "."})  # fmt: skip
    with config.set({"volumes.codec": cname, "volumes.clevel": clevel}):
        ours = array_metadata(shape, chunks, np.dtype(dtype), dims)
    assert ours == json.loads((tmp_path / "v" / "0" / "zarr.json").read_text())


def test_a_damaged_chunk_file_is_an_error_naming_it(tmp_path):
    from pacslab.errors import StorageError

    fs, path, _ = _array(tmp_path)
    reader = open_chunks(fs, path)
    chunk = tmp_path / "a" / "c" / "0" / "0" / "0"
    whole = chunk.read_bytes()
    damaged = {
        b"": "fewer than a Blosc header",
        whole[:10]: "fewer than a Blosc header",
        whole[:40]: "where the Blosc header says",  # Blosc itself decodes a cut frame into garbage, silently
        whole[: len(whole) - 1]: "where the Blosc header says",
        whole + b"\0": "where the Blosc header says",
        b"not blosc at all" * 8: "Blosc header says|decompression",
    }
    for damage, why in damaged.items():
        chunk.write_bytes(damage)
        with pytest.raises(StorageError, match=rf"c/0/0/0.*cannot be decoded \(.*({why}).*damaged"):
            reader[0:8, 0:16, 0:16]
    other = tmp_path / "other"
    _array(other, chunks=(4, 16, 16))  # a whole frame, of another array's chunk size
    chunk.write_bytes((other / "a" / "c" / "0" / "0" / "0").read_bytes())
    with pytest.raises(StorageError, match="where the chunk has"):
        reader[0:8, 0:16, 0:16]
    np.testing.assert_array_equal(reader[8:16], 0)  # the other chunks read on

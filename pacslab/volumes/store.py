"""Volumes in Zarr v3, in the OME-NGFF 0.5 multiscale layout, and back as xarray.

A volume is a Zarr group holding one array ``0`` (level 0 of the multiscale) of
stored pixel values, and attributes: ``ome`` (axes with millimetre units, scale
and translation, so NGFF readers such as napari place it) and ``pacslab``
(the full geometry with direction cosines, rescale, window presets, the
slice positions and the DICOM identity of every frame).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import fsspec
import numpy as np

from pacslab.config import config
from pacslab.errors import VolumeNotFoundError
from pacslab.storage import join
from pacslab.storage._fs import is_local, write_atomic
from pacslab.volumes._chunks import ChunkArray, open_chunks
from pacslab.volumes._frames import Frame
from pacslab.volumes._stack import Stack
from pacslab.volumes.geometry import VolumeGeometry

if TYPE_CHECKING:
    import dask.array as da
    import xarray as xr
    import zarr

__all__ = ["lazy_array", "open_volume_group", "read_volume", "volume_metadata", "write_volume", "zarr_store"]

NGFF_VERSION = "0.5"
_AXIS_TYPES = {
    "z": "space",
    "y": "space",
    "x": "space",
    "c": "channel",
    "temporal": "time",
    "trigger": "time",
}
_EXTRA_DIM_NAMES = {
    "echo": "echo_time",
    "temporal": "temporal_position",
    "bvalue": "b_value",
    "trigger": "trigger_time",
    "acquisition": "acquisition",
}


def zarr_store(fs: fsspec.AbstractFileSystem, path: str, *, read_only: bool = False) -> zarr.abc.store.Store:
    """The Zarr store for a folder of the archive's filesystem."""
    import zarr  # only to read with zarr: ingest writes volumes without it (and the CLI starts sooner)

    if is_local(fs):
        return zarr.storage.LocalStore(path, read_only=read_only)
    return zarr.storage.FsspecStore.from_url(
        fs.unstrip_protocol(path), storage_options=fs.storage_options, read_only=read_only
    )


#: Chunk rows and columns of a single 2-D image at least (every chunk is a file, and a file costs an inode).
_TILE_2D = 2048


def _chunks(shape: tuple[int, ...], dims: tuple[str, ...]) -> tuple[int, ...]:
    cz, cy, cx = (int(v) for v in config.get("volumes.chunks"))
    wanted = {"z": cz, "y": cy, "x": cx}
    if shape[dims.index("z")] == 1:  # a 2-D image (DX, CR, MG) is read whole: one chunk up to 2048², few files
        wanted.update(y=max(cy, _TILE_2D), x=max(cx, _TILE_2D))
    return tuple(min(wanted.get(d, 1 if d != "c" else n), n) for d, n in zip(dims, shape, strict=True))


def _dims(stack: Stack) -> tuple[str, ...]:
    dims: tuple[str, ...] = ("z", "y", "x")
    if stack.first.samples > 1:
        dims = ("c", *dims)
    if stack.extra_dim is not None:
        dims = (_EXTRA_DIM_NAMES[stack.extra_dim], *dims)
    return dims


def _ngff(dims: tuple[str, ...], geometry: VolumeGeometry, name: str) -> dict[str, Any]:
    axes, scale, translation = [], [], []
    origin_along = dict(zip("xyz", (np.asarray(geometry.origin) @ np.asarray(geometry.direction).T), strict=True))
    spacing = dict(zip("zyx", geometry.spacing, strict=True))
    for d in dims:
        axis: dict[str, Any] = {
            "name": d,
            "type": _AXIS_TYPES.get(d, "space" if d in "zyx" else "other"),
        }
        if d in "zyx":
            axis["unit"] = "millimeter"
            scale.append(spacing[d])
            translation.append(float(origin_along[d]))
        else:
            scale.append(1.0)
            translation.append(0.0)
        if d not in "zyx" and axis["type"] == "other":
            axis.pop("type")
        axes.append(axis)
    return {
        "version": NGFF_VERSION,
        "multiscales": [
            {
                "name": name,
                "axes": axes,
                "datasets": [
                    {
                        "path": "0",
                        "coordinateTransformations": [
                            {"type": "scale", "scale": scale},
                            {"type": "translation", "translation": translation},
                        ],
                    }
                ],
            }
        ],
    }


def array_metadata(
    shape: tuple[int, ...], chunks: tuple[int, ...], dtype: np.dtype[Any], dims: tuple[str, ...]
) -> dict[str, Any]:
    """The ``zarr.json`` zarr-python writes for a volume's array (``volumes.codec`` and ``clevel``; a test compares).

    Written directly, so that ingest needs neither zarr's import nor its store round trips.
    """
    bytes_codec: dict[str, Any] = {"name": "bytes"}
    if dtype.itemsize > 1:
        bytes_codec["configuration"] = {"endian": "little"}
    blosc = {
        "typesize": dtype.itemsize,
        "cname": str(config.get("volumes.codec")),
        "clevel": int(config.get("volumes.clevel")),
        "shuffle": "bitshuffle" if dtype.itemsize == 1 else "shuffle",
        "blocksize": 0,
    }
    return {
        "shape": list(shape),
        "data_type": dtype.name,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "."}},
        "fill_value": 0.0 if dtype.kind == "f" else 0,
        "codecs": [bytes_codec, {"name": "blosc", "configuration": blosc}],
        "attributes": {},
        "dimension_names": list(dims),
        "zarr_format": 3,
        "node_type": "array",
        "storage_transformers": [],
    }


def write_volume(
    fs: fsspec.AbstractFileSystem,
    path: str,
    stack: Stack,
    read_frame: Callable[[Frame], np.ndarray],
    *,
    identity: dict[str, Any],
) -> dict[str, Any]:
    """Write one stack as a volume group, block of slices by block of slices.

    Parameters
    ----------
    fs, path
        Where the group goes (replaced if it exists).
    stack : Stack
        The ordered frames.
    read_frame : callable
        Returns the decoded pixels of a frame, ``(rows, columns)`` or ``(rows, columns, samples)``.
    identity : dict
        DICOM identity and display attributes to keep (UIDs, Modality, window presets, units).

    Returns
    -------
    dict
        The volume's catalog row: ``dims``, ``shape``, ``dtype``, ``n_frames``, ``note``.
    """
    if fs.exists(path):
        fs.rm(path, recursive=True)
    dims = _dims(stack)
    first = read_frame(stack.first)
    nz, ny, nx = stack.geometry.shape
    shape: tuple[int, ...] = (nz, ny, nx)
    if "c" in dims:
        shape = (stack.first.samples, *shape)
    if stack.extra_dim is not None:
        shape = (len(stack.frames), *shape)
    chunks = _chunks(shape, dims)
    metadata = array_metadata(shape, chunks, first.dtype, dims)
    write_atomic(fs, join(path, "0", "zarr.json"), json.dumps(metadata, indent=2).encode())
    array = ChunkArray(fs, join(path, "0"), metadata)  # chunks written straight, the bytes zarr would write
    zi = dims.index("z")
    cz = chunks[zi]
    for t, column in enumerate(stack.frames):
        for z0 in range(0, nz, cz):
            block = np.stack([np.asarray(read_frame(f), dtype=first.dtype) for f in column[z0 : z0 + cz]])
            if "c" in dims:
                block = np.moveaxis(block, -1, 0)
            start = [0] * len(shape)
            start[zi] = z0
            if stack.extra_dim is not None:
                start[0], block = t, block[np.newaxis]
            array.write(tuple(start), block)
    rescale = [list(f.rescale) for f in stack.frames[0]]
    slopes = {r[0] for c in stack.frames for r in ([list(f.rescale) for f in c])}
    intercepts = {r[1] for c in stack.frames for r in ([list(f.rescale) for f in c])}
    attrs = {
        **identity,
        "geometry": stack.geometry.to_dict(),
        "dims": list(dims),
        "positions": [float(p) for p in stack.positions],
        "frames": [[f"{f.sop_instance_uid}#{f.frame}" for f in c] for c in stack.frames],
        "extra_dim": _EXTRA_DIM_NAMES.get(stack.extra_dim or ""),
        "extra_values": list(stack.extra_values),
        "rescale_slope": rescale[0][0] if len(slopes) == 1 else [r[0] for r in rescale],
        "rescale_intercept": rescale[0][1] if len(intercepts) == 1 else [r[1] for r in rescale],
        "notes": stack.notes,
    }
    group = {
        "attributes": {"ome": _ngff(dims, stack.geometry, identity.get("SeriesDescription") or ""), "pacslab": attrs},
        "zarr_format": 3,
        "node_type": "group",
    }
    write_atomic(fs, join(path, "zarr.json"), json.dumps(group, indent=2).encode())  # last: a volume once there
    return {
        "dims": list(dims),
        "shape": list(shape),
        "dtype": str(first.dtype),
        "n_frames": stack.n_frames,
        "note": "; ".join(stack.notes) or None,
    }


def open_volume_group(fs: fsspec.AbstractFileSystem, path: str) -> zarr.Group:
    """Open a volume group read-only."""
    import zarr

    return zarr.open_group(zarr_store(fs, path, read_only=True), mode="r", zarr_format=3)


def volume_metadata(fs: fsspec.AbstractFileSystem, path: str) -> dict[str, Any]:
    """The ``pacslab`` attributes of a volume group (geometry, identity, frames), read from its ``zarr.json``.

    One small file read, without opening the group through zarr.

    Raises
    ------
    VolumeNotFoundError
        No volume group at *path*.
    """
    try:
        document = json.loads(fs.cat_file(join(path, "zarr.json")))
    except FileNotFoundError as exc:
        raise VolumeNotFoundError(f"No volume at {path!r}: its zarr.json is missing.") from exc
    attributes = document.get("attributes", {}) if document.get("node_type") == "group" else {}
    if "pacslab" not in attributes:
        raise VolumeNotFoundError(f"{path!r} is not a pacslab volume (its zarr.json has no 'pacslab' attributes).")
    return dict(attributes["pacslab"])


def lazy_array(
    fs: fsspec.AbstractFileSystem,
    path: str,
    *,
    chunks: Any = None,
    dims: tuple[str, ...] | None = None,
    array: zarr.Array | None = None,
) -> da.Array:
    """A Zarr array of the archive as a dask array, read chunk by chunk.

    Parameters
    ----------
    path : str
        The array's folder.
    chunks : optional
        Dask chunks; the Zarr chunks by default. A dict by dim name (``{"z": 32, "y": -1}``,
        -1 for the whole axis) keeps the Zarr chunks along the dims it leaves out (needs *dims*).
    array : zarr.Array, optional
        The array opened by zarr, when the caller has it (read with zarr if it is not a plain one).
    """
    import dask.array as da
    from dask.base import tokenize

    reader = open_chunks(fs, path)
    source: Any = reader
    if reader is None and array is None:
        import zarr

        source = zarr.open_array(zarr_store(fs, path, read_only=True), mode="r")
    elif reader is None:
        source = array
    if chunks is None:
        chunks = source.chunks
    elif isinstance(chunks, dict) and all(isinstance(k, str) for k in chunks):
        chunks = tuple(int(chunks.get(d, c)) for d, c in zip(dims or (), source.chunks, strict=True))
    if reader is None:
        return da.from_zarr(source, chunks=chunks)
    where = fs.unstrip_protocol(path)
    name = "pacslab-volume-" + tokenize(where, reader.shape, reader.chunks, str(reader.dtype), chunks)
    meta = np.empty((0,) * reader.ndim, dtype=reader.dtype.newbyteorder("="))
    return da.from_array(reader, chunks=chunks, name=name, asarray=False, lock=False, meta=meta)


def read_volume(
    fs: fsspec.AbstractFileSystem,
    path: str,
    *,
    rescale: bool = True,
    chunks: Any = None,
) -> xr.DataArray:
    """A volume as a lazy, dask-backed DataArray with coordinates in mm.

    Parameters
    ----------
    rescale : bool
        Apply RescaleSlope / RescaleIntercept, giving modality units (HU for CT);
        ``False`` gives the stored values.
    chunks : optional
        Dask chunks; the Zarr chunks by default. A dict by dim name (``{"z": 32, "y": -1}``,
        -1 for the whole axis) keeps the Zarr chunks along the dims it leaves out.
    """
    import xarray as xr

    meta = volume_metadata(fs, path)
    dims = tuple(meta["dims"])
    data = lazy_array(fs, join(path, "0"), chunks=chunks, dims=dims)
    geometry = VolumeGeometry.from_dict(meta["geometry"])
    coords: dict[str, Any] = geometry.axis_coordinates()
    if geometry.known:
        coords["z"] = np.asarray(meta["positions"], dtype=float)
    if meta.get("extra_dim"):
        coords[meta["extra_dim"]] = np.asarray(meta["extra_values"])
    if "c" in dims:
        coords["c"] = np.arange(data.shape[dims.index("c")])
    slope, intercept = meta["rescale_slope"], meta["rescale_intercept"]
    identity_rescale = slope == 1 and intercept == 0
    units = meta.get("units") if rescale else "stored value"
    encoding: dict[str, Any] = {"dtype": data.dtype}
    if rescale and not identity_rescale and not isinstance(slope, list) and not isinstance(intercept, list):
        # CF-style, as xarray names it: values = stored * scale_factor + add_offset. Reductions that
        # can work on the stored integers (pacslab.processing.intensity_statistics) use "stored".
        encoding.update(stored=data, scale_factor=float(slope), add_offset=float(intercept))
    if rescale and not identity_rescale:
        ftype = np.float64 if data.dtype.itemsize >= 4 else np.float32
        zshape = [1] * len(dims)
        zshape[dims.index("z")] = data.shape[dims.index("z")]
        s = np.asarray(slope, dtype=ftype).reshape(zshape) if isinstance(slope, list) else ftype(slope)
        b = np.asarray(intercept, dtype=ftype).reshape(zshape) if isinstance(intercept, list) else ftype(intercept)
        data = data.astype(ftype) * s + b
        if "stored" in encoding:
            encoding["stored_as"] = data.name  # the values these stored integers give (checked by readers)
    attrs = {k: v for k, v in meta.items() if k not in ("frames", "positions", "dims", "geometry")}
    attrs.update(
        spacing=tuple(geometry.spacing),
        origin=tuple(geometry.origin),
        direction=tuple(geometry.direction),
        affine=geometry.affine.tolist(),
        geometry_known=geometry.known,
        units=units,
        rescaled=bool(rescale and not identity_rescale),
    )
    volume = xr.DataArray(
        data,
        dims=dims,
        coords={k: v for k, v in coords.items() if k in dims},
        name=meta.get("SeriesDescription") or "volume",
        attrs=attrs,
    )
    volume.encoding.update(encoding)
    return volume

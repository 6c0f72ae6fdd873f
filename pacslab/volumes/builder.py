"""Build the volumes of a series from its originals in the archive.

Besides writing the volumes, building decides how each original rests: when an
instance's uncompressed pixel data is exactly the frames just written, only the
bytes before it are kept (``pxr``, see :mod:`pacslab.volumes._pixelref`); other
originals that were stored uncompressed for the meantime are compressed. The
catalog is changed by the caller, in one transaction, from what this returns.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import fsspec
import numpy as np
import pydicom.uid

from pacslab.config import config
from pacslab.ingest._prepare import PIXEL_DATA_OFFSET, read_dataset
from pacslab.storage import Codec, OriginalStore, join, sha256_hex
from pacslab.volumes._frames import Frame, frames_from_dataset, frames_from_geometry
from pacslab.volumes._pixelref import PixelRef, PixelSource
from pacslab.volumes._stack import form_stacks
from pacslab.volumes.store import write_volume

__all__ = ["SERIES_IDENTITY", "BuildResult", "build_series_volumes", "generation_folder", "series_identity"]

logger = logging.getLogger(__name__)


#: What the volumes of a series keep of its identity (the values of its catalog row).
SERIES_IDENTITY = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "FrameOfReferenceUID",
    "PatientID",
    "StudyDate",
)


def series_identity(values: Mapping[str, Any]) -> dict[str, Any]:
    """:data:`SERIES_IDENTITY` from a series' catalog row or its first instance's attributes (None when missing)."""
    out: dict[str, Any] = {}
    for key in SERIES_IDENTITY:
        value = values.get(key)
        out[key] = None if value is None else int(value) if key == "SeriesNumber" else str(value)
    return out


def generation_folder(series_instance_uid: str, generation: str) -> str:
    """Where one build of a series writes its volumes (``<folder>/<stack index>``), relative to the archive root.

    Each build writes a new *generation*, so that the previous volumes (which may hold the
    pixel data of ``pxr`` originals, and their heads) stay readable until the catalog switches over.
    """
    return f"volumes/{series_instance_uid}/{generation}"


def volume_generation(path: str) -> str:
    """The generation folder, ``volumes/<series>/<generation>``, of a volume's path (see :func:`generation_folder`)."""
    return path.rsplit("/", 1)[0]


def remove_generation(fs: fsspec.AbstractFileSystem, root: str, generation: str) -> None:
    """Remove a volume generation folder (``volumes/<series>/<generation>``) if it is there."""
    full = join(root, generation)
    if fs.exists(full):
        fs.rm(full, recursive=True)


@dataclasses.dataclass
class BuildResult:
    """What building a series' volumes produced, for the catalog to commit."""

    series_instance_uid: str
    volumes: list[dict[str, Any]]
    state: str
    reason: str | None
    #: New storage of originals: dicts of SOPInstanceUID, stored_key, stored_codec, stored_size, pixel_ref.
    instance_updates: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: Storage keys the updates leave unused (delete after the commit).
    obsolete_keys: list[str] = dataclasses.field(default_factory=list)
    #: How many image instances the volumes were built from.
    n_instances: int = 0


@dataclasses.dataclass
class _Decoded:
    pixels: np.ndarray  # (frames, rows, columns[, samples])
    head: bytes | None  # bytes before the pixel data, when the pixel data can live in the volume


class _PixelCache:
    """Decodes originals on demand (the last few are kept: multi-frame instances are read once)."""

    def __init__(self, store: OriginalStore, rows: dict[str, dict[str, Any]], volume_paths: dict[int, str],
                 written: list[str], size: int = 2, preloaded: dict[str, bytes] | None = None) -> None:  # fmt: skip
        self.store, self.rows, self.volume_paths, self.size = store, rows, volume_paths, size
        self.written = written
        #: SOPInstanceUID → the file as this process received and hashed it (no need to read or hash it again)
        self.preloaded = preloaded or {}
        self.source = PixelSource(store.fs, store.root.rsplit("/originals", 1)[0])
        self._cache: OrderedDict[str, _Decoded] = OrderedDict()
        #: SOPInstanceUID → (head bytes, dtype) of instances whose pixel data may live in the volume
        self.heads: dict[str, tuple[bytes, str]] = {}
        #: SOPInstanceUID → (key, codec, size) of originals now stored compressed as whole files
        self.whole: dict[str, tuple[str, Codec, int]] = {}

    def _original(self, row: dict[str, Any]) -> bytes:
        if row["SOPInstanceUID"] in self.preloaded:
            return self.preloaded[row["SOPInstanceUID"]]
        if row["stored_codec"] == Codec.PIXEL_REF.value:
            ref = PixelRef.from_json(row["pixel_ref"])
            return self.source.original(self.store, row, self.volume_paths[ref.stack], verify=True)
        return self.store.read(row["stored_key"])

    def decoded(self, sop_instance_uid: str) -> _Decoded:
        if sop_instance_uid in self._cache:
            self._cache.move_to_end(sop_instance_uid)
            return self._cache[sop_instance_uid]
        row = self.rows[sop_instance_uid]
        data = self._original(row)
        pixels = _native_pixels(data, json.loads(row["geometry"] or "{}"))
        if pixels is not None:  # as pydicom would decode them, read in place
            hashed = sop_instance_uid in self.preloaded or sha256_hex(data) == row["sha256"]
            head = None if self.store.encrypted or not hashed else data[: -pixels.nbytes]
        else:
            ds = read_dataset(data, check=False)
            pixels = ds.pixel_array
            if int(ds.get("NumberOfFrames", 1) or 1) == 1:
                pixels = pixels[np.newaxis]
            # an encrypted archive keeps whole originals: the volumes are not encrypted
            head = (
                None
                if self.store.encrypted
                else _head_if_referenceable(ds, data, pixels, row, preloaded=sop_instance_uid in self.preloaded)
            )
        if head is not None:
            self.heads[sop_instance_uid] = (head, pixels.dtype.newbyteorder("<").str)
        elif row["stored_codec"] in (Codec.RAW.value, Codec.PIXEL_REF.value) and sop_instance_uid not in self.whole:
            # stored uncompressed for the meantime (or by reference, no longer possible): compress it now
            key, codec, size = self.store.put_compressed(data, row["sha256"], itemsize=pixels.dtype.itemsize)
            self.written.append(key)
            self.whole[sop_instance_uid] = (key, codec, size)
        item = _Decoded(pixels, head)
        self._cache[sop_instance_uid] = item
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return item

    def frame(self, f: Frame) -> np.ndarray:
        return self.decoded(f.sop_instance_uid).pixels[f.frame]


def _native_pixels(data: bytes, geometry: dict[str, Any]) -> np.ndarray | None:
    """The one frame of little-endian native pixel data that ends *data*, read in place, or None.

    Only when pydicom's ``pixel_array`` would be those very values; None sends the file to pydicom.

    Ingest records where such pixel data starts (``pixel_data_offset``). Values beyond BitsStored
    (overlay bits, unextended signs) are what pydicom would mask or sign-extend: those go to pydicom.
    """
    offset = geometry.get(PIXEL_DATA_OFFSET)
    try:
        rows, columns, bits = int(geometry["Rows"]), int(geometry["Columns"]), int(geometry["BitsAllocated"])
        stored, signed = int(geometry.get("BitsStored", bits)), int(geometry.get("PixelRepresentation", 0)) == 1
    except (KeyError, TypeError, ValueError):
        return None
    if (
        offset is None
        or geometry.get("multiframe")
        or int(geometry.get("SamplesPerPixel", 1)) != 1
        or bits not in (16, 32)
        or offset + rows * columns * bits // 8 != len(data)
    ):
        return None
    pixels = np.frombuffer(data, dtype=f"<{'i' if signed else 'u'}{bits // 8}", offset=offset).reshape(1, rows, columns)
    if 0 < stored < bits:
        low, high = (-(1 << (stored - 1)), (1 << (stored - 1)) - 1) if signed else (0, (1 << stored) - 1)
        if pixels.min() < low or pixels.max() > high:
            return None
    return pixels


def _head_if_referenceable(
    ds: Any, data: bytes, pixels: np.ndarray, row: dict[str, Any], *, preloaded: bool = False
) -> bytes | None:
    """The bytes before the pixel data, if the pixel data is exactly *pixels* and ends the file.

    *preloaded*: *data* is what this process received and hashed, not read back from storage.
    """
    if "PixelData" not in ds or pixels.ndim != 3 or pixels.dtype.byteorder == ">":
        return None
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if syntax is None or pydicom.uid.UID(syntax).is_compressed or syntax == pydicom.uid.ExplicitVRBigEndian:
        return None
    raw = pixels.tobytes()
    if not raw or not data.endswith(raw):
        return None
    # head + raw is data, byte for byte: the original as read back must still be what was received,
    # since dropping the whole-file copy relies on it
    if not preloaded and sha256_hex(data) != row["sha256"]:
        return None
    return data[: len(data) - len(raw)]


def _identity(rows: list[dict[str, Any]], attributes: dict[str, Any]) -> dict[str, Any]:
    g = json.loads(rows[0]["geometry"] or "{}")
    modality = attributes.get("Modality")
    rescaled = "RescaleSlope" in g or "RescaleIntercept" in g
    units = g.get("RescaleType") or ("HU" if modality == "CT" and rescaled else None)
    windows = []
    centers, widths = g.get("WindowCenter"), g.get("WindowWidth")
    if centers is not None and widths is not None:
        centers = centers if isinstance(centers, list) else [centers]
        widths = widths if isinstance(widths, list) else [widths]
        windows = [{"center": float(c), "width": float(w)} for c, w in zip(centers, widths, strict=False)]
    return {**attributes, "units": units, "window_presets": windows, "PixelPaddingValue": g.get("PixelPaddingValue")}


def _frames(rows: list[dict[str, Any]], cache: _PixelCache) -> list[Frame]:
    frames: list[Frame] = []
    for row in rows:
        g = json.loads(row["geometry"] or "{}")
        if g.get("multiframe"):
            frames += frames_from_dataset(read_dataset(cache._original(row), check=False))
        else:
            frames += frames_from_geometry(row["SOPInstanceUID"], g)
    return frames


def build_series_volumes(
    fs: fsspec.AbstractFileSystem,
    root: str,
    rows: list[dict[str, Any]],
    attributes: dict[str, Any],
    volume_paths: dict[int, str] | None = None,
    preloaded: dict[str, bytes] | None = None,
) -> BuildResult:
    """Build every volume of one series, in a new generation.

    Parameters
    ----------
    fs, root
        The archive's filesystem and root.
    rows : list of dict
        The series' image instances (:meth:`SQLiteCatalog.frames_of_series`); ``stored_key`` is None
        for an original the caller holds in *preloaded* and never wrote.
    attributes : dict
        Identity of the series (UIDs, Modality, SeriesDescription) to keep with the volumes.
    volume_paths : dict, optional
        Stack index → path of the series' current volumes (where ``pxr`` originals keep pixels).
    preloaded : dict, optional
        SOPInstanceUID → the file exactly as received and hashed by the caller, read from
        there instead of from storage.

    Returns
    -------
    BuildResult
        Nothing in the catalog changes until the caller commits it; on failure the new
        generation is removed and the current volumes stay as they were.
    """
    uid = attributes["SeriesInstanceUID"]
    if not rows:
        return BuildResult(uid, [], "none", None)
    store = OriginalStore(fs, root)
    by_sop = {r["SOPInstanceUID"]: r for r in rows}
    written: list[str] = []
    cache = _PixelCache(store, by_sop, volume_paths or {}, written, preloaded=preloaded)
    folder = generation_folder(uid, uuid.uuid4().hex[:12])
    try:
        frames = _frames(rows, cache)
        stacks = form_stacks(frames, tolerance=float(config.get("volumes.spacing-tolerance")))
        identity = _identity(rows, attributes)
        volumes, located = [], {}
        for index, stack in enumerate(stacks):
            path = f"{folder}/{index}"
            row = write_volume(fs, join(root, path), stack, cache.frame, identity={**identity, "stack_index": index})
            volumes.append({**row, "stack_index": index, "path": path})
            for t, column in enumerate(stack.frames):
                for z, f in enumerate(column):
                    located[(f.sop_instance_uid, f.frame)] = (index, t, z, row["dtype"])
        updates, obsolete = _settle_originals(store, folder, by_sop, cache, located)
    except Exception as exc:  # noqa: BLE001 - a series that cannot be built is reported, never fatal
        logger.info("no volume for series %s: %s", uid, exc)
        remove_generation(fs, root, folder)
        for key in written:
            store.delete(key)
        return BuildResult(uid, [], "failed", f"{type(exc).__name__}: {exc}")
    notes = sorted({v["note"] for v in volumes if v["note"]})
    return BuildResult(uid, volumes, "ready", "; ".join(notes) or None, updates, obsolete, len(rows))


def _settle_originals(
    store: OriginalStore,
    folder: str,
    rows: dict[str, dict[str, Any]],
    cache: _PixelCache,
    located: dict[tuple[str, int], tuple[int, int, int, str]],
) -> tuple[list[dict[str, Any]], list[str]]:
    """Decide how each original rests now that its volume generation *folder* exists; write the new blobs.

    The heads of the originals whose pixel data the volumes hold go in one file of *folder*
    (those kept before, in an older generation or a file each, are written there again).
    """
    refs = {sop: ref for sop in rows if (ref := _reference(sop, cache, located)) is not None}
    placed = dict(zip(refs, store.put_heads(folder, [cache.heads[sop][0] for sop in refs]), strict=True))
    updates, obsolete = [], []
    for sop, row in rows.items():
        if sop in refs:
            key, size = placed[sop]
            update = {"stored_key": key, "stored_codec": Codec.PIXEL_REF.value, "stored_size": size,
                      "pixel_ref": refs[sop].to_json()}  # fmt: skip
        elif sop in cache.whole:
            key, codec, size = cache.whole[sop]
            update = {"stored_key": key, "stored_codec": codec.value, "stored_size": size, "pixel_ref": None}
        else:
            continue
        if row["stored_key"] is not None and update["stored_key"] != row["stored_key"]:
            obsolete.append(row["stored_key"])
        updates.append({"SOPInstanceUID": sop, **update})
    return updates, obsolete


def _reference(
    sop: str, cache: _PixelCache, located: dict[tuple[str, int], tuple[int, int, int, str]]
) -> PixelRef | None:
    if sop not in cache.heads:
        return None
    _, dtype = cache.heads[sop]
    places = []
    frame = 0
    while (sop, frame) in located:
        places.append(located[(sop, frame)])
        frame += 1
    if not places or len({p[0] for p in places}) != 1 or np.dtype(places[0][3]) != np.dtype(dtype):
        return None
    return PixelRef(places[0][0], tuple((t, z) for _, t, z, _ in places), dtype)

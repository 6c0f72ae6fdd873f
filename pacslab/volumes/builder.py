"""Build the volumes of a series from its originals in the archive."""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from typing import Any

import fsspec
import numpy as np

from pacslab.config import config
from pacslab.ingest._prepare import read_dataset
from pacslab.storage import OriginalStore, join
from pacslab.volumes._frames import Frame, frames_from_dataset, frames_from_geometry
from pacslab.volumes._stack import form_stacks
from pacslab.volumes.store import write_volume

__all__ = ["build_series_volumes", "volume_path"]

logger = logging.getLogger(__name__)


def volume_path(series_instance_uid: str, stack_index: int) -> str:
    """Where a volume lives, relative to the archive root."""
    return f"volumes/{series_instance_uid}/{stack_index}"


class _PixelCache:
    """Decodes originals on demand, keeping the last few (multi-frame instances are read once)."""

    def __init__(self, store: OriginalStore, keys: dict[str, tuple[str, str]], size: int = 2) -> None:
        self.store, self.keys, self.size = store, keys, size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def pixels(self, sop_instance_uid: str) -> np.ndarray:
        if sop_instance_uid in self._cache:
            self._cache.move_to_end(sop_instance_uid)
            return self._cache[sop_instance_uid]
        key, sha = self.keys[sop_instance_uid]
        ds = read_dataset(self.store.read(key), check=False)
        array = ds.pixel_array
        if int(ds.get("NumberOfFrames", 1) or 1) == 1:
            array = array[np.newaxis]
        self._cache[sop_instance_uid] = array
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return array

    def frame(self, f: Frame) -> np.ndarray:
        return self.pixels(f.sop_instance_uid)[f.frame]


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
    return {
        **attributes,
        "units": units,
        "window_presets": windows,
        "PixelPaddingValue": g.get("PixelPaddingValue"),
    }


def _frames(rows: list[dict[str, Any]], store: OriginalStore) -> list[Frame]:
    frames: list[Frame] = []
    for row in rows:
        g = json.loads(row["geometry"] or "{}")
        if g.get("multiframe"):
            frames += frames_from_dataset(read_dataset(store.read(row["stored_key"])))
        else:
            frames += frames_from_geometry(row["SOPInstanceUID"], g)
    return frames


def build_series_volumes(
    fs: fsspec.AbstractFileSystem,
    root: str,
    rows: list[dict[str, Any]],
    attributes: dict[str, Any],
) -> tuple[list[dict[str, Any]], str, str | None]:
    """Build every volume of one series.

    Parameters
    ----------
    fs, root
        The archive's filesystem and root.
    rows : list of dict
        The series' image instances (:meth:`SQLiteCatalog.frames_of_series`).
    attributes : dict
        Identity of the series (UIDs, Modality, SeriesDescription) to keep with the volumes.

    Returns
    -------
    volumes : list of dict
        Catalog rows of the volumes written.
    state : {"ready", "failed", "none"}
    reason : str or None
        Why it failed, or what is unusual about the stacks.
    """
    uid = attributes["SeriesInstanceUID"]
    store = OriginalStore(fs, root)
    if not rows:
        return [], "none", None
    try:
        frames = _frames(rows, store)
        stacks = form_stacks(frames, tolerance=float(config.get("volumes.spacing-tolerance")))
        cache = _PixelCache(store, {r["SOPInstanceUID"]: (r["stored_key"], r["sha256"]) for r in rows})
        identity = _identity(rows, attributes)
        volumes = []
        for index, stack in enumerate(stacks):
            path = volume_path(uid, index)
            row = write_volume(
                fs,
                join(root, path),
                stack,
                cache.frame,
                identity={**identity, "stack_index": index},
            )
            volumes.append({**row, "stack_index": index, "path": path})
    except Exception as exc:  # noqa: BLE001 - a series that cannot be built is reported, never fatal
        logger.info("no volume for series %s: %s", uid, exc)
        return [], "failed", f"{type(exc).__name__}: {exc}"
    notes = sorted({v["note"] for v in volumes if v["note"]})
    return volumes, "ready", "; ".join(notes) or None

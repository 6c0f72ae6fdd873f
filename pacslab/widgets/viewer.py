"""The slice viewer widget: one series, three planes, window/level, overlays and annotations.

Only the visible slice travels to the browser, as raw little-endian int16 or float32 bytes in a
custom message; window/level, zoom, pan and drawing happen in the browser. Slices come from a
:class:`~pacslab.widgets._slices.SliceSource` that caches blocks and prefetches around the slice shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import numpy as np
import pandas as pd
import traitlets
import xarray as xr

from pacslab.widgets._annotations import KINDS, AnnotationStore
from pacslab.widgets._slices import PLANES, SliceSource, auto_window

if TYPE_CHECKING:
    import ipywidgets

    from pacslab.archive import Archive

__all__ = ["CT_PRESETS", "Viewer", "side_by_side"]

_STATIC = Path(__file__).parent / "static"
CT_PRESETS = (
    {"name": "lung", "center": -600.0, "width": 1500.0},
    {"name": "mediastinum", "center": 40.0, "width": 400.0},
    {"name": "bone", "center": 400.0, "width": 1800.0},
    {"name": "brain", "center": 40.0, "width": 80.0},
)


def _presets(source: SliceSource) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, p in enumerate(source.attrs.get("window_presets") or []):
        out.append(
            {"name": p.get("name") or f"DICOM {i + 1}", "center": float(p["center"]), "width": float(p["width"])}
        )
    if source.attrs.get("Modality") == "CT" or source.attrs.get("units") == "HU":
        out.extend(dict(p) for p in CT_PRESETS)
    center, width = auto_window(np.asarray(source.middle(), dtype=np.float32))
    out.append({"name": "auto", "center": center, "width": width})
    return out


class Viewer(anywidget.AnyWidget):
    """View a series: slices in three planes, window/level, zoom/pan, overlays, annotations.

    Mouse and keys in the browser: the wheel, arrow keys and the slider scroll slices; dragging
    with the *W/L* tool changes the window (horizontal: width, vertical: level); *pan* and *zoom*
    tools (or ctrl+wheel) move and scale; drawing tools add points, rulers, angles and ROIs
    (rectangle, ellipse, polygon: double-click to close, freehand). The *edit* tool drags vertices;
    Delete removes the selected annotation. Annotations are stored in the archive's
    ``annotations`` table with their measurements (:attr:`annotations`).

    Parameters
    ----------
    archive : Archive or None
        Where the series and the annotations live (``None`` with *volume* for a plain volume:
        annotations are then not stored).
    series_instance_uid : str, optional
    volume : xarray.DataArray, optional
        A volume to show instead (e.g. an analysis result).
    labels : array-like, optional
        An integer label volume of the same (z, y, x) shape, drawn as a coloured overlay.
    plane : {"axial", "coronal", "sagittal"}
    """

    _esm = _STATIC / "viewer.js"
    _css = _STATIC / "widgets.css"

    series_instance_uid = traitlets.Unicode("").tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    plane = traitlets.Enum(PLANES, default_value="axial").tag(sync=True)
    index = traitlets.Int(0).tag(sync=True)
    geometry = traitlets.Dict().tag(sync=True)
    window_center = traitlets.Float(40.0).tag(sync=True)
    window_width = traitlets.Float(400.0).tag(sync=True)
    presets = traitlets.List().tag(sync=True)
    tool = traitlets.Unicode("wl").tag(sync=True)
    tools = traitlets.List(["wl", "pan", "zoom", "edit", *KINDS]).tag(sync=True)
    units = traitlets.Unicode("").tag(sync=True)
    has_labels = traitlets.Bool(False).tag(sync=True)
    label_opacity = traitlets.Float(0.4).tag(sync=True)
    annotation_list = traitlets.List().tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        archive: Archive | None = None,
        series_instance_uid: str | None = None,
        *,
        volume: xr.DataArray | None = None,
        labels: Any = None,
        plane: str = "axial",
        **kwargs: Any,
    ) -> None:
        if volume is None:
            if archive is None or series_instance_uid is None:
                raise ValueError("Viewer needs an archive and a series_instance_uid, or a volume.")
            volume = archive.open_volume(series_instance_uid)
            archive.catalog.audit("view", service="widgets", uids=[series_instance_uid])
        self.archive = archive
        self.source = SliceSource(volume)
        self._labels: SliceSource | None = None
        self._store = AnnotationStore(archive) if archive is not None else None
        self._frames: list[str] = self._frame_ids(archive, series_instance_uid)
        presets = _presets(self.source)
        first = presets[0]
        uid = series_instance_uid or str(volume.attrs.get("SeriesInstanceUID", ""))
        super().__init__(
            series_instance_uid=uid,
            title=str(volume.attrs.get("SeriesDescription") or volume.name or uid),
            plane=plane,
            presets=presets,
            window_center=first["center"],
            window_width=first["width"],
            units=str(volume.attrs.get("units") or ""),
            **kwargs,
        )
        self._set_plane()
        self.observe(lambda _: self._set_plane(), names=["plane"])
        if labels is not None:
            self.set_labels(labels)
        self.on_msg(self._handle)
        self._refresh_annotations()

    @staticmethod
    def _frame_ids(archive: Archive | None, uid: str | None) -> list[str]:
        if archive is None or uid is None:
            return []
        try:
            from pacslab.storage import join
            from pacslab.volumes.store import volume_metadata

            path = archive._volume_row(uid, 0)["path"]
            return list(volume_metadata(archive.fs, join(archive.root, path))["frames"][0])
        except Exception:  # noqa: BLE001 - no per-slice identity (plain volumes)
            return []

    def _set_plane(self) -> None:
        self.geometry = self.source.geometry(self.plane)
        self.index = self.geometry["n_slices"] // 2

    # -- labels ---------------------------------------------------------------------------------
    def set_labels(self, labels: Any, *, opacity: float | None = None) -> None:
        """Overlay an integer label volume of the same (z, y, x) shape (``None`` removes it)."""
        if labels is None:
            self._labels, self.has_labels = None, False
            return
        data = labels.data if isinstance(labels, xr.DataArray) else np.asarray(labels)
        if tuple(data.shape) != self.source.shape:
            raise ValueError(f"Labels of shape {tuple(data.shape)!r} do not match the volume's {self.source.shape!r}.")
        self._labels = SliceSource(xr.DataArray(data, dims=("z", "y", "x"), attrs=self.source.attrs))
        if opacity is not None:
            self.label_opacity = float(opacity)
        self.has_labels = True
        self.send({"type": "reset"})

    # -- messages from the browser --------------------------------------------------------------
    def _handle(self, _: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        kind = content.get("type")
        try:
            if kind == "request":
                self.send_slice(str(content["plane"]), int(content["index"]), rid=content.get("rid"))
            elif kind == "annotate":
                self.add_annotation(
                    content["kind"], content["points"], plane=content["plane"], index=int(content["index"])
                )
            elif kind == "move" and self._store is not None:
                self._store.update(int(content["id"]), source=self.source, display_points=content["points"])
                self._refresh_annotations()
            elif kind == "delete":
                self.delete_annotation(int(content["id"]))
        except Exception as exc:  # noqa: BLE001 - shown in the widget, not lost in a kernel log
            self.error = f"{type(exc).__name__}: {exc}"

    def slice_message(self, plane: str, index: int) -> tuple[dict[str, Any], list[bytes]]:
        """The message and buffers that carry one slice (and its labels) to the browser."""
        image = self.source.slice(plane, index)
        dtype, raw = self.source.encode(image)
        msg: dict[str, Any] = {
            "type": "slice",
            "plane": plane,
            "index": index,
            "dtype": dtype,
            "shape": list(image.shape),
        }
        buffers = [raw]
        if self._labels is not None:
            labels = np.ascontiguousarray(self._labels.slice(plane, index), dtype="<u2")
            msg["labels"] = True
            buffers.append(labels.tobytes())
        return msg, buffers

    def send_slice(self, plane: str, index: int, *, rid: Any = None) -> None:
        """Send one slice to the browser and prefetch its neighbours."""
        msg, buffers = self.slice_message(plane, index)
        msg["rid"] = rid
        self.send(msg, buffers=buffers)
        self.source.prefetch(plane, index)

    # -- annotations ----------------------------------------------------------------------------
    def add_annotation(
        self, kind: str, points: Any, *, plane: str | None = None, index: int | None = None, label: str = ""
    ) -> int:
        """Measure and store an annotation drawn at display points ``[[column, row], …]``; returns its id."""
        if self._store is None:
            raise ValueError("This viewer shows a plain volume: annotations need an archive series.")
        plane = plane or self.plane
        index = self.index if index is None else index
        sop: tuple[str | None, int | None] = (None, None)
        if plane == "axial" and index < len(self._frames):
            uid, _, frame = self._frames[index].partition("#")
            sop = (uid, int(frame or 0))
        new = self._store.add(
            series_instance_uid=self.series_instance_uid,
            kind=kind,
            plane=plane,
            slice_index=index,
            display_points=points,
            source=self.source,
            label=label,
            sop=sop,
        )
        self._refresh_annotations()
        return new

    def delete_annotation(self, annotation_id: int) -> None:
        """Delete an annotation."""
        if self._store is not None:
            self._store.delete(annotation_id)
            self._refresh_annotations()

    @property
    def annotations(self) -> pd.DataFrame:
        """The series' annotations with their measurements (mm, mm², degrees, volume units)."""
        if self._store is None:
            return pd.DataFrame()
        return self._store.frame(series_instance_uid=self.series_instance_uid)

    def _refresh_annotations(self) -> None:
        frame = self.annotations
        keep = ["id", "kind", "plane", "slice_index", "label", "display_points", "measurements"]
        self.annotation_list = [] if frame.empty else frame[keep].to_dict("records")

    def export_sr(self, *, store: bool = True) -> Any:
        """The annotations as a DICOM SR (TID 1500), stored in the archive by default."""
        from pacslab.widgets._sr import write_sr

        if self.archive is None:
            raise ValueError("This viewer shows a plain volume: SR export needs an archive series.")
        return write_sr(self.archive, self.series_instance_uid, store=store, source=self.source)

    # -- linking -------------------------------------------------------------------------------
    def position(self, index: int | None = None) -> float:
        """Position (mm along the cut axis) of a slice of the current plane."""
        dim = {"axial": "z", "coronal": "y", "sagittal": "x"}[self.plane]
        coords = self.source.volume.coords.get(dim)
        i = self.index if index is None else index
        return float(coords.values[i]) if coords is not None else float(i)

    def nearest(self, position: float) -> int:
        """Index of the slice of the current plane nearest to *position* (mm)."""
        dim = {"axial": "z", "coronal": "y", "sagittal": "x"}[self.plane]
        coords = self.source.volume.coords.get(dim)
        if coords is None:
            return int(np.clip(round(position), 0, self.geometry["n_slices"] - 1))
        return int(np.argmin(np.abs(coords.values - position)))

    def link(self, other: Viewer) -> None:
        """Scroll *other* with this viewer and back, by slice position in mm."""

        def follow(src: Viewer, dst: Viewer) -> Any:
            def _on(change: Any) -> None:
                if src.plane == dst.plane:
                    target = dst.nearest(src.position(change["new"]))
                    if target != dst.index:
                        dst.index = target

            return _on

        self.observe(follow(self, other), names=["index"])
        other.observe(follow(other, self), names=["index"])


def side_by_side(archive: Archive, first: str, second: str, *, linked: bool = True) -> ipywidgets.HBox:
    """Two series next to each other, scrolling together (by slice position) when *linked*."""
    import ipywidgets

    a, b = Viewer(archive, first), Viewer(archive, second)
    if linked:
        a.link(b)
    box = ipywidgets.HBox([a, b])
    box.viewers = (a, b)  # type: ignore[attr-defined]
    return box

"""3-D view of a volume, offline: vtk.js volume rendering, or a canvas MIP fallback.

The volume is downsampled to at most ``size`` voxels a side and scaled to 8 bits over its value
range; the browser renders it. ``renderer="vtk"`` (default) uses vtk.js (WebGL), bundled with
esbuild from ``pacslab/widgets/js`` into ``static/vtk3d.js``: a rotatable volume rendering with the
three orthogonal centre slices and the labels in colour. ``renderer="mip"`` is the simple fallback
without WebGL: a maximum intensity projection computed on a canvas, rotated by dragging, with the
three centre slices. Window and labels are applied in the browser; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import numpy as np
import traitlets
import xarray as xr

from pacslab.widgets._slices import _plain_volume

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = ["View3D", "VolumeRendering", "downsample", "view3d"]

_STATIC = Path(__file__).parent / "static"


def downsample(volume: xr.DataArray, size: int) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Stride a (z, y, x) volume to at most *size* voxels a side; returns the array and its spacing."""
    plain = _plain_volume(volume)
    steps = [max(1, int(np.ceil(n / size))) for n in plain.shape]
    data = np.asarray(plain[:: steps[0], :: steps[1], :: steps[2]].values, dtype=np.float32)
    spacing = tuple(float(s) * k for s, k in zip(volume.attrs.get("spacing", (1.0, 1.0, 1.0)), steps, strict=True))
    return data, spacing  # type: ignore[return-value]


class View3D(anywidget.AnyWidget):
    """A rotating MIP and orthogonal slices of a downsampled volume (see :func:`view3d`)."""

    _esm = _STATIC / "view3d.js"
    _css = _STATIC / "widgets.css"

    data = traitlets.Bytes(b"").tag(sync=True)
    labels = traitlets.Bytes(b"").tag(sync=True)
    shape = traitlets.List([0, 0, 0]).tag(sync=True)
    spacing = traitlets.List([1.0, 1.0, 1.0]).tag(sync=True)
    value_range = traitlets.List([0.0, 1.0]).tag(sync=True)
    window_center = traitlets.Float(0.0).tag(sync=True)
    window_width = traitlets.Float(1.0).tag(sync=True)
    yaw = traitlets.Float(30.0).tag(sync=True)
    pitch = traitlets.Float(-20.0).tag(sync=True)
    rotate = traitlets.Bool(False).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)


class VolumeRendering(View3D):
    """vtk.js volume rendering with orthogonal slices of a downsampled volume (see :func:`view3d`)."""

    _esm = _STATIC / "vtk3d.js"


def view3d(
    volume_or_archive_series: xr.DataArray | tuple[Archive, str],
    labels: Any = None,
    *,
    size: int = 96,
    window: tuple[float, float] | None = None,
    renderer: str = "vtk",
) -> View3D:
    """Show a volume in 3-D: a rotating maximum intensity projection and three orthogonal slices.

    Runs offline: the (downsampled) volume travels to the browser as 8-bit bytes and is rendered
    there on a canvas; nothing is loaded from the internet.

    Parameters
    ----------
    volume_or_archive_series : xarray.DataArray or (Archive, str)
        A pacslab volume, or an archive and a SeriesInstanceUID.
    labels : array-like, optional
        An integer label volume of the same shape, shown in colour.
    size : int
        Largest side of the downsampled volume sent to the browser.
    window : (center, width), optional
        The initial window (the first DICOM preset, else the value range).
    renderer : {"vtk", "mip"}
        vtk.js volume rendering (WebGL), or the canvas MIP fallback.

    Notes
    -----
    With itkwidgets installed elsewhere (it does not fit this stack: it needs ``ipywidgets<8`` or
    loads its viewer from the internet), a pacslab volume is passed with its geometry as::

        volume = archive.load_volume(uid)
        itkwidgets.view(volume.values, spacing=volume.attrs["spacing"][::-1],
                        origin=volume.attrs["origin"])

    ``values`` is (z, y, x); ITK expects spacing in (x, y, z) order, hence the reversal. The
    direction cosines are in ``volume.attrs["direction"]`` (row, column, normal).
    """
    if renderer not in ("vtk", "mip"):
        raise ValueError(f"Unknown renderer {renderer!r}; use 'vtk' or 'mip'.")
    if isinstance(volume_or_archive_series, tuple):
        archive, uid = volume_or_archive_series
        volume = archive.open_volume(uid)
    else:
        volume = volume_or_archive_series
    data, spacing = downsample(volume, size)
    lo, hi = float(np.nanmin(data)), float(np.nanmax(data))
    scaled = np.clip((data - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8)
    presets = volume.attrs.get("window_presets") or []
    if window is None:
        window = (float(presets[0]["center"]), float(presets[0]["width"])) if presets else ((lo + hi) / 2, hi - lo)
    widget = (VolumeRendering if renderer == "vtk" else View3D)(
        data=scaled.tobytes(),
        shape=list(scaled.shape),
        spacing=list(spacing),
        value_range=[lo, hi],
        window_center=float(window[0]),
        window_width=float(window[1]),
        title=str(volume.attrs.get("SeriesDescription") or volume.name or ""),
    )
    if labels is not None:
        lab = labels.values if isinstance(labels, xr.DataArray) else np.asarray(labels)
        lab_da = xr.DataArray(lab, dims=("z", "y", "x"), attrs=volume.attrs)
        small, _ = downsample(lab_da, size)
        widget.labels = np.clip(small, 0, 255).astype(np.uint8).tobytes()
    return widget

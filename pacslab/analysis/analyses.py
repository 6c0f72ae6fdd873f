"""The built-in analyses; each maps one lazy volume to lazy results (see :class:`.AnalysisOutput`).

=======================  ====  ==========================================================
name                     for   what
=======================  ====  ==========================================================
intensity-statistics     any   count, mean, std, min, max, energy, percentiles, histogram
                               of the whole volume, or per CT ROI (``rois="ct"``)
body-mask                CT    body mask (SEG) and its volume (mL) and mean HU
ct-segmentation          CT    body, lung and bone masks (SEG); volume and HU per mask
roi-features             any   connected regions in [lower, upper] (SEG), with
                               first-order and shape features per region
=======================  ====  ==========================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dask
import numpy as np
import xarray as xr

from pacslab.analysis.cohort import AnalysisOutput, register_analysis
from pacslab.analysis.features import roi_features as _roi_features
from pacslab.analysis.segmentation import BODY, body_labels, components, ct_labels
from pacslab.processing.ops import whole
from pacslab.processing.reductions import histogram, intensity_statistics, percentiles_from_histogram

__all__ = ["body_mask_analysis", "ct_segmentation", "intensity_analysis", "roi_features_analysis"]

PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)


def _stat_rows(
    stats: Mapping[str, Any], counts: np.ndarray, edges: np.ndarray, roi: str | None, unit: str | None
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for key in ("count", "mean", "std", "min", "max", "energy"):
        value = float(stats[key]) if stats["count"] else float("nan")
        rows.append({"roi": roi, "feature": key, "value": value, "unit": None if key == "count" else unit})
    for q, v in percentiles_from_histogram(counts, edges, PERCENTILES).items():
        rows.append({"roi": roi, "feature": f"p{int(q):02d}", "value": v, "unit": unit})
    rows.append(
        {
            "roi": roi,
            "feature": "histogram",
            "value": None,
            "unit": unit,
            "data": {
                "low": float(edges[0]),
                "high": float(edges[-1]),
                "bins": len(counts),
                "counts": np.asarray(counts).tolist(),
            },
        }
    )
    return rows


@register_analysis("intensity-statistics")
def intensity_analysis(
    volume: xr.DataArray,
    *,
    rois: str | None = None,
    bin_width: float = 1.0,
    value_range: Sequence[float] | None = None,
) -> AnalysisOutput:
    """Intensity statistics and histogram (modality units), of the whole volume or per ROI.

    Parameters
    ----------
    volume : xarray.DataArray
    rois : {None, "ct", "body"}
        None: the whole volume; ``"body"``: inside the body mask; ``"ct"``: per body /
        lung / bone mask of :func:`~pacslab.analysis.segmentation.ct_labels`.
    bin_width : float
        Histogram bin width (1 HU by default; percentiles are exact to it).
    value_range : (low, high), optional
        Histogram range; the CT range in HU for CT.
    """
    unit = volume.attrs.get("units")
    rng = tuple(value_range) if value_range is not None else None
    masks: dict[str | None, Any] = {None: None}
    if rois in ("ct", "body"):
        labels = ct_labels(volume)
        masks = {"Body": labels.data > 0}
        if rois == "ct":
            masks.update({"Lung": labels.data == 2, "Bone": labels.data == 3})
    elif rois is not None:
        raise ValueError(f"rois must be None, 'body' or 'ct', got {rois!r}.")
    rows = []
    for roi, mask in masks.items():
        stats = intensity_statistics(volume, mask=mask)
        counts, edges = histogram(volume, mask=mask, bin_width=bin_width, value_range=rng)  # type: ignore[arg-type]
        rows.append(dask.delayed(_stat_rows, pure=True)(stats, counts, edges, roi, unit))
    return AnalysisOutput(rows=dask.delayed(_concat, pure=True)(*rows))


def _concat(*parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for p in parts for r in p]


def _mask_rows(
    hu: np.ndarray, labels: np.ndarray, voxel_ml: float, names: Mapping[int, str], nested: bool
) -> list[dict[str, Any]]:
    """Volume (mL) and HU statistics of every named label (*nested*: label 1 holds all the others)."""
    rows: list[dict[str, Any]] = []
    for value, name in names.items():
        m = labels > 0 if nested and value == BODY else labels == value
        n = int(m.sum())
        values = hu[m]
        rows += [
            {"roi": name, "feature": "volume_ml", "value": n * voxel_ml, "unit": "mL"},
            {"roi": name, "feature": "mean_hu", "value": float(values.mean()) if n else None, "unit": "HU"},
            {"roi": name, "feature": "std_hu", "value": float(values.std()) if n else None, "unit": "HU"},
        ]
    return rows


def _voxel_ml(volume: xr.DataArray) -> float:
    return float(np.prod(volume.attrs["spacing"])) / 1000.0


@register_analysis("body-mask", modality="CT")
def body_mask_analysis(volume: xr.DataArray, *, threshold: float = -500.0) -> AnalysisOutput:
    """CT body mask (saved as SEG) with its volume in mL and the HU inside it.

    Parameters
    ----------
    threshold : float
        HU separating tissue from air.
    """
    labels = body_labels(volume, threshold=threshold).data
    names = {BODY: "Body"}
    rows = dask.delayed(_mask_rows, pure=True)(whole(volume), labels, _voxel_ml(volume), names, False)
    label_array = xr.DataArray(labels, dims=volume.dims, coords=volume.coords, attrs={"segments": names})
    return AnalysisOutput(rows=rows, labels=label_array, segments=names)


@register_analysis("ct-segmentation", modality="CT")
def ct_segmentation(volume: xr.DataArray) -> AnalysisOutput:
    """CT body, lung and bone masks (one SEG, three segments) with volume (mL) and HU per mask."""
    labels = ct_labels(volume)
    names = dict(labels.attrs["segments"])
    rows = dask.delayed(_mask_rows, pure=True)(whole(volume), labels.data, _voxel_ml(volume), names, True)
    return AnalysisOutput(rows=rows, labels=labels, segments=names)


@register_analysis("roi-features")
def roi_features_analysis(
    volume: xr.DataArray,
    *,
    lower: float | None = None,
    upper: float | None = None,
    min_ml: float = 0.1,
    smoothing: float = 1.0,
    bin_width: float = 25.0,
) -> AnalysisOutput:
    """First-order and shape features of each connected region with values in [lower, upper].

    Parameters
    ----------
    lower, upper : float, optional
        Value range of the regions (modality units); at least one is needed.
    min_ml : float
        Smaller regions are ignored.
    smoothing, bin_width : float
        See :func:`pacslab.analysis.features.shape` and :func:`~pacslab.analysis.features.first_order`.
    """
    labels = components(
        volume,
        lower=None if lower is None else float(lower),
        upper=None if upper is None else float(upper),
        min_ml=float(min_ml),
    )
    rows = _roi_features(volume, labels, smoothing=float(smoothing), bin_width=float(bin_width))
    return AnalysisOutput(rows=rows, labels=labels)

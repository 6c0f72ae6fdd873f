"""Cohort analysis: a catalog selection → lazy volumes → one analysis over all of them, in parallel.

An *analysis* is a function of one lazy volume that returns lazy results
(:class:`AnalysisOutput`: measurement rows, a label volume, a new volume). The
runner opens the volumes of the selected series, builds every graph, and computes
them in bounded batches of series on the chosen scheduler (:mod:`.scheduler`),
so a cohort larger than memory streams through. Results go back into the archive:
measurements in the ``measurements`` table, label volumes as Zarr and DICOM SEG.
"""

from __future__ import annotations

import collections
import dataclasses
import inspect
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dask
import numpy as np
import pandas as pd
import xarray as xr

from pacslab._progress import progress_bar
from pacslab.analysis.results import package_versions, to_wide, write_measurements
from pacslab.analysis.scheduler import Runner, open_runner
from pacslab.config import config

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = [
    "Analysis",
    "AnalysisOutput",
    "CohortResult",
    "get_analysis",
    "list_analyses",
    "register_analysis",
    "run_cohort",
]

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class AnalysisOutput:
    """What an analysis returns for one volume; every part may be lazy.

    Attributes
    ----------
    rows : list of dict, dict, DataFrame or Delayed, optional
        Measurements: dicts with ``feature``, ``value`` and optionally ``roi``, ``unit``,
        ``data`` (JSON-able); a plain dict ``{feature: value}`` is one row per item.
    labels : xarray.DataArray, optional
        An integer label volume on the source grid: saved as Zarr and as DICOM SEG.
    segments : mapping of int to str, optional
        Names of the label values (``labels.attrs["segments"]`` by default).
    volume : xarray.DataArray, optional
        Any other computed volume (same grid): saved as Zarr.
    """

    rows: Any = None
    labels: xr.DataArray | None = None
    segments: Mapping[int, str] | None = None
    volume: xr.DataArray | None = None


@dataclasses.dataclass(frozen=True)
class Analysis:
    """A named analysis of one volume.

    Attributes
    ----------
    name : str
        What the CLI and the measurements table call it.
    function : callable
        ``function(volume, **parameters) -> AnalysisOutput | dict | DataFrame | DataArray``.
    description : str
    modality : str, optional
        The modality it is meant for (the default cohort filter).
    """

    name: str
    function: Callable[..., Any]
    description: str = ""
    modality: str | None = None

    @property
    def qualname(self) -> str:
        """The function's importable name, for provenance."""
        f = self.function
        return f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', repr(f))}"

    def parameters(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The function's defaults updated with *given* (unknown names raise ``ValueError``)."""
        signature = inspect.signature(self.function)
        params = list(signature.parameters.values())[1:]
        accepts_any = any(p.kind is p.VAR_KEYWORD for p in params)
        known = {p.name: p.default for p in params if p.kind is not p.VAR_KEYWORD}
        unknown = set(given) - set(known)
        if unknown and not accepts_any:
            raise ValueError(
                f"Analysis {self.name!r} has no parameter {sorted(unknown)!r}; its parameters are {sorted(known)!r}."
            )
        out = {k: v for k, v in known.items() if v is not inspect.Parameter.empty}
        out.update(given)
        return out


_REGISTRY: dict[str, Analysis] = {}


def register_analysis(
    name: str, function: Callable[..., Any] | None = None, *, description: str = "", modality: str | None = None
) -> Any:
    """Register an analysis under *name* (usable as a decorator).

    Examples
    --------
    >>> @register_analysis("mean-hu", modality="CT")  # doctest: +SKIP
    ... def mean_hu(volume):
    ...     return {"mean": volume.mean().data}
    """

    def add(f: Callable[..., Any]) -> Callable[..., Any]:
        doc = (inspect.getdoc(f) or "").split("\n", 1)[0]
        _REGISTRY[name] = Analysis(name, f, description or doc, modality)
        return f

    return add(function) if function is not None else add


def list_analyses() -> pd.DataFrame:
    """The registered analyses: name, modality, description."""
    from pacslab.analysis import analyses  # noqa: F401 - registers the built-ins

    return pd.DataFrame(
        [
            {"analysis": a.name, "modality": a.modality or "any", "description": a.description}
            for a in sorted(_REGISTRY.values(), key=lambda a: a.name)
        ]
    )


def get_analysis(analysis: str | Analysis | Callable[..., Any]) -> Analysis:
    """An :class:`Analysis` from a registered name, an Analysis, or a plain function."""
    from pacslab.analysis import analyses  # noqa: F401 - registers the built-ins

    if isinstance(analysis, Analysis):
        return analysis
    if isinstance(analysis, str):
        if analysis not in _REGISTRY:
            raise ValueError(f"Unknown analysis {analysis!r}; the registered analyses are {sorted(_REGISTRY)!r}.")
        return _REGISTRY[analysis]
    if callable(analysis):
        name = getattr(analysis, "__name__", "function").replace("_", "-")
        return Analysis(name, analysis, inspect.getdoc(analysis) or "")
    raise TypeError(f"An analysis is a name, an Analysis or a function, not {type(analysis).__name__}.")


@dataclasses.dataclass
class CohortResult:
    """What :func:`run_cohort` did.

    Attributes
    ----------
    run_id : str
    analysis : str
    measurements : pandas.DataFrame
        One row per (series, ROI, feature), long format.
    derived : pandas.DataFrame
        Derived volumes written: source series, Zarr path, SEG series.
    failed : list of (str, str)
        Series that failed, with the error.
    seconds : float
    scheduler : str
    dashboard_link : str or None
    """

    run_id: str
    analysis: str
    measurements: pd.DataFrame
    derived: pd.DataFrame
    failed: list[tuple[str, str]]
    seconds: float
    scheduler: str
    dashboard_link: str | None = None

    def __repr__(self) -> str:
        return (
            f"<CohortResult {self.analysis!r} run {self.run_id}: {self.measurements['SeriesInstanceUID'].nunique() if not self.measurements.empty else 0} "  # noqa: E501
            f"series, {len(self.measurements)} values, {len(self.derived)} derived volumes, "
            f"{len(self.failed)} failed, {self.seconds:.1f} s on {self.scheduler}>"
        )

    def wide(self) -> pd.DataFrame:
        """One row per (series, ROI), one column per feature."""
        m = self.measurements
        return m if m.empty else to_wide(m, ["SeriesInstanceUID", "roi"])

    def summary(self) -> pd.DataFrame:
        """A short table for the CLI: per series and ROI, the main values."""
        w = self.wide()
        if w.empty:
            return w
        preferred = [
            c
            for c in w.columns
            if c
            in (
                "volume_ml",
                "mean",
                "std",
                "count",
                "firstorder_Mean",
                "shape_SurfaceArea",
                "shape_Sphericity",
                "mean_hu",
            )
        ]
        columns = ["SeriesInstanceUID", "roi"] + (preferred or [c for c in w.columns[2:8]])
        return w[columns]


def _series_uids(archive: Archive, series: Any, analysis: Analysis, filters: Mapping[str, Any]) -> list[str]:
    """The cohort's SeriesInstanceUIDs; by default the series matching *filters* that have a volume."""
    if series is not None and filters:
        raise ValueError(f"Give either a cohort (series=...) or DICOM filters, not both (filters {sorted(filters)!r}).")
    if series is None:
        query = dict(filters)
        if analysis.modality and "Modality" not in query:
            query["Modality"] = analysis.modality
        frame = archive.series(**query)
        return [str(u) for u in frame.loc[frame["volume_state"] == "ready", "SeriesInstanceUID"]]
    if isinstance(series, pd.DataFrame):  # an explicit selection: series without a volume are reported as failed
        return [str(u) for u in series["SeriesInstanceUID"]]
    if isinstance(series, str):
        return [series]
    return [str(u) for u in series]


def _normalise_rows(value: Any) -> list[dict[str, Any]]:
    """Computed rows of any accepted shape → list of row dicts."""
    if value is None:
        return []
    if isinstance(value, pd.DataFrame):
        if {"feature", "value"} <= set(value.columns):
            return value.to_dict("records")
        rows = []
        for index, record in value.iterrows():
            for key, v in record.items():
                rows.append(
                    {
                        "roi": None if isinstance(index, int) and len(value) == 1 else str(index),
                        "feature": str(key),
                        "value": v,
                    }
                )
        return rows
    if isinstance(value, Mapping):
        rows = []
        for key, v in value.items():
            arr = np.asarray(v)
            if arr.ndim == 0:
                rows.append({"feature": str(key), "value": arr.item()})
            else:
                rows.append({"feature": str(key), "value": None, "data": arr.tolist()})
        return rows
    return [dict(r) for r in value]


def _output(value: Any) -> AnalysisOutput:
    if isinstance(value, AnalysisOutput):
        return value
    if isinstance(value, xr.DataArray):
        return AnalysisOutput(volume=value)
    return AnalysisOutput(rows=value)


def _graph(output: AnalysisOutput) -> Any:
    """One Delayed computing ``(rows, labels, volume)`` of an output (NumPy arrays, plain rows)."""
    labels = output.labels.data if output.labels is not None else None
    volume = output.volume.data if output.volume is not None else None
    return dask.delayed((output.rows, labels, volume), traverse=True)


def run_cohort(
    archive: Archive,
    analysis: str | Analysis | Callable[..., Any],
    series: Any = None,
    *,
    parameters: Mapping[str, Any] | None = None,
    scheduler: Any = None,
    n_workers: int | None = None,
    batch_size: int | None = None,
    save: bool = True,
    save_seg: bool = True,
    progress: bool = False,
    **filters: Any,
) -> CohortResult:
    """Run one analysis over a cohort of series, in parallel with dask, and keep the results.

    Parameters
    ----------
    archive : pacslab.Archive
    analysis : str, Analysis or callable
        A registered name (see :func:`list_analyses`), or your own function of one lazy
        volume returning lazy results (a dict of dask scalars, a DataFrame, a DataArray
        or an :class:`AnalysisOutput`).
    series : DataFrame, list of str or str, optional
        The cohort: a selection from :meth:`pacslab.Archive.series` or SeriesInstanceUIDs.
        By default the series matching *filters* (and the analysis' modality).
    parameters : mapping, optional
        Keyword arguments of the analysis function.
    scheduler : str or distributed.Client, optional
        See :func:`pacslab.analysis.scheduler.open_runner` (``analysis.scheduler``).
    n_workers : int, optional
        Workers of a new LocalCluster.
    batch_size : int, optional
        Series computed at once (``analysis.batch-size``; 0 means twice the workers):
        memory holds about this many volumes and their results.
    save : bool
        Write measurements and derived volumes into the archive.
    save_seg : bool
        Also encode label volumes as DICOM SEG and ingest them.
    progress : bool
        Progress bars (dask's ProgressBar locally, ``distributed.progress`` on a cluster).
    **filters
        DICOM matching filters for the default cohort (``Modality="CT"``, ``PatientID="PL*"``).

    Returns
    -------
    CohortResult

    Examples
    --------
    >>> cohort = archive.series(Modality="CT", BodyPartExamined="CHEST")  # doctest: +SKIP
    >>> result = run_cohort(archive, "ct-segmentation", cohort, scheduler="local-cluster")  # doctest: +SKIP
    >>> result.wide()  # doctest: +SKIP
    """
    spec = get_analysis(analysis)
    params = spec.parameters(dict(parameters or {}))
    uids = _series_uids(archive, series, spec, filters)
    run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    versions = package_versions()
    start = time.perf_counter()
    frames: list[pd.DataFrame] = []
    derived: list[dict[str, Any]] = []
    failed: list[tuple[str, str]] = []
    with open_runner(scheduler, n_workers=n_workers) as runner:
        if runner.dashboard_link and progress:
            print(f"dask dashboard: {runner.dashboard_link}")
        size = int(config.get("analysis.batch-size") if batch_size is None else batch_size) or 2 * runner.workers
        bar = progress_bar(len(uids), unit="series", desc=spec.name, show=progress)
        if runner.client is not None:
            results = _stream(archive, spec, params, uids, runner, window=size)
        else:
            batches = (uids[i : i + size] for i in range(0, len(uids), size))
            results = (r for batch in batches for r in _run_batch(archive, spec, params, batch, runner))
        for uid, result in results:
            bar.update(1)
            if isinstance(result, BaseException):
                failed.append((uid, f"{type(result).__name__}: {result}"))
                logger.warning("analysis %s failed on series %s: %s", spec.name, uid, result)
                continue
            volume, output, computed = result
            frame, made = _keep(
                archive, spec, params, run_id, versions, volume, output, computed, save=save, save_seg=save_seg
            )
            frames.append(frame)
            derived += made
        bar.close()
        name, link = runner.name, runner.dashboard_link
    seconds = time.perf_counter() - start
    archive.catalog.audit(
        "analysis",
        service="analysis",
        uids=uids[:1000],
        count=len(uids) - len(failed),
        outcome="success" if not failed else "partial",
        detail=f"{spec.name} run {run_id}",
    )
    measurements = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["SeriesInstanceUID", "roi", "feature", "value", "unit"])
    )
    return CohortResult(run_id, spec.name, measurements, pd.DataFrame(derived), failed, seconds, name, link)


def _open(archive: Archive, uid: str) -> xr.DataArray:
    """A series' volume in the dask chunks of ``analysis.chunks`` (few, large tasks: less scheduling)."""
    wanted = dict(zip(("z", "y", "x"), config.get("analysis.chunks") or (), strict=False))
    return archive.open_volume(uid, chunks=wanted or None)


def _build(archive: Archive, spec: Analysis, params: Mapping[str, Any], uid: str) -> Any:
    """``(volume, output)`` of one series, lazily; or the exception that building it raised."""
    try:
        volume = _open(archive, uid)
        return volume, _output(spec.function(volume, **params))
    except Exception as exc:  # noqa: BLE001 - one bad series never stops a cohort
        return exc


@dataclasses.dataclass(frozen=True)
class _Sealed:
    """A series' whole graph, carried as one argument (distributed does not look inside it)."""

    graph: Any


def _compute_sealed(sealed: _Sealed) -> Any:
    """Run on a worker: compute a series' graph there, in the worker's thread (one task per series)."""
    return dask.compute(sealed.graph, scheduler="sync")[0]


def _stream(
    archive: Archive, spec: Analysis, params: Mapping[str, Any], uids: Sequence[str], runner: Runner, *, window: int
) -> Iterator[tuple[str, Any]]:
    """On a dask.distributed cluster: each series its own future, at most *window* in flight, results in order.

    A series is one task: its graph (a few dozen small tasks) runs inside the worker that takes
    it, which reads the volume from the archive's storage, instead of each small task paying the
    scheduler's round trips. Building the next graphs overlaps the cluster's work, no worker
    waits for the slowest series of a batch, and a failing series fails alone.
    """
    pending: collections.deque[tuple[str, Any]] = collections.deque()

    def finish(uid: str, item: Any) -> tuple[str, Any]:
        if isinstance(item, BaseException):
            return uid, item
        volume, output, future = item
        try:
            return uid, (volume, output, future.result())
        except Exception as exc:  # noqa: BLE001
            return uid, exc

    tag = uuid.uuid4().hex[:8]
    for uid in uids:
        built = _build(archive, spec, params, uid)
        if not isinstance(built, BaseException):
            task = _Sealed(_graph(built[1]))
            built = (*built, runner.client.submit(_compute_sealed, task, key=f"{spec.name}-{uid}-{tag}"))
        pending.append((uid, built))
        if len(pending) >= window:
            yield finish(*pending.popleft())
    while pending:
        yield finish(*pending.popleft())


def _run_batch(
    archive: Archive,
    spec: Analysis,
    params: Mapping[str, Any],
    batch: Sequence[str],
    runner: Runner,
) -> Iterable[tuple[str, Any]]:
    """Build and compute the graphs of a batch; a failing series is retried alone to isolate it."""
    built = [(uid, _build(archive, spec, params, uid)) for uid in batch]
    ready = [(uid, b) for uid, b in built if not isinstance(b, BaseException)]
    try:
        values = runner.compute([_graph(o) for _, (_, o) in ready])
        results = dict(zip([u for u, _ in ready], values, strict=True))
    except Exception:  # noqa: BLE001
        results = {}
        for uid, (_, output) in ready:
            try:
                results[uid] = runner.compute([_graph(output)])[0]
            except Exception as exc:  # noqa: BLE001
                results[uid] = exc
    for uid, b in built:
        if isinstance(b, BaseException):
            yield uid, b
        elif isinstance(results[uid], BaseException):
            yield uid, results[uid]
        else:
            yield uid, (b[0], b[1], results[uid])


def _keep(
    archive: Archive,
    spec: Analysis,
    params: Mapping[str, Any],
    run_id: str,
    versions: Mapping[str, str],
    volume: xr.DataArray,
    output: AnalysisOutput,
    computed: tuple[Any, Any, Any],
    *,
    save: bool,
    save_seg: bool,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Store one series' computed results; returns its measurement rows and derived volumes."""
    from pacslab.analysis.derived import write_derived_volume, write_seg

    rows_value, labels, new_volume = computed
    if dask.is_dask_collection(rows_value):  # a Delayed returned inside a structure
        rows_value = dask.compute(rows_value, scheduler="synchronous")[0]
    rows = [{"roi": None, **r} for r in _normalise_rows(rows_value)]
    uid = volume.attrs["SeriesInstanceUID"]
    made: list[dict[str, Any]] = []
    seg_uid = None
    if labels is not None and save:
        labels = np.asarray(labels)
        segments = dict(output.segments or output.labels.attrs.get("segments") or {})  # type: ignore[union-attr]
        segments = segments or {int(v): f"region_{int(v)}" for v in np.unique(labels) if v}
        if save_seg and labels.any():
            seg_uid, _ = write_seg(archive, labels, volume, segments=segments, algorithm=spec.name)
        path = write_derived_volume(
            archive, labels, volume, analysis=spec.name, run_id=run_id, segments=segments, seg_series_uid=seg_uid
        )
        made.append({"SourceSeriesInstanceUID": uid, "kind": "labels", "path": path, "SeriesInstanceUID": seg_uid})
    if new_volume is not None and save:
        path = write_derived_volume(
            archive, np.asarray(new_volume), volume, analysis=spec.name, run_id=run_id, kind="volume"
        )
        made.append({"SourceSeriesInstanceUID": uid, "kind": "volume", "path": path, "SeriesInstanceUID": None})
    provenance = {
        "run_id": run_id,
        "analysis": spec.name,
        "StudyInstanceUID": volume.attrs.get("StudyInstanceUID"),
        "SeriesInstanceUID": uid,
        "derived_series_uid": seg_uid,
        "function": spec.qualname,
        "parameters": {k: _jsonable(v) for k, v in params.items()},
        "versions": dict(versions),
        "source_uids": {
            "StudyInstanceUID": volume.attrs.get("StudyInstanceUID"),
            "SeriesInstanceUID": uid,
            "FrameOfReferenceUID": volume.attrs.get("FrameOfReferenceUID"),
        },
    }
    if save and rows:
        write_measurements(archive, rows, provenance=provenance)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame.insert(0, "SeriesInstanceUID", uid)
        frame["derived_series_uid"] = seg_uid
    return frame, made


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool | type(None)):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)

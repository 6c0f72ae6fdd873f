"""Where a cohort analysis runs: the local threaded scheduler, a LocalCluster, or a cluster by address.

The same graphs run everywhere; workers of a cluster read the volumes through the
archive's storage (a path they share, or an fsspec URL they can reach).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import dask

from pacslab.config import config

__all__ = ["Runner", "open_runner"]

logger = logging.getLogger(__name__)

#: Local dask schedulers by name.
LOCAL = ("threads", "synchronous", "processes")
#: Names that start a dask.distributed LocalCluster.
LOCAL_CLUSTER = ("local-cluster", "localcluster", "local")


class Runner:
    """Computes lists of dask collections on one scheduler, with an optional progress bar.

    Attributes
    ----------
    name : str
        ``"threads"``, ``"synchronous"``, ``"processes"`` or the distributed scheduler's address.
    client : distributed.Client or None
    dashboard_link : str or None
    """

    def __init__(self, name: str, client: Any = None) -> None:
        self.name = name
        self.client = client
        self.dashboard_link: str | None = getattr(client, "dashboard_link", None) if client is not None else None

    def __repr__(self) -> str:
        return f"<pacslab.analysis.Runner {self.name!r}>"

    @property
    def workers(self) -> int:
        """Threads that compute at once."""
        if self.client is None:
            import os

            return 1 if self.name == "synchronous" else (os.cpu_count() or 1)
        return max(1, sum(self.client.nthreads().values()))

    def compute(self, objects: Sequence[Any], *, progress: bool = False) -> list[Any]:
        """Compute *objects* together; returns their values in order."""
        if self.client is None:
            if progress:
                from dask.diagnostics import ProgressBar

                with ProgressBar(minimum=1.0):
                    return list(dask.compute(*objects, scheduler=self.name))
            return list(dask.compute(*objects, scheduler=self.name))
        futures = self.client.compute(list(objects))
        if progress:
            from distributed import progress as show

            try:
                show(futures)
            except ImportError:  # a notebook without ipywidgets: the text bar
                show(futures, notebook=False)
        return list(self.client.gather(futures))


def _resolve(scheduler: Any) -> Any:
    value = config.get("analysis.scheduler") if scheduler is None else scheduler
    return value if value not in (None, "") else "threads"


@contextlib.contextmanager
def open_runner(scheduler: Any = None, *, n_workers: int | None = None) -> Iterator[Runner]:
    """Open the scheduler an analysis runs on, and close what was opened here on exit.

    Parameters
    ----------
    scheduler : str or distributed.Client, optional
        ``"threads"`` (default), ``"synchronous"``, ``"processes"``; ``"local-cluster"``
        for a new :class:`distributed.LocalCluster` of *n_workers* single-threaded worker
        processes; a scheduler address such as ``"tcp://10.0.0.5:8786"``; or a
        :class:`distributed.Client`. Defaults to the ``analysis.scheduler`` setting
        (environment ``PACSLAB_ANALYSIS__SCHEDULER``).
    n_workers : int, optional
        Workers of a new LocalCluster (``analysis.n-workers``; 0 means one per core).

    Raises
    ------
    ValueError
        *scheduler* is none of these.
    """
    spec = _resolve(scheduler)
    if not isinstance(spec, str):  # a Client
        yield Runner(str(getattr(spec, "scheduler", spec)), client=spec)
        return
    if spec in LOCAL:
        yield Runner(spec)
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - distributed is in the analysis extra
        raise ImportError(f"Running on {spec!r} needs dask.distributed: pip install 'pacslab[analysis]'.") from exc
    if spec.lower() in LOCAL_CLUSTER:
        n = int(config.get("analysis.n-workers") if n_workers is None else n_workers)
        import os

        n = n if n > 0 else (os.cpu_count() or 1)
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
            with Client(cluster) as client:
                logger.info("LocalCluster with %d workers; dashboard %s", n, client.dashboard_link)
                yield Runner(cluster.scheduler_address, client=client)
        return
    if "://" in spec or ":" in spec:
        with Client(spec, timeout=int(config.get("analysis.connect-timeout"))) as client:
            yield Runner(spec, client=client)
        return
    raise ValueError(
        f"Unknown scheduler {spec!r}: expected one of {LOCAL + ('local-cluster',)}, "
        "a scheduler address such as 'tcp://127.0.0.1:8786', or a distributed.Client."
    )

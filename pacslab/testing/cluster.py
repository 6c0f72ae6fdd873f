"""A real dask.distributed cluster on loopback for tests: ``dask scheduler`` + ``dask worker`` processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from pacslab.testing.peers import free_port

__all__ = ["DaskCluster"]


class DaskCluster:
    """``dask scheduler`` and *n_workers* single-threaded ``dask worker`` processes on 127.0.0.1.

    Parameters
    ----------
    directory : path
        Logs and the workers' local directories.
    n_workers : int
    env : dict, optional
        Extra environment of the processes (e.g. ``PACSLAB_*`` settings the workers need).

    Examples
    --------
    >>> with DaskCluster(tmp_path) as cluster:  # doctest: +SKIP
    ...     archive.ingest(folder, scheduler=cluster.address)
    """

    def __init__(self, directory: str | os.PathLike[str], *, n_workers: int = 2, env: dict[str, str] | None = None):
        self.directory = Path(directory)
        self.n_workers = n_workers
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False", **(env or {})}
        self._procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[Any]] = []

    def _spawn(self, args: list[str], log: str) -> None:
        out = open(self.directory / log, "w")  # noqa: SIM115 - closed in stop()
        self._logs.append(out)
        self._procs.append(
            subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=out, stderr=subprocess.STDOUT, env=self.env)
        )

    def start(self) -> DaskCluster:
        """Start the scheduler and the workers; return once every worker has joined."""
        import distributed

        self.directory.mkdir(parents=True, exist_ok=True)
        self._spawn(["scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"], "scheduler.log")
        try:
            for n in range(self.n_workers):
                self._spawn(
                    ["worker", self.address, "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1",
                     "--no-dashboard", "--name", f"w{n}", "--local-directory", str(self.directory / f"w{n}")],
                    f"worker{n}.log",
                )  # fmt: skip
            with distributed.Client(self.address, timeout=30) as client:
                client.wait_for_workers(self.n_workers, timeout=60)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate the processes (kill those that do not stop)."""
        for p in reversed(self._procs):
            p.terminate()
        for p in reversed(self._procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self._logs:
            log.close()
        self._procs, self._logs = [], []

    def __enter__(self) -> DaskCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

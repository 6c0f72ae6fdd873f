"""The same cohort analysis on a real dask.distributed cluster (scheduler + 2 worker processes) as locally."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pacslab import analysis
from pacslab.testing.cluster import DaskCluster

distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (pacslab[analysis])")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1, stopped in teardown."""
    with DaskCluster(tmp_path_factory.mktemp("cluster"), n_workers=2) as running:
        yield running.address


def _values(result):
    m = result.measurements
    m = m[m["value"].notna()]
    return {(r.SeriesInstanceUID, r.roi, r.feature): r.value for r in m.itertuples()}


def test_cohort_on_a_remote_cluster_equals_local(phantom_archive, cluster):
    archive, truths, chests = phantom_archive
    cohort = archive.series(SeriesInstanceUID=chests)
    local = analysis.run_cohort(archive, "ct-segmentation", cohort, save=False)
    remote = analysis.run_cohort(archive, "ct-segmentation", cohort, scheduler=cluster, save=False, batch_size=1)
    assert not remote.failed and remote.scheduler == cluster
    assert _values(remote) == pytest.approx(_values(local))
    # both workers took part (the volumes were read from the archive's storage by each)
    with distributed.Client(cluster) as client:
        logs = client.run(
            lambda dask_worker: len(dask_worker.data) + len(dask_worker.state.log),
        )
    assert len(logs) == 2 and all(n > 0 for n in logs.values())


def test_scheduler_from_the_environment_through_the_cli(phantom_archive, cluster):
    archive, truths, chests = phantom_archive
    env = {**os.environ, "PACSLAB_ANALYSIS__SCHEDULER": cluster}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pacslab.cli.main",
            "analyze",
            str(Path(archive.root)),
            "intensity-statistics",
            "--SeriesInstanceUID",
            chests[0],
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert f"on {cluster}" in out.stdout


def test_local_cluster(phantom_archive):
    archive, truths, chests = phantom_archive
    uid = truths["oblique"]["series_instance_uid"]
    params = {"lower": 150}
    local = analysis.run_cohort(archive, "roi-features", [uid], parameters=params, save=False)
    cluster = analysis.run_cohort(
        archive, "roi-features", [uid], parameters=params, save=False, scheduler="local-cluster", n_workers=1
    )
    assert cluster.scheduler.startswith("tcp://127.0.0.1")
    assert _values(cluster) == pytest.approx(_values(local))


def _fails_on_small_volumes(volume):
    """Computes on the workers; raises there (not while building the graph) for volumes under 40 slices."""
    import dask

    def check(n):
        if n < 40:
            raise ValueError(f"only {n} slices")
        return {"slices": float(n)}

    return dask.delayed(check)(volume.sizes["z"])


def test_a_series_failing_on_the_cluster_fails_alone(phantom_archive, cluster):
    archive, truths, chests = phantom_archive
    uids = list(archive.series(Modality="CT")["SeriesInstanceUID"])
    sizes = {uid: archive.open_volume(uid).sizes["z"] for uid in uids}
    assert any(n < 40 for n in sizes.values()) and any(n >= 40 for n in sizes.values()), sizes
    result = analysis.run_cohort(archive, _fails_on_small_volumes, uids, scheduler=cluster, save=False, batch_size=2)
    assert sorted(uid for uid, _ in result.failed) == sorted(u for u, n in sizes.items() if n < 40)
    assert all("ValueError: only" in reason for _, reason in result.failed)
    got = result.wide().set_index("SeriesInstanceUID")["slices"].to_dict()
    assert got == {u: float(n) for u, n in sizes.items() if n >= 40}

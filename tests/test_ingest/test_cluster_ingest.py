"""Ingest on a real dask.distributed cluster (scheduler + 2 worker processes on loopback) equals local ingest."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
from pydicom.data import get_testdata_file

import pacslab
from pacslab import examples
from pacslab.testing.cluster import DaskCluster

distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (pacslab[analysis])")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with DaskCluster(tmp_path_factory.mktemp("ingest-cluster"), n_workers=2) as running:
        yield running.address


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Two CT series (enough files to be batched out to workers), a pydicom file and a bad file."""
    folder = tmp_path_factory.mktemp("cluster-in")
    for seed in (1, 2):
        examples.write_series(examples.generate_ct_series(seed=seed, n_slices=40, rows=64, columns=64), folder / f"ct{seed}")
    shutil.copy(get_testdata_file("MR_small.dcm"), folder / "mr.dcm")
    (folder / "broken.dcm").write_bytes(b"DICM but not really")
    return folder


def _content(archive):
    rows = archive.instances(fields=["SOPInstanceUID", "sha256"])
    return dict(zip(rows.SOPInstanceUID, rows.sha256, strict=True))


def test_ingest_on_a_cluster_equals_local(tmp_path, inputs, cluster):
    local = pacslab.open_archive(tmp_path / "local", create=True)
    remote = pacslab.open_archive(tmp_path / "remote", create=True)
    expected = local.ingest(inputs, progress=False)
    with distributed.Client(cluster) as client:
        before = sum(client.run(lambda dask_worker: len(dask_worker.state.log)).values())
        got = remote.ingest(inputs, progress=False, scheduler=client)
        per_worker = client.run(lambda dask_worker: len(dask_worker.state.log))
    assert (got.new, len(got.rejected)) == (expected.new, len(expected.rejected)) == (81, 1)
    assert "broken.dcm" in got.rejected[0][0]
    assert _content(remote) == _content(local)
    assert sum(per_worker.values()) > before and all(n > 0 for n in per_worker.values())  # both workers worked
    for uid in local.series(Modality="CT").SeriesInstanceUID:
        np.testing.assert_array_equal(remote.load_volume(uid).values, local.load_volume(uid).values)
        assert remote.open_volume(uid).attrs["affine"] == local.open_volume(uid).attrs["affine"]
    assert remote.verify().ok


def test_cli_ingest_with_a_scheduler_address(tmp_path, inputs, cluster):
    root = tmp_path / "cli"
    pacslab.open_archive(root, create=True).close()
    out = subprocess.run(
        [sys.executable, "-m", "pacslab.cli.main", "ingest", str(root), str(inputs / "ct1"), "--scheduler", cluster,
         "--no-progress"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert len(pacslab.open_archive(root).instances()) == 40


def test_unknown_scheduler_is_refused(tmp_path, inputs):
    archive = pacslab.open_archive(tmp_path / "a", create=True)
    with pytest.raises(ValueError, match="ingest.scheduler"):
        archive.ingest(inputs / "ct1", progress=False, scheduler="nonsense")

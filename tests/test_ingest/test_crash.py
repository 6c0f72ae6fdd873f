"""SIGKILL in the middle of an ingest leaves a consistent archive; ingesting again completes it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

import pacslab
from pacslab import examples


@pytest.fixture(scope="module")
def many_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crash-input")
    for s in range(4):
        datasets = examples.generate_ct_series(seed=100 + s, n_slices=60, rows=256, columns=256)
        examples.write_series(datasets, folder / f"s{s}", naming="random", seed=s)
    return folder


def _count(db: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM instances").fetchone()[0])
    except sqlite3.Error:
        return 0


def _start(root, folder):
    env = {**os.environ, "PACSLAB_INGEST__COMMIT_EVERY": "8", "PACSLAB_INGEST__BATCH_SIZE": "4"}
    return subprocess.Popen([sys.executable, "-m", "pacslab.cli.main", "ingest", str(root), str(folder)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


@pytest.mark.slow
def test_sigkill_mid_ingest_then_verify_and_complete(tmp_path, many_files):
    root = tmp_path / "archive"
    pacslab.open_archive(root, create=True).close()
    total = sum(1 for _ in many_files.rglob("*") if _.is_file())
    db = str(root / "catalog.sqlite")
    interrupted = []
    for wanted in (1, total // 2, total):  # early, half-way, while volumes are being built
        proc = _start(root, many_files)
        deadline = time.monotonic() + 120
        while _count(db) < wanted and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # the process and its workers
        proc.wait(timeout=30)
        interrupted.append(proc.returncode == -signal.SIGKILL and _count(db) < total)
        with pacslab.open_archive(root) as archive:
            report = archive.verify()
            assert report.ok, report.problems
    assert any(interrupted), "the ingest finished before it could be killed; the test proved nothing"
    with pacslab.open_archive(root) as archive:
        final = archive.ingest(many_files, progress=False)
        assert final.ok
        assert final.new + final.duplicate == total
        assert len(archive.instances()) == total
        archive.remove_orphan_volumes(older_than=0)  # generations of builds killed before their commit
        report = archive.verify()
        assert report.ok and report.orphans == [] and report.orphan_volumes == [] and report.pending == []
        assert len(archive.volumes()) == 4
        generations = [g for s in archive.fs.ls(f"{archive.root}/volumes") for g in archive.fs.ls(s)]
        assert len(generations) == 4  # one a series: the killed builds' are gone, the live ones stay
        for uid in archive.series().SeriesInstanceUID:
            assert archive.open_volume(uid).shape == (60, 256, 256)

"""A cohort streams through memory in batches: peak memory does not grow with the cohort's size."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import pacslab
from pacslab import examples

N_SLICES, SIZE = 48, 256
#: One volume as the analysis holds it: float32 HU + its uint8 mask.
VOLUME_MB = N_SLICES * SIZE * SIZE * (4 + 1) / 2**20

# The process's own peak (VmHWM, KiB): getrusage's ru_maxrss starts at the parent's peak, inherited across
# fork and exec, which would hide any growth below it (a pytest worker's peak after many tests).
RUN = """
import sys, pacslab
from pacslab.analysis import run_cohort
def peak():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
archive = pacslab.open_archive(sys.argv[1])
cohort = archive.series(Modality="CT").head(int(sys.argv[2]))
before = peak()
result = run_cohort(archive, "body-mask", cohort, save=True, save_seg=False, batch_size=int(sys.argv[3]),
                    scheduler="threads")
assert not result.failed and len(result.wide()) == len(cohort), result.failed
print(before, peak())
"""


@pytest.fixture(scope="module")
def cohort_archive(tmp_path_factory):
    base = tmp_path_factory.mktemp("memory")
    for seed in range(12):
        datasets = examples.generate_ct_series(seed=300 + seed, n_slices=N_SLICES, rows=SIZE, columns=SIZE)
        examples.write_series(datasets, base / "in" / f"ct{seed}")
    archive = pacslab.open_archive(base / "archive", create=True)
    archive.ingest(base / "in", progress=False)
    archive.close()
    return base / "archive"


def _peak_growth_mb(root, n_series: int, batch_size: int = 2) -> float:
    env = {**os.environ, "MALLOC_ARENA_MAX": "1"}  # one malloc arena: less allocator noise between runs
    out = subprocess.run([sys.executable, "-c", RUN, str(root), str(n_series), str(batch_size)], capture_output=True,
                         text=True, timeout=300, env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    before, after = map(int, out.stdout.split())
    return (after - before) / 1024  # KiB → MiB


def test_peak_memory_does_not_grow_with_the_cohort(cohort_archive):
    """Label volumes are written and dropped batch by batch; only small result rows accumulate."""
    small = _peak_growth_mb(cohort_archive, 2)
    large = _peak_growth_mb(cohort_archive, 12)
    # Ten more series would add at least 10 volumes (150 MB) if the cohort were held at once;
    # batched by 2, the peak stays that of a batch: allocator noise only.
    assert large - small < 5 * VOLUME_MB, (small, large, VOLUME_MB)

"""Cohort analysis benchmark (issue 5): HU statistics + body-mask volume over N CT series.

pacslab's path (Zarr volumes + dask, the archive's ``run_cohort``) against a plain pydicom
loop over the original files, on the same machine, in one run: every method runs once to warm
up (imports, first-use caches), then the median of ``--repeat`` timed runs is reported; then the same cohort on a
dask.distributed LocalCluster of 1 and of 2 single-threaded workers. The loop computes the body
mask with SciPy's textbook calls (binary_opening, label, binary_fill_holes); a second loop row
uses pacslab's faster ``body_mask`` (same result), to show how much of the gain that alone is.

Run by hand: ``python benchmarks/analysis.py [--series 8] [--slices 60] [--size 512]``.
Prints a Markdown table. Targets (measured, not asserted): ≥ 5× the pydicom loop; 1 → 2 workers ≥ 1.6×.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import _peers  # noqa: E402


def hu_statistics(volume):
    """Whole-volume HU statistics, lazily."""
    from pacslab.processing import intensity_statistics

    stats = intensity_statistics(volume)
    return {k: stats[k] for k in ("mean", "std", "min", "max")}


def hu_and_body(volume):
    """Whole-volume HU statistics and the body mask's volume (mL), lazily."""
    from pacslab.analysis.segmentation import body_labels

    body = body_labels(volume, threshold=-500.0).data
    voxel_ml = float(np.prod(volume.attrs["spacing"])) / 1000.0
    return {**hu_statistics(volume), "body_ml": body.sum() * voxel_ml}


TASKS = {"HU statistics": hu_statistics, "HU statistics + body-mask volume": hu_and_body}


def textbook_body_mask(hu: np.ndarray, threshold: float = -500.0) -> np.ndarray:
    """The body mask as a user writes it with SciPy: the same steps and result as pacslab's ``body_mask``."""
    from scipy import ndimage

    mask = ndimage.binary_opening(hu > threshold, structure=np.ones((1, 3, 3), bool))
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    largest = labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1
    return np.stack([ndimage.binary_fill_holes(s) for s in largest])


def pydicom_loop(folders: list[Path], body: bool, body_mask=textbook_body_mask) -> dict[str, dict[str, float]]:
    """The same numbers with pydicom and NumPy, one file at a time, one series at a time."""
    import pydicom

    out = {}
    for folder in folders:
        datasets = [pydicom.dcmread(p) for p in sorted(folder.rglob("*.dcm"))]
        datasets.sort(key=lambda d: float(d.ImagePositionPatient[2]))
        hu = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in datasets])
        spacing = float(datasets[1].ImagePositionPatient[2]) - float(datasets[0].ImagePositionPatient[2])
        voxel_ml = abs(spacing) * float(datasets[0].PixelSpacing[0]) * float(datasets[0].PixelSpacing[1]) / 1000
        out[datasets[0].SeriesInstanceUID] = {
            "mean": float(hu.mean()),
            "std": float(hu.std()),
            "min": float(hu.min()),
            "max": float(hu.max()),
        }
        if body:
            out[datasets[0].SeriesInstanceUID]["body_ml"] = float(body_mask(hu).sum()) * voxel_ml
    return out


def pacslab_run(archive, function, scheduler) -> tuple[float, dict]:
    from pacslab.analysis import run_cohort

    start = time.perf_counter()
    result = run_cohort(archive, function, archive.series(Modality="CT"), scheduler=scheduler, save=False)
    seconds = time.perf_counter() - start
    assert not result.failed, result.failed
    wide = result.wide().set_index("SeriesInstanceUID")
    return seconds, {uid: row.to_dict() for uid, row in wide.iterrows()}


def median_run(run, repeat: int) -> tuple[float, Any]:
    """One warm-up run (imports, first-use caches: not counted), then the median of *repeat* timed runs."""
    run()
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def timed_cluster_run(archive, function, n_workers: int, repeat: int) -> tuple[float, float, dict]:
    """Start a LocalCluster (timed apart, with its warm-up run), then the median of timed runs through its Client."""
    from distributed import Client, LocalCluster

    start = time.perf_counter()
    with (
        LocalCluster(n_workers=n_workers, threads_per_worker=1, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(n_workers)
        startup = time.perf_counter() - start
        seconds, values = median_run(lambda: pacslab_run(archive, function, client)[1], repeat)
    return startup, seconds, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=8)
    parser.add_argument("--slices", type=int, default=60)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per method, after one warm-up run")
    parser.add_argument("--work", type=Path, default=None, help="folder for the data (a temporary one by default)")
    args = parser.parse_args()

    import pacslab
    from pacslab import examples

    work = args.work or Path(tempfile.mkdtemp(prefix="pacslab-bench-analysis-"))
    if args.work is None:  # the generated data and archive go with the run
        atexit.register(shutil.rmtree, work, True)
    folders = []
    for seed in range(args.series):
        folder = work / "in" / f"ct{seed}"
        if not folder.exists():
            datasets = examples.generate_ct_series(
                seed=100 + seed,
                n_slices=args.slices,
                rows=args.size,
                columns=args.size,
                pixel_spacing=(358.4 / args.size,) * 2,
            )
            examples.write_series(datasets, folder)
        folders.append(folder)
    root = work / "archive"
    archive = pacslab.open_archive(root, create=True)
    if archive.series().empty:
        archive.ingest(work / "in", progress=False)
    n_voxels = args.series * args.slices * args.size**2

    rows, summary = [], []
    for task, function in TASKS.items():
        body = function is hu_and_body
        loop_s, reference = median_run(lambda: pydicom_loop(folders, body), args.repeat)  # noqa: B023
        runs = [("pydicom loop over the original files" + (" + SciPy body mask" if body else ""), 1, 0.0, loop_s)]
        if body:  # how much of the gain is pacslab's faster mask alone (same result)
            from pacslab.analysis.segmentation import body_mask

            mask_s, same = median_run(lambda: pydicom_loop(folders, True, body_mask=body_mask), args.repeat)
            runs.append(("pydicom loop + pacslab's body_mask", 1, 0.0, mask_s))
            assert all(abs(same[u]["body_ml"] - reference[u]["body_ml"]) < 1e-6 for u in reference)
        times = {}
        for label, workers in (
            ("pacslab Zarr + dask, threaded scheduler", os.cpu_count()),
            ("pacslab Zarr + dask, LocalCluster", 1),
            ("pacslab Zarr + dask, LocalCluster", 2),
        ):
            if "threaded" in label:
                run = lambda: pacslab_run(archive, function, "threads")[1]  # noqa: B023, E731
                startup, (seconds, values) = 0.0, median_run(run, args.repeat)
            else:
                startup, seconds, values = timed_cluster_run(archive, function, workers, args.repeat)
            for uid, expected in reference.items():
                got = values[uid]
                assert abs(got["mean"] - expected["mean"]) < 1e-3
                assert not body or abs(got["body_ml"] - expected["body_ml"]) < 1e-6
            times[(label, workers)] = seconds
            runs.append((label, workers, startup, seconds))
        for label, workers, startup, seconds in runs:
            rows.append(
                {
                    "task": task,
                    "method": label,
                    "workers": workers,
                    "seconds": f"{seconds:.2f}",
                    "series/s": f"{args.series / seconds:.2f}",
                    "Mvoxel/s": f"{n_voxels / seconds / 1e6:.1f}",
                    "vs pydicom loop": f"{loop_s / seconds:.2f}×",
                    "cluster start (s, not counted)": f"{startup:.1f}" if startup else "",
                }
            )
        t = list(times.values())
        summary.append(
            f"{task}: threaded vs pydicom loop {loop_s / t[0]:.2f}× (target ≥ 5×); "
            f"LocalCluster 1 → 2 workers {t[1] / t[2]:.2f}× (target ≥ 1.6×)"
        )
    print(
        f"\n{args.series} CT series of {args.slices}×{args.size}×{args.size} ({n_voxels / 1e6:.0f} Mvoxel), "
        f"{os.cpu_count()} cores, same results checked against the loop; load average at the end "
        f"{os.getloadavg()[0]:.1f}\n"
    )
    columns = [
        "task",
        "method",
        "workers",
        "seconds",
        "series/s",
        "Mvoxel/s",
        "vs pydicom loop",
        "cluster start (s, not counted)",
    ]
    print(_peers.table(rows, columns))
    print()
    print("\n".join(summary))
    archive.close()


if __name__ == "__main__":
    main()

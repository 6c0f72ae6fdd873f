"""Volumes are built largest series first, so that no worker is left alone with a big one at the end."""

from __future__ import annotations

import concurrent.futures as cf

from pacslab import examples
from pacslab.ingest.pipeline import build_pending_volumes


class _RecordingExecutor(cf.ThreadPoolExecutor):
    """A real thread pool that remembers which series each task builds, in submission order."""

    def __init__(self) -> None:
        super().__init__(2)
        self.series: list[str] = []

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.series.append(args[2]["SeriesInstanceUID"])
        return super().submit(fn, *args, **kwargs)


def test_largest_series_are_built_first(archive, tmp_path):
    sizes = {3: 24, 5: 40, 7: 32}  # slices of 32² per series, ingested smallest-seed first
    uids = {}
    for seed, n in sorted(sizes.items()):
        datasets = examples.generate_ct_series(seed=seed, n_slices=n, rows=32, columns=32)
        examples.write_series(datasets, tmp_path / f"s{seed}")
        uids[seed] = str(datasets[0].SeriesInstanceUID)
    archive.ingest(tmp_path, progress=False, build_volumes=False)
    with _RecordingExecutor() as executor:
        report = build_pending_volumes(archive, executor=executor)
    assert report.volumes_built == 3
    assert executor.series == [uids[5], uids[7], uids[3]]
    assert set(archive.series().volume_state) == {"ready"}

"""Folders go to the workers largest first, and every outcome still names the file it belongs to."""

from __future__ import annotations

import concurrent.futures as cf
import os

from pacslab import examples
from pacslab.config import config
from pacslab.ingest.pipeline import ingest_sources
from pacslab.ingest.report import IngestReport
from pacslab.ingest.scan import absolute, list_sources


class _RecordingExecutor(cf.ThreadPoolExecutor):
    """A real thread pool that remembers the folder of each batch it is given, in submission order."""

    def __init__(self) -> None:
        super().__init__(2)
        self.folders: list[str] = []

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.folders.append(os.path.basename(os.path.dirname(args[1][0].path)))
        return super().submit(fn, *args, **kwargs)


def test_largest_folders_go_first_and_outcomes_keep_their_files(archive, tmp_path):
    slices = {"a": 4, "b": 20, "c": 10}  # listed a, b, c; the largest should go first
    for seed, (name, n) in enumerate(slices.items(), start=21):
        examples.write_series(examples.generate_ct_series(seed=seed, n_slices=n, rows=32, columns=32),
                              tmp_path / "in" / name)  # fmt: skip
    (tmp_path / "in" / "a" / "zz-not-dicom.txt").write_text("not an image")
    sources, _ = list_sources(absolute([tmp_path / "in"]))
    outcomes: dict[int, tuple[str, str]] = {}

    def done(index, outcome, result):  # type: ignore[no-untyped-def]
        assert index not in outcomes
        outcomes[index] = (outcome, result.source)

    with _RecordingExecutor() as executor, config.set({"ingest.batch-size": 4}):  # a batch per folder
        report = ingest_sources(archive, sources, IngestReport(), executor=executor, on_done=done, build_volumes=True)
    assert executor.folders == ["b", "c", "a"]
    assert report.new == 34 and len(report.rejected) == 1 and report.volumes_built == 3
    assert sorted(outcomes) == list(range(len(sources)))
    for index, (outcome, source) in outcomes.items():
        assert source == sources[index].name
        assert outcome == ("rejected" if source.endswith(".txt") else "new")

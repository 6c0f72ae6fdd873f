"""Hostile input through folder ingest: mutated DICOM files (pacslab.testing.fuzz).

Invariants after every batch: nothing crashes or hangs, every input is accounted for
(new + duplicate + conflict + rejected + skipped == inputs), every rejection has a reason,
``archive.verify()`` is ok and every catalog instance reads back byte-identical to an input.
Sizes, seed and the larger run: see the docstring of :mod:`pacslab.testing.fuzz`.
"""

from __future__ import annotations

import itertools

import pytest

import pacslab
from pacslab.testing.fuzz import (
    assert_archive_consistent,
    batches,
    build_mutant,
    fuzz_given,
    fuzz_size,
    run_with_timeout,
)

SIZE = fuzz_size("ingest")


@pytest.fixture(scope="module")
def fuzz_archive(tmp_path_factory: pytest.TempPathFactory):
    a = pacslab.open_archive(tmp_path_factory.mktemp("fuzz") / "archive", create=True)
    yield a
    a.close()


def test_fuzz_folder_ingest(fuzz_archive: pacslab.Archive, tmp_path_factory: pytest.TempPathFactory) -> None:
    inputs: set[bytes] = set()
    counter = itertools.count()
    totals = {"cases": 0, "rejected": 0, "stored": 0}

    @fuzz_given(batches(SIZE.batch), size=SIZE)
    def case(specs):
        # Given a folder of mutated files
        folder = tmp_path_factory.mktemp("in")
        files = [build_mutant(s) for s in specs]
        for data in files:
            (folder / f"f{next(counter):06d}.dcm").write_bytes(data)
        inputs.update(files)
        # When it is ingested (a hang fails the test)
        report = run_with_timeout(lambda: fuzz_archive.ingest(folder, progress=False, build_volumes=False), 120)
        # Then every file is accounted for, every rejection has a reason, nothing is half stored
        accounted = report.new + report.duplicate + report.conflict + report.n_rejected + len(report.skipped)
        assert accounted == len(files), report
        assert all(reason for _, reason in report.rejected), report.rejected
        assert_archive_consistent(fuzz_archive, inputs)
        totals["cases"] += len(files)
        totals["rejected"] += report.n_rejected
        totals["stored"] += report.new

    case()
    # the mutants exercise both outcomes (a generator that only made valid or only broken files would pass silently)
    assert totals["cases"] == SIZE.cases
    assert totals["rejected"] > 0 and totals["stored"] > 0, totals

"""Fixtures of the export tests: one small archive (two patients, four series) shared by the whole folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from export_helpers import Filled
from pydicom.data import get_testdata_file

import pacslab
from pacslab import examples


@pytest.fixture(scope="session")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    """A CT study (axial and oblique series), a two-echo MR series, pydicom's RGB secondary capture and RT plan."""
    base = tmp_path_factory.mktemp("export-data")
    p1, p2 = examples.make_patient(seed=41), examples.make_patient(seed=42)
    study = examples.make_study(seed=43, kind="ct", description="CT CHEST")
    series = [
        examples.generate_ct_series(seed=44, n_slices=4, rows=24, columns=20, patient=p1, study=study),
        examples.generate_oblique_ct(
            seed=45, n_slices=3, rows=16, columns=16, patient=p1, study=study, series_number=2
        ),  # fmt: skip
        examples.generate_mr_series(seed=46, n_slices=3, rows=16, columns=16, patient=p2, echo_times=[10.0, 80.0]),
    ]
    for i, datasets in enumerate(series):
        examples.write_series(datasets, base / "in" / f"s{i}")
    shutil.copy(get_testdata_file("SC_rgb_rle_2frame.dcm"), base / "in" / "sc.dcm")
    shutil.copy(get_testdata_file("rtplan.dcm"), base / "in" / "rtplan.dcm")  # no pixels: no volume
    archive = pacslab.open_archive(base / "archive", create=True)
    archive.ingest(base / "in", progress=False)
    try:
        yield Filled(archive, base / "in", series)
    finally:
        archive.close()

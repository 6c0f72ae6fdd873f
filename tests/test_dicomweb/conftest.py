"""Fixtures of the DICOMweb tests: small generated studies, pydicom's files, a running server, tokens."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dicomweb_helpers import Served
from pydicom.data import get_testdata_file

import pacslab
from pacslab.dicomweb import DicomwebServer
from pacslab.examples import generate_ct_series, generate_mr_series, make_patient, make_study, write_series

#: Local pydicom test files (never names outside pydicom/data/test_files: those are downloaded).
PYDICOM_FILES = ("CT_small.dcm", "MR_small_jpeg_ls_lossless.dcm", "SC_rgb_rle_2frame.dcm", "JPEG2000.dcm")


def generated_series() -> list[list[Any]]:
    """Two patients: a CT study of two 8-slice 64² series, an MR study of one 6-slice series."""
    p1, p2 = make_patient(seed=11), make_patient(seed=12)
    ct, mr = (
        make_study(seed=21, kind="ct", description="CT CHEST"),
        make_study(seed=22, kind="mr", description="MR HEAD"),
    )
    return [
        generate_ct_series(seed=1, n_slices=8, rows=64, columns=64, patient=p1, study=ct, series_number=1),
        generate_ct_series(
            seed=2,
            n_slices=8,
            rows=64,
            columns=64,
            patient=p1,
            study=ct,
            series_number=2,
            series_description="CT CHEST 5mm",
            slice_thickness=5.0,
        ),  # fmt: skip
        generate_mr_series(seed=3, n_slices=6, rows=64, columns=64, patient=p2, study=mr, series_number=1),
    ]


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated series and a few of pydicom's bundled files, as Part 10 files."""
    root = tmp_path_factory.mktemp("dicomweb-data")
    for i, series in enumerate(generated_series()):
        write_series(series, root / f"gen{i}")
    (root / "pydicom").mkdir()
    for name in PYDICOM_FILES:
        shutil.copy(get_testdata_file(name), root / "pydicom" / name)
    return root


@pytest.fixture(scope="session")
def data_files(data_dir: Path) -> list[Path]:
    """Every file of :func:`data_dir`."""
    return sorted(p for p in data_dir.rglob("*.dcm"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[Served]:
    """A server over an archive holding :func:`data_dir` (volumes built); read-only use."""
    archive = pacslab.open_archive(tmp_path_factory.mktemp("served") / "archive", create=True)
    archive.ingest(data_dir, progress=False)
    server = DicomwebServer(archive, port=0, stable_delay=None, max_results=50).start()
    try:
        yield Served(archive, server)
    finally:
        server.stop()
        archive.close()


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[Served]:
    """A server over an empty archive, with a small body limit (256 kB)."""
    archive = pacslab.open_archive(tmp_path / "empty", create=True)
    server = DicomwebServer(archive, port=0, stable_delay=None, max_body_size=256 * 1024).start()
    try:
        yield Served(archive, server)
    finally:
        server.stop()
        archive.close()

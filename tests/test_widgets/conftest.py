from __future__ import annotations

from pathlib import Path

import pytest

import pacslab
from pacslab.examples import generate_ct_series, generate_mr_series, make_patient, make_study, write_series

pytest.importorskip("anywidget")


def make_small_archive(root: Path, *, rows: int = 128, n_slices: int = 12) -> tuple[pacslab.Archive, str, str]:
    """A CT (anisotropic pixels) and an MR of one patient, ingested with volumes built."""
    patient = make_patient(seed=3)
    ct = generate_ct_series(
        seed=3,
        n_slices=n_slices,
        rows=rows,
        columns=rows,
        pixel_spacing=(0.8, 0.6),
        slice_thickness=2.5,
        patient=patient,
        study=make_study(seed=3, kind="CT", description="CT CHEST"),
    )
    mr = generate_mr_series(seed=3, patient=patient, n_slices=8, rows=64, columns=64)
    write_series(ct, root / "input" / "ct")
    write_series(mr, root / "input" / "mr")
    archive = pacslab.open_archive(root / "archive", create=True)
    archive.ingest(root / "input", progress=False, build_volumes=True)
    return archive, str(ct[0].SeriesInstanceUID), str(mr[0].SeriesInstanceUID)


@pytest.fixture
def small(tmp_path: Path):
    archive, ct, mr = make_small_archive(tmp_path)
    yield archive, ct, mr
    archive.close()

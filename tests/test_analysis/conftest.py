from __future__ import annotations

import pytest
from analysis_helpers import chest, ingest, phantom

import pacslab


@pytest.fixture(scope="package")
def phantom_archive(tmp_path_factory):
    """An archive with the oblique and the anisotropic ellipsoid phantoms and two small chest CTs."""
    base = tmp_path_factory.mktemp("analysis")
    archive = pacslab.open_archive(base / "archive", create=True)
    truths = {}
    for kind in ("oblique", "anisotropic"):
        datasets, truth = phantom(kind)
        ingest(archive, datasets, base / "in" / kind)
        truths[kind] = truth
    chests = [ingest(archive, chest(seed), base / "in" / f"chest{seed}") for seed in (1, 2)]
    yield archive, truths, chests
    archive.close()

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import pacslab


@pytest.fixture
def archive(tmp_path: Path) -> pacslab.Archive:
    """An empty archive in a temporary folder."""
    a = pacslab.open_archive(tmp_path / "archive", create=True)
    yield a
    a.close()


@pytest.fixture
def memory_archive(request: pytest.FixtureRequest) -> pacslab.Archive:
    """An empty archive on fsspec's memory filesystem."""
    import fsspec

    name = f"memory://pacslab-test-{os.getpid()}-{request.node.name}"
    a = pacslab.open_archive(name, create=True)
    yield a
    a.close()
    fs = fsspec.filesystem("memory")
    fs.rm(name.removeprefix("memory://"), recursive=True)


def requires_command(name: str) -> pytest.MarkDecorator:
    """Skip unless an external command is installed (make test installs them on Debian)."""
    return pytest.mark.skipif(shutil.which(name) is None, reason=f"{name} is not installed (make test installs it)")

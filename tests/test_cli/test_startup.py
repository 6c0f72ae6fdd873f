"""The CLI starts without the heavy analysis stack: pandas, dask and xarray load only when used."""

from __future__ import annotations

import subprocess
import sys


def test_cli_import_leaves_heavy_packages_unloaded() -> None:
    code = (
        "import sys, pacslab.cli.main\n"
        "print(','.join(sorted(m for m in ('pandas', 'dask', 'dask.array', 'xarray', 'scipy') if m in sys.modules)))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "", f"importing the CLI loaded {loaded}: import them inside the functions that use them"


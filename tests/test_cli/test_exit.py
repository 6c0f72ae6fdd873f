"""A command run as a program ends without tearing the interpreter down, and nothing of what exit does is lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pacslab import examples


def _command(*args: str, before: str = "") -> list[str]:
    """``pacslab ARGS`` as the console script runs it, after the Python statements *before*."""
    code = f"import sys\n{before}\nfrom pacslab.cli.main import main\nsys.argv[1:] = {list(args)!r}\nsys.exit(main())"
    return [sys.executable, "-c", code]


def _program(*args: str, before: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(_command(*args, before=before), capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("exit")
    examples.write_series(examples.generate_ct_series(seed=5, n_slices=300, rows=8, columns=8), base / "in")
    (base / "in" / "junk.dcm").write_bytes(b"not DICOM")
    root = base / "archive"
    assert _program("init", str(root)).returncode == 0
    ingest = _program("ingest", str(root), str(base / "in"), "--no-progress")
    assert ingest.returncode == 1, ingest.stderr  # the exit status of the command, junk.dcm rejected
    assert "300 new" in ingest.stdout and "rejected" in ingest.stdout
    return root


def test_the_catalog_is_closed_at_exit(archive: Path) -> None:
    # closing the last connection checkpoints the write-ahead log into the database and removes it
    assert (archive / "catalog.sqlite").exists()
    assert not (archive / "catalog.sqlite-wal").exists()


def test_atexit_handlers_run_and_the_output_is_whole(archive: Path) -> None:
    # far more than a pipe holds: all of it reaches the reader, then the handlers registered before run
    before = (
        "import atexit, os; atexit.register(print, 'bye')\n"
        "exit_now = os._exit\n"
        "os._exit = lambda status: (os.write(1, b'ended without teardown'), exit_now(status))"
    )
    listing = _program("ls", str(archive), "instances", "--json", before=before)
    assert listing.returncode == 0, listing.stderr
    text, handler, ending = listing.stdout.rsplit("\n", 2)
    assert (handler, ending) == ("bye", "ended without teardown")
    assert len(text) > 200_000 and len(json.loads(text)) == 300


def test_output_that_cannot_be_flushed_gives_status_120_as_python_does(archive: Path) -> None:
    stream = (
        "import io\nclass Gone(io.StringIO):\n    def flush(self):\n        raise BrokenPipeError\nsys.stdout = Gone()"
    )
    assert _program("info", str(archive), before=stream).returncode == 120


def test_a_reader_that_goes_away_ends_the_command_quietly(archive: Path) -> None:
    proc = subprocess.Popen(_command("ls", str(archive), "instances"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(100)  # the first line, then the pipe is closed: the rest (~150 KB) cannot be written
    proc.stdout.close()
    error = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, error
    assert "Traceback" not in error and "BrokenPipeError" not in error, error

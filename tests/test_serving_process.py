"""A serving process keeps the memory it frees (files read batch after batch reuse it, not fresh pages),
has it in place from its start for any thread, and decodes volume chunks with Blosc's threads."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

glibc_only = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's allocator only"
)

# Read 16 files of 512 kB in a worker thread (as a server's executor does), free them, again and
# again; print the minor page faults of the last rounds per page read. "keep": after keep_freed_memory();
# "ingest": after `pacslab ingest` ran in this process (an empty folder: nothing else changes the process).
_ROUNDS = """
import concurrent.futures as cf, resource, sys
from pathlib import Path
if sys.argv[2] == "keep":
    from pacslab._serving import keep_freed_memory
    assert keep_freed_memory()
elif sys.argv[2] == "ingest":
    from pacslab.cli.main import main
    try:
        main(["ingest", sys.argv[3], sys.argv[4], "--no-progress"])
    except SystemExit:
        pass
files = sorted(Path(sys.argv[1]).iterdir())
def one_round():
    batch = [f.read_bytes() for f in files]
    return sum(len(b) for b in batch)
with cf.ThreadPoolExecutor(1) as pool:
    for _ in range(2):
        pool.submit(one_round).result()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    n = sum(pool.submit(one_round).result() for _ in range(10))
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / (n / 4096))
"""


def _faults_per_page(folder: Path, mode: str, *args: str) -> float:
    command = [sys.executable, "-c", _ROUNDS, str(folder), mode, *args]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _files(folder: Path) -> Path:
    folder.mkdir()
    for i in range(16):
        (folder / f"{i:02d}.dcm").write_bytes(bytes([i]) * (512 << 10))
    return folder


@glibc_only
def test_files_read_again_and_again_reuse_freed_memory(tmp_path: Path) -> None:
    files = _files(tmp_path / "files")
    assert _faults_per_page(files, "keep") < 0.05
    # glibc's defaults give the batch's memory back and fault it in again: the test can tell them apart
    assert _faults_per_page(files, "default") > 0.5


@glibc_only
def test_the_ingest_command_keeps_freed_memory_for_its_workers_and_itself(tmp_path: Path) -> None:
    import pacslab

    pacslab.open_archive(tmp_path / "archive", create=True).close()
    (tmp_path / "empty").mkdir()
    assert (
        _faults_per_page(_files(tmp_path / "files"), "ingest", str(tmp_path / "archive"), str(tmp_path / "empty"))
        < 0.05
    )


# A new thread (as a server's executor) decodes its first chunks into new 4 MiB blocks (32 MiB), with
# Python's GIL held, as numpy allocates; print its minor page faults per page. numpy's request for huge
# pages is turned off: whether the kernel has free huge pages must not decide the figures.
_FIRST_USE = """
import concurrent.futures as cf, resource, sys
import numpy as np
if sys.argv[1] == "serving":
    import pacslab
    pacslab.config.set({"volumes.cache-mb": 48})
    from pacslab._serving import serving_process
    serving_process()
def first_chunks():
    blocks = [np.ones((8, 512, 512), np.int16) for _ in range(8)]
    return sum(b.nbytes for b in blocks)
with cf.ThreadPoolExecutor(2) as pool:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    n = pool.submit(first_chunks).result()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / (n / 4096))
"""


@glibc_only
def test_a_serving_process_has_its_memory_in_place_for_any_thread_from_its_start() -> None:
    def faults(mode: str) -> float:
        env = {**os.environ, "NUMPY_MADVISE_HUGEPAGE": "0"}
        out = subprocess.run([sys.executable, "-c", _FIRST_USE, mode], capture_output=True, text=True, check=True,
                             env=env)  # fmt: skip
        return float(out.stdout.strip())

    assert faults("serving") < 0.05
    # by default a new thread gets a heap of its own and faults its pages in one by one
    assert faults("default") > 0.5


# How much a serving process's resident memory grows when it becomes one (MB), the chunk cache 256 MB;
# "small": on a machine (or in a container) of 256 MB.
# (Resident memory now, from /proc: the peak getrusage reports is inherited from the parent across exec.)
_GROWTH = """
import os, sys
import numcodecs.blosc, pacslab
from pacslab import _serving
def resident():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
pacslab.config.set({"volumes.cache-mb": 256})
if sys.argv[1] == "small":
    _serving._physical_memory = lambda: 256 << 20
before = resident()
_serving.serving_process()
print((resident() - before) / 2**20)
"""


@glibc_only
def test_a_serving_process_holds_its_cache_from_the_start_but_not_a_small_machines_memory() -> None:
    def growth(mode: str) -> float:
        out = subprocess.run([sys.executable, "-c", _GROWTH, mode], capture_output=True, text=True, check=True)
        return float(out.stdout.strip())

    from pacslab._serving import _physical_memory

    if _physical_memory() >= 8 * (320 << 20):  # a machine large enough to hold it all
        assert growth("large") >= 256 + 32  # the cache and part of the streaming memory at least
    assert growth("small") <= 256 / 8 + 8  # an eighth of the machine at most


def test_a_serving_process_decodes_with_blosc_threads_in_any_thread() -> None:
    code = """
from numcodecs import blosc
assert blosc.use_threads is None  # numcodecs' default: threads in the main thread only
from pacslab._serving import serving_process
serving_process()
print(blosc.use_threads)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"

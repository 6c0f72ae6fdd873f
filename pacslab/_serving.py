"""What a process that serves (``pacslab serve``, the servers' ``serve_forever``) changes in itself.

:func:`serving_process` does both of these; they are process-wide, so a library a notebook
imports never does them on its own.

- glibc's allocator keeps the memory it frees, in one heap for all threads, and the process
  faults in at start what it is going to need (:func:`keep_freed_memory`). A server reads files
  and decodes volume chunks into memory, sends them and frees them, batch after batch. glibc
  gives freed memory at the top of its heaps back to the kernel once more than a few megabytes
  are free (``M_TRIM_THRESHOLD``), and serves blocks from 128 kB up to its adaptive threshold
  with fresh ``mmap`` calls (``M_MMAP_THRESHOLD``): each batch then faults its pages in again and
  the kernel zeroes them first. Retrieving an 84 MB series of 160 uncompressed files spent about
  half the server's CPU time on that (``benchmarks/dicomweb.py``). And each thread that allocates
  gets a heap of its own (up to 8 per core), which faults in its own pages: the first
  retrieval of each of 5 CT series from their volumes (84 MB each; a server started as
  ``benchmarks/dicomweb.py`` does, alternating with one of the code before) took 9,500 page
  faults, 23 with one heap faulted in at start; median 548 → 1,085 MB/s.
- Blosc decodes a volume's chunks with its own threads in any thread, not in the main thread
  only (numcodecs' ``blosc.use_threads``): the server's executor threads rebuild the originals a
  volume keeps, and that decoding is what WADO-RS of such a series waits for (with two cores,
  one busy with the client: 1066/958/1158 → 1247/1220/1265 MB/s, alternating runs).

Call it before the process starts its server threads (``pacslab serve`` does): a thread that
has allocated already keeps its own heap.

``pacslab ingest`` keeps freed memory too (its worker processes, forked from it, with it): each
worker reads a folder's files into memory, builds the folder's volumes and frees them, folder
after folder. The benchmark set (1,460 files, 674 MB), 16 alternating runs with and without:
199,000 → 94,000 minor page faults, system time 1.27 → 1.01 s, wall 2.51 → 2.43 s (medians).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os

__all__ = ["keep_freed_memory", "serving_process"]

logger = logging.getLogger(__name__)

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

#: Blocks up to this size come from the heap (glibc's upper limit on 64-bit systems).
MMAP_THRESHOLD = 32 << 20
#: Free memory at the top of the heap kept for reuse before any is given back (at least).
TRIM_THRESHOLD = 256 << 20
#: Memory a server needs beyond its chunk cache: the batches of the bodies it is streaming.
STREAMING_BYTES = 64 << 20
#: The pieces the heap is faulted in with (below :data:`MMAP_THRESHOLD`, so they come from the heap).
_PIECE = 4 << 20


def serving_process() -> None:
    """Make this process one that serves: memory kept for reuse and faulted in, Blosc's threads for decoding.

    The memory faulted in is the archive's chunk cache (``volumes.cache-mb``) and
    :data:`STREAMING_BYTES`, at most an eighth of the memory of the machine (or of its container):
    a serving process holds that much from its start.
    """
    from numcodecs import blosc

    from pacslab.config import config

    wanted = (int(config.get("volumes.cache-mb")) << 20) + STREAMING_BYTES
    keep_freed_memory(min(wanted, _physical_memory() // 8))  # a small machine or container is not filled up
    blosc.use_threads = True  # chunks decode one at a time, each with Blosc's threads (one per core)


@functools.cache
def keep_freed_memory(reserve: int = 0) -> bool:
    """Have glibc keep freed memory for reuse in one heap, with *reserve* bytes faulted in; whether it could.

    The process keeps up to its peak use instead of returning it, as servers built on jemalloc
    or tcmalloc do, and its threads share one heap (they allocate under Python's GIL anyway).
    *reserve* bytes are allocated, written and freed here, so that what later uses them finds
    them in place instead of faulting them in page by page. Elsewhere (musl, macOS, Windows) it
    changes nothing and returns False.
    """
    try:
        libc = ctypes.CDLL(None)  # the symbols the process has loaded: the C library's among them
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 - glibc's own function: not glibc without it
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    settings = ((_M_ARENA_MAX, 1), (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
                (_M_TRIM_THRESHOLD, max(TRIM_THRESHOLD, reserve + STREAMING_BYTES)))  # fmt: skip
    if not all(mallopt(parameter, value) for parameter, value in settings):
        logger.debug("glibc refused the mallopt settings; the allocator keeps its defaults")
        return False
    _fault_in(libc, reserve)
    return True


def _physical_memory() -> int:
    """Bytes of memory this process may use: the machine's, or its cgroup's limit when lower (0 if unknown)."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 0
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:  # cgroup v2: a container's limit
            limit = fh.read().strip()
    except OSError:
        return total
    return min(total, int(limit)) if limit.isdigit() else total


def _fault_in(libc: ctypes.CDLL, nbytes: int) -> None:
    """Allocate *nbytes* in heap-sized pieces, write them and free them: the heap keeps them, faulted in."""
    malloc, free, memset = libc.malloc, libc.free, libc.memset
    malloc.argtypes, malloc.restype = [ctypes.c_size_t], ctypes.c_void_p
    free.argtypes, free.restype = [ctypes.c_void_p], None
    memset.argtypes, memset.restype = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t], ctypes.c_void_p
    pieces = [malloc(_PIECE) for _ in range(nbytes // _PIECE)]
    for piece in pieces:
        if piece:
            memset(piece, 0, _PIECE)
    for piece in pieces:
        free(piece)  # free(NULL) is a no-op

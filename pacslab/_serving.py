"""What a process that serves (``pacslab serve``, the servers' ``serve_forever``) changes in itself.

:func:`serving_process` does both of these; they are process-wide, so a library a notebook
imports never does them on its own.

- glibc's allocator keeps the memory it frees (:func:`keep_freed_memory`). A server reads files
  into memory, sends them and frees them, batch after batch. glibc gives freed memory at the top
  of its heaps back to the kernel once more than a few megabytes are free (``M_TRIM_THRESHOLD``),
  and serves blocks from 128 kB up to its adaptive threshold with fresh ``mmap`` calls
  (``M_MMAP_THRESHOLD``): each batch then faults its pages in again and the kernel zeroes them
  first. Retrieving an 84 MB series of 160 uncompressed files spent about half the server's CPU
  time on that (``benchmarks/dicomweb.py``).
- Blosc decodes a volume's chunks with its own threads in any thread, not in the main thread
  only (numcodecs' ``blosc.use_threads``): the server's executor threads rebuild the originals a
  volume keeps, and that decoding is what WADO-RS of such a series waits for (with two cores,
  one busy with the client: 1066/958/1158 → 1247/1220/1265 MB/s, alternating runs).
"""

from __future__ import annotations

import ctypes
import functools
import logging

__all__ = ["keep_freed_memory", "serving_process"]

logger = logging.getLogger(__name__)

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Blocks up to this size come from the heap (glibc's upper limit on 64-bit systems).
MMAP_THRESHOLD = 32 << 20
#: Free memory at the top of a heap kept for reuse before any is given back.
TRIM_THRESHOLD = 256 << 20


def serving_process() -> None:
    """Make this process one that serves: freed memory kept for reuse, Blosc's threads for decoding."""
    from numcodecs import blosc

    keep_freed_memory()
    blosc.use_threads = True  # chunks decode one at a time, each with Blosc's threads (one per core)


@functools.cache
def keep_freed_memory() -> bool:
    """Have glibc keep freed memory for reuse (up to :data:`TRIM_THRESHOLD` a heap); whether it could.

    The process keeps up to its peak use instead of returning it, as servers built on jemalloc
    or tcmalloc do. Elsewhere (musl, macOS, Windows) it changes nothing and returns False.
    """
    try:
        libc = ctypes.CDLL(None)  # the symbols the process has loaded: the C library's among them
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 - glibc's own function: not glibc without it
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    if not done:
        logger.debug("glibc refused the mallopt settings; the allocator keeps its defaults")
    return done

"""Shared pieces of the benchmarks: a private loopback namespace, process-tree meters, peer launchers.

Orthanc 1.10 and dcmtk's storescp listen on every interface, so benchmarks that run them re-execute
themselves inside a new network namespace whose only interface is loopback (`unshare -n`, as root):
nothing is reachable from outside, and everything that talks to them runs in the same namespace.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from pacslab.testing.peers import NODELAY_ENV, Orthanc, StoreSCP, free_port, wait_port  # noqa: F401 - re-exported
from pacslab.testing.peers import proc_stat as _stat
from pacslab.testing.peers import process_tree as _tree


def in_private_network() -> None:
    """Re-run this script inside a loopback-only network namespace (once)."""
    if os.environ.get("PACSLAB_BENCH_NETNS") == "1":
        return
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        print("note: not root or no unshare; peers bind to all interfaces", file=sys.stderr)
        return
    env = {**os.environ, "PACSLAB_BENCH_NETNS": "1"}
    cmd = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', sys.executable, *sys.argv]
    sys.exit(subprocess.call(cmd, env=env))


class TreeMeter:
    """Samples CPU time and total RSS of a process and all its descendants."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.peak_rss = 0
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = 0
            for p in _tree(self.pid):
                cpu, r = _stat(p)
                self.cpu[p] = max(self.cpu.get(p, 0.0), cpu)
                rss += r
            self.peak_rss = max(self.peak_rss, rss)
            self._stop.wait(self.interval)

    def stop(self) -> float:
        """Stop sampling; return the CPU seconds of the tree (sampled; children reaped late are included)."""
        self._stop.set()
        self._thread.join()
        return sum(self.cpu.values())


def run_measured(cmd: list[str], *, env: dict[str, str] | None = None) -> dict[str, float]:
    """Run a command; wall seconds, CPU seconds of its process tree, peak total RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    meter = TreeMeter(proc.pid)
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    sampled = meter.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    reaped = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return {"wall": wall, "cpu": max(sampled, reaped), "rss": meter.peak_rss}


def storescu(port: int, directory: str | Path, *, called: str = "ANY-SCP", aet: str = "STORESCU") -> float:
    """Send every file under *directory* in one association with dcmtk's storescu; wall seconds."""
    start = time.perf_counter()
    command = ["storescu", "-aet", aet, "-aec", called, "+sd", "+r", "-nh", "127.0.0.1", str(port), str(directory)]
    subprocess.run(command, env=NODELAY_ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def settle() -> None:
    """Write the page cache's dirty data out before the next timed step (not timed itself).

    The kernel writes files out ~30 s after they were written, while whatever runs then is timed:
    without this, a receiver pays for an earlier one's files.
    """
    os.sync()
    time.sleep(1)


def du(path: str | Path) -> int:
    """Bytes of the files under *path*."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def table(rows: list[dict[str, object]], columns: list[str]) -> str:
    """A Markdown table."""
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        out.append("| " + " | ".join(str(r.get(c, "")) for c in columns) + " |")
    return "\n".join(out)

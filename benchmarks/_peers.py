"""Shared pieces of the benchmarks: a private loopback namespace, process-tree meters, peer launchers.

Orthanc 1.10 and dcmtk's storescp listen on every interface, so benchmarks that run them re-execute
themselves inside a new network namespace whose only interface is loopback (`unshare -n`, as root):
nothing is reachable from outside, and everything that talks to them runs in the same namespace.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

PEERS_CONFIG = Path(__file__).resolve().parents[1].parent / "shared" / "peers" / "orthanc.json"
NODELAY_ENV = {**os.environ, "TCP_NODELAY": "1"}


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


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:*port*."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def _children(pid: int) -> list[int]:
    out = []
    for path in Path("/proc").glob(f"{pid}/task/*/children"):
        try:
            out += [int(p) for p in path.read_text().split()]
        except OSError:
            pass
    return out


def _tree(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def _stat(pid: int) -> tuple[float, int]:
    """CPU seconds (user + system, the process itself) and RSS bytes of one process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0
    tick = os.sysconf("SC_CLK_TCK")
    cpu = sum(int(fields[i]) for i in (11, 12)) / tick
    return cpu, int(fields[21]) * os.sysconf("SC_PAGE_SIZE")


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


class Orthanc:
    """Debian's Orthanc on free loopback ports with a temporary storage folder."""

    def __init__(self, *, aet: str = "ORTHANC", modalities: dict[str, list] | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="orthanc-bench-"))
        self.http_port, self.dicom_port, self.aet = free_port(), free_port(), aet
        config = json.loads(PEERS_CONFIG.read_text()) if PEERS_CONFIG.exists() else {}
        config.update(StorageDirectory=str(self.dir / "db"), IndexDirectory=str(self.dir / "db"),
                      HttpPort=self.http_port, DicomPort=self.dicom_port, DicomAet=aet,
                      DicomModalities=modalities or {}, RemoteAccessAllowed=False)  # fmt: skip
        config.setdefault("DicomWeb", {})["Host"] = f"127.0.0.1:{self.http_port}"
        (self.dir / "orthanc.json").write_text(json.dumps(config))
        self.proc = subprocess.Popen(["Orthanc", str(self.dir / "orthanc.json")], env=NODELAY_ENV,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/system", timeout=1).read()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError("Orthanc did not answer GET /system within 60 s")

    def cpu(self) -> float:
        """CPU seconds Orthanc used so far."""
        return _stat(self.proc.pid)[0]

    def disk_bytes(self) -> int:
        """Bytes under its storage folder."""
        return sum(p.stat().st_size for p in (self.dir / "db").rglob("*") if p.is_file())

    def stop(self) -> None:
        """Stop it and remove its files."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def storescu(port: int, directory: str | Path, *, called: str = "ANY-SCP", aet: str = "STORESCU") -> float:
    """Send every file under *directory* in one association with dcmtk's storescu; wall seconds."""
    start = time.perf_counter()
    subprocess.run(["storescu", "-aet", aet, "-aec", called, "+sd", "+r", "-nh", "127.0.0.1", str(port), str(directory)],
                   env=NODELAY_ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start


class StoreSCP:
    """dcmtk's storescp writing received files into a temporary folder."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="storescp-bench-"))
        self.port = free_port()
        self.proc = subprocess.Popen(["storescp", "-od", str(self.dir), "-aet", "STORESCP", str(self.port)],
                                     env=NODELAY_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        wait_port(self.port)

    def cpu(self) -> float:
        """CPU seconds used so far."""
        return _stat(self.proc.pid)[0]

    def rss(self) -> int:
        """Resident bytes now."""
        return _stat(self.proc.pid)[1]

    def disk_bytes(self) -> int:
        """Bytes written."""
        return sum(p.stat().st_size for p in self.dir.rglob("*") if p.is_file())

    def stop(self) -> None:
        """Stop it and remove its files."""
        self.proc.terminate()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def du(path: str | Path) -> int:
    """Bytes of the files under *path*."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def table(rows: list[dict[str, object]], columns: list[str]) -> str:
    """A Markdown table."""
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        out.append("| " + " | ".join(str(r.get(c, "")) for c in columns) + " |")
    return "\n".join(out)

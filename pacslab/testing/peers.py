"""Real peers beside pacslab, for tests and benchmarks: Debian's Orthanc, dcmtk's storescp and PostgreSQL.

Both listen on every interface (Orthanc 1.10 and storescp cannot bind to 127.0.0.1 only), so they are
started on free high ports and stopped by their owner; benchmarks run them inside a loopback-only network
namespace. ``TCP_NODELAY=1`` is set for them and for the dcmtk tools: without it every request waits
for a delayed ACK on loopback (the Nagle trap).
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "NODELAY_ENV",
    "Orthanc",
    "PostgresServer",
    "StoreSCP",
    "free_port",
    "postgres_bindir",
    "process_tree",
    "proc_stat",
    "wait_for",
    "wait_port",
]

#: The environment for dcmtk tools and Orthanc.
NODELAY_ENV = {**os.environ, "TCP_NODELAY": "1"}
#: Orthanc's base configuration (HTTP + DICOM + DICOMweb plugin, no authentication, storage uncompressed).
BASE_CONFIG = Path(__file__).with_name("orthanc.json")


def _reap(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Wait for a process that was asked to stop; kill it if it does not within *timeout* seconds."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


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
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll *predicate* until it returns something other than None or False (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value is not None and value is not False:
            return value
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout} s")


def proc_stat(pid: int) -> tuple[float, int]:
    """CPU seconds (user + system of the process itself) and resident bytes of a process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return cpu, int(fields[21]) * os.sysconf("SC_PAGE_SIZE")


def process_tree(pid: int) -> list[int]:
    """*pid* and its live descendants (from ``/proc/PID/task/*/children``)."""
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        for path in Path("/proc").glob(f"{p}/task/*/children"):
            try:
                todo += [int(c) for c in path.read_text().split()]
            except OSError:
                pass
    return seen


class Orthanc:
    """Debian's Orthanc on free ports with its own storage folder.

    Parameters
    ----------
    directory : Path, optional
        Where its configuration, storage and log go (a new temporary folder by default,
        removed by :meth:`stop`).
    modalities : dict, optional
        Orthanc's ``DicomModalities``: ``{"pacslab": ["PACSLAB", "127.0.0.1", 11112]}``.
    dicom_port : int, optional
    aet : str
    """

    def __init__(self, directory: Path | None = None, modalities: dict[str, list[Any]] | None = None, *,
                 dicom_port: int | None = None, aet: str = "ORTHANC") -> None:  # fmt: skip
        self._own_dir = directory is None
        self.dir = Path(tempfile.mkdtemp(prefix="orthanc-")) if directory is None else Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.http_port, self.dicom_port, self.aet = free_port(), dicom_port or free_port(), aet
        config = json.loads(BASE_CONFIG.read_text())
        config.update(
            StorageDirectory=str(self.dir / "db"), IndexDirectory=str(self.dir / "db"), HttpPort=self.http_port,
            DicomPort=self.dicom_port, DicomAet=aet, DicomModalities=modalities or {}, RemoteAccessAllowed=False,
        )  # fmt: skip
        config.setdefault("DicomWeb", {})["Host"] = f"127.0.0.1:{self.http_port}"
        (self.dir / "orthanc.json").write_text(json.dumps(config))
        self.log = open(self.dir / "orthanc.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(["Orthanc", str(self.dir / "orthanc.json")], env=NODELAY_ENV,
                                     stdout=self.log, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            wait_for(self._alive, timeout=60)
        except TimeoutError:
            self.stop()
            raise

    @property
    def url(self) -> str:
        """Its HTTP root."""
        return f"http://127.0.0.1:{self.http_port}"

    def _alive(self) -> bool:
        try:
            self.rest("GET", "/system")
            return True
        except OSError:
            return False

    def rest(self, method: str, path: str, body: object = None) -> Any:
        """Call Orthanc's REST API; JSON answers are decoded."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    def instance_file(self, sop_instance_uid: str) -> bytes:
        """The file Orthanc stored for an instance."""
        ids = self.rest("POST", "/tools/lookup", sop_instance_uid.encode())
        (match,) = [i for i in ids if i["Type"] == "Instance"]
        return bytes(self.rest("GET", f"/instances/{match['ID']}/file"))

    def cpu(self) -> float:
        """CPU seconds it used so far."""
        return proc_stat(self.proc.pid)[0]

    def disk_bytes(self) -> int:
        """Bytes under its storage folder."""
        return sum(p.stat().st_size for p in (self.dir / "db").rglob("*") if p.is_file())

    def stop(self) -> None:
        """Stop it (and remove its folder when it made one)."""
        self.proc.terminate()
        _reap(self.proc)
        self.log.close()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


class StoreSCP:
    """dcmtk's storescp writing what it receives into *directory* or a temporary folder (``+B``: bytes as received)."""

    def __init__(self, directory: Path | None = None, *, aet: str = "STORESCP", bit_preserving: bool = True) -> None:
        self._own_dir = directory is None
        self.dir = Path(tempfile.mkdtemp(prefix="storescp-")) if directory is None else Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port, self.aet = free_port(), aet
        args = ["storescp", "-od", str(self.dir), "-aet", aet, *(["+B"] if bit_preserving else []), str(self.port)]
        self.proc = subprocess.Popen(args, env=NODELAY_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def cpu(self) -> float:
        """CPU seconds used so far."""
        return proc_stat(self.proc.pid)[0]

    def rss(self) -> int:
        """Resident bytes now."""
        return proc_stat(self.proc.pid)[1]

    def disk_bytes(self) -> int:
        """Bytes written."""
        return sum(p.stat().st_size for p in self.dir.rglob("*") if p.is_file())

    def stop(self) -> None:
        """Stop it (and remove its files when it made their folder)."""
        self.proc.terminate()
        self.proc.wait(timeout=30)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def postgres_bindir() -> Path | None:
    """The folder of Debian's PostgreSQL server binaries (``initdb``, ``postgres``), newest version; None if absent."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("postgres") else None


class PostgresServer:
    """A throw-away PostgreSQL server: data in a temporary folder, TCP on 127.0.0.1 only, password auth.

    The unix socket stays in the temporary folder. Durability is traded for speed (``fsync``
    off): it is for tests and benchmarks. PostgreSQL refuses to run as root, so when started
    by root the server runs as *run_as* (``nobody``), which then owns the folder.

    Parameters
    ----------
    run_as : str
        The account the server runs as when the caller is root.
    """

    user = "pacslab"

    def __init__(self, *, run_as: str = "nobody") -> None:
        bindir = postgres_bindir()
        if bindir is None:
            raise FileNotFoundError("PostgreSQL server binaries (initdb, postgres) are not installed: "
                                    "apt-get install postgresql (make test installs it).")  # fmt: skip
        self.dir = Path(tempfile.mkdtemp(prefix="postgres-"))
        self.port = free_port()
        self.password = secrets.token_hex(16)
        account: dict[str, Any] = {}
        if os.geteuid() == 0:
            entry = pwd.getpwnam(run_as)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
            account = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        (self.dir / "pwfile").write_text(self.password)
        if account:
            os.chown(self.dir / "pwfile", account["user"], account["group"])
        env = {**os.environ, "LC_ALL": "C"}
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(self.dir / "data"), "-U", self.user,
             "--pwfile", str(self.dir / "pwfile"), "--auth", "scram-sha-256", "--locale", "C", "--encoding", "UTF8",
             "--no-sync"],
            check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **account,
        )  # fmt: skip
        self.log = open(self.dir / "postgres.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(self.dir / "data"), "-k", str(self.dir), "-h", "127.0.0.1",
             "-p", str(self.port), "-F", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=200", "-c", "shared_buffers=32MB"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, **account,
        )  # fmt: skip
        try:
            wait_for(self._ready, timeout=60)
        except TimeoutError:
            self.stop()
            raise

    def url(self, database: str = "postgres") -> str:
        """The libpq URL of *database* on this server."""
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"PostgreSQL exited at start; see {self.dir / 'postgres.log'}")
        try:
            self.execute("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - not accepting connections yet
            return False

    def execute(self, sql: str) -> None:
        """Run one statement in the ``postgres`` database (autocommit: CREATE DATABASE, …)."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql)

    def create_database(self, name: str | None = None, *, template: str | None = None) -> str:
        """Create an empty database (a copy of *template* when given); returns its URL."""
        name = name or f"db_{secrets.token_hex(6)}"
        self.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing its connections."""
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are ended) and remove its folder."""
        self.proc.send_signal(signal.SIGINT)
        _reap(self.proc)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

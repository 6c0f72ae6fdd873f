"""DIMSE benchmark (issue 3): pacslab's DICOM server vs Orthanc vs dcmtk's storescp, with dcmtk clients.

Run by hand: ``.venv/bin/python benchmarks/dimse.py [--data DIR] [--small] [--repeat N]``. Prints Markdown tables:

* ingest: one ``storescu`` association sends the whole set to each receiver (files/s, MB/s, CPU ms/file
  of the receiver's process tree; pacslab runs as ``pacslab serve`` in its own process, volume building
  deferred past the run so that only reception and archiving are measured). pacslab answers C-STORE
  once the file is spooled (``dimse.spool``), so it gets two rows: *acknowledged* (storescu's wall
  time) and *archived* (until the spool is empty, i.e. every instance is in the catalog); a third row
  runs it with ``dimse.spool: false`` (archived before each answer);
* C-FIND STUDY latency inside one association (``findscu --repeat``), pacslab vs Orthanc;
* the floor under pacslab's figures: pynetdicom alone, with handlers that do nothing
  (``_bare_scp.py``: C-STORE answered at once, C-FIND with one fixed match), same AE settings;
* C-GET of one CT series into files (``getscu``), pacslab vs Orthanc.

As root it re-runs itself in a loopback-only network namespace (Orthanc and storescp bind every interface).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _peers  # noqa: E402


def _data(path: Path, small: bool) -> tuple[list[Path], int]:
    if not path.exists():
        from pacslab import examples

        print(f"generating the benchmark set in {path} …", file=sys.stderr)
        kwargs = dict(n_ct_series=2, ct_slices=60, n_mr_series=1, n_dx=4) if small else {}
        examples.write_benchmark_set(path, **kwargs)
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return files, sum(p.stat().st_size for p in files)


class PacslabServer:
    """``pacslab serve`` in its own process on a free port."""

    def __init__(self, work: Path, *, spool: bool = True) -> None:
        self.root = work / ("pacslab-archive" if spool else "pacslab-archive-sync")
        exe = Path(sys.executable).parent / "pacslab"
        subprocess.run([str(exe), "init", str(self.root)], check=True, stdout=subprocess.DEVNULL)
        self.port = _peers.free_port()
        env = {**os.environ, "PACSLAB_DIMSE__STABLE_DELAY": "3600", "PACSLAB_DIMSE__SPOOL": str(spool)}
        self.proc = subprocess.Popen([str(exe), "serve", str(self.root), "--dicom-port", str(self.port), "--no-http"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        _peers.wait_port(self.port, timeout=60)

    def cpu(self) -> float:
        """CPU seconds of the server and its worker processes (those alive now)."""
        return sum(_peers._stat(pid)[0] for pid in _peers._tree(self.proc.pid))

    def spooled(self) -> int:
        """Instances acknowledged but not archived yet (files in ROOT/spool)."""
        try:
            return sum(1 for name in os.listdir(self.root / "spool") if name.endswith(".dcm"))
        except FileNotFoundError:
            return 0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=120)


class BareSCP:
    """pynetdicom alone with handlers that do nothing (``_bare_scp.py``): the floor under pacslab's DIMSE figures."""

    def __init__(self) -> None:
        self.port = _peers.free_port()
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "_bare_scp.py"), str(self.port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == b"ready"

    def cpu(self) -> float:
        return _peers._stat(self.proc.pid)[0]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def _row(name: str, n: int, size: int, wall: float, cpu: float) -> dict[str, object]:
    return {"receiver": name, "files": n, "seconds": f"{wall:.2f}", "files/s": f"{n / wall:.0f}",
            "MB/s": f"{size / wall / 1e6:.1f}", "CPU ms/file": f"{cpu / n * 1000:.2f}"}  # fmt: skip


def ingest(name: str, receiver, port: int, called: str, data: Path, n: int, size: int) -> list[dict[str, object]]:
    cpu0 = receiver.cpu()
    start = time.perf_counter()
    wall = _peers.storescu(port, data, called=called)
    if not isinstance(receiver, PacslabServer):
        time.sleep(0.5)
        return [_row(name, n, size, wall, receiver.cpu() - cpu0)]
    cpu_ack = receiver.cpu() - cpu0
    while receiver.spooled():  # archived: the spool file of an instance goes once its catalog row committed
        time.sleep(0.01)
    archived = time.perf_counter() - start
    cpu = receiver.cpu() - cpu0
    if archived - wall < 0.02:  # nothing was left to archive (dimse.spool: false)
        return [_row(name, n, size, wall, cpu)]
    return [_row(f"{name}: acknowledged", n, size, wall, cpu_ack), _row(f"{name}: archived", n, size, archived, cpu)]


def find_latency(port: int, called: str, study: str, repeat: int) -> float:
    """Median-free estimate: (time of repeat+1 finds − time of 1 find) / repeat, in ms, one association each."""

    def run(n: int) -> float:
        start = time.perf_counter()
        subprocess.run(["findscu", "-S", "-aet", "FINDSCU", "-aec", called, "--repeat", str(n),
                        "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}", "-k", "PatientName",
                        "-k", "PatientID", "-k", "StudyDate", "-k", "ModalitiesInStudy",
                        "-k", "NumberOfStudyRelatedInstances", "127.0.0.1", str(port)],
                       env=_peers.NODELAY_ENV, check=True, capture_output=True)  # fmt: skip
        return time.perf_counter() - start

    run(1)
    return (run(repeat + 1) - run(1)) / repeat * 1000


def c_get(port: int, called: str, study: str, series: str, out: Path) -> tuple[float, int]:
    out.mkdir(parents=True)
    start = time.perf_counter()
    subprocess.run(["getscu", "-S", "+B", "-aet", "GETSCU", "-aec", called, "-od", str(out),
                    "-k", "QueryRetrieveLevel=SERIES", "-k", f"StudyInstanceUID={study}",
                    "-k", f"SeriesInstanceUID={series}", "127.0.0.1", str(port)],
                   env=_peers.NODELAY_ENV, check=True, capture_output=True)  # fmt: skip
    wall = time.perf_counter() - start
    return wall, _peers.du(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="benchmark set (generated with pacslab.examples when missing)")
    parser.add_argument("--small", action="store_true", help="a reduced set (2 CT × 60, 1 MR, 4 DX)")
    parser.add_argument("--repeat", type=int, default=200, help="C-FIND requests per association")
    parser.add_argument("--no-sync", action="store_true", help="skip the run with dimse.spool: false")
    args = parser.parse_args()
    _peers.in_private_network()
    import pydicom

    work = Path(tempfile.mkdtemp(prefix="pacslab-dimse-bench-"))
    data = args.data or work / "data"
    files, size = _data(data, args.small)
    n = len(files)
    print(f"{n} files, {size / 1e6:.0f} MB", file=sys.stderr)
    # the biggest CT series, for C-GET and C-FIND
    series: dict[tuple[str, str], int] = {}
    for path in files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if ds.Modality == "CT":
            key = (str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID))
            series[key] = series.get(key, 0) + 1
    study, ct_series = max(series, key=series.get)
    rows, find_rows, get_rows = [], [], []
    try:
        scp = _peers.StoreSCP()
        try:
            rows += ingest("dcmtk storescp (writes files)", scp, scp.port, "STORESCP", data, n, size)
        finally:
            scp.stop()
        orthanc = _peers.Orthanc()
        try:
            rows += ingest("Orthanc 1.10", orthanc, orthanc.dicom_port, "ORTHANC", data, n, size)
            ms = find_latency(orthanc.dicom_port, "ORTHANC", study, args.repeat)
            find_rows.append({"server": "Orthanc", "C-FIND STUDY ms": f"{ms:.2f}"})
            wall, got = c_get(orthanc.dicom_port, "ORTHANC", study, ct_series, work / "get-orthanc")
            get_rows.append({"server": "Orthanc", "instances": series[(study, ct_series)], "seconds": f"{wall:.2f}",
                             "MB/s": f"{got / wall / 1e6:.0f}"})  # fmt: skip
        finally:
            orthanc.stop()
        bare = BareSCP()
        try:
            rows += ingest("pynetdicom alone, handler does nothing (floor)", bare, bare.port, "BARE", data, n, size)
            ms = find_latency(bare.port, "BARE", study, args.repeat)
            find_rows.append({"server": "pynetdicom alone, one fixed match (floor)", "C-FIND STUDY ms": f"{ms:.2f}"})
        finally:
            bare.stop()
        if not args.no_sync:
            sync = PacslabServer(work, spool=False)
            try:
                rows += ingest("pacslab serve, spool off", sync, sync.port, "PACSLAB", data, n, size)
            finally:
                sync.stop()
        pacslab = PacslabServer(work)
        try:
            rows += ingest("pacslab serve", pacslab, pacslab.port, "PACSLAB", data, n, size)
            ms = find_latency(pacslab.port, "PACSLAB", study, args.repeat)
            find_rows.append({"server": "pacslab", "C-FIND STUDY ms": f"{ms:.2f}"})
            wall, got = c_get(pacslab.port, "PACSLAB", study, ct_series, work / "get-pacslab")
            get_rows.append({"server": "pacslab", "instances": series[(study, ct_series)], "seconds": f"{wall:.2f}",
                             "MB/s": f"{got / wall / 1e6:.0f}"})  # fmt: skip
        finally:
            pacslab.stop()
    finally:
        if args.data is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            for sub in ("pacslab-archive", "pacslab-archive-sync", "get-orthanc", "get-pacslab"):
                shutil.rmtree(work / sub, ignore_errors=True)
    print(f"\n### DIMSE ingest: one storescu association, {n} files, {size / 1e6:.0f} MB\n")
    print(_peers.table(rows, ["receiver", "files", "seconds", "files/s", "MB/s", "CPU ms/file"]))
    print(f"\n### C-FIND STUDY inside one association (findscu --repeat {args.repeat})\n")
    print(_peers.table(find_rows, ["server", "C-FIND STUDY ms"]))
    print("\n### C-GET of one CT series into files (getscu +B)\n")
    print(_peers.table(get_rows, ["server", "instances", "seconds", "MB/s"]))
    by = {r["receiver"]: float(r["files/s"]) for r in rows}
    orthanc_rate = by["Orthanc 1.10"]
    ack = by.get("pacslab serve: acknowledged", by.get("pacslab serve", 0.0))
    archived = by.get("pacslab serve: archived", by.get("pacslab serve", 0.0))
    f = {r["server"]: float(r["C-FIND STUDY ms"]) for r in find_rows}
    print(f"\ningest pacslab/Orthanc = {ack / orthanc_rate:.2f}× acknowledged, {archived / orthanc_rate:.2f}× archived "
          f"(target ≥ 2×); C-FIND pacslab/Orthanc = {f['pacslab'] / f['Orthanc']:.2f}× (target ≤ 0.5×)")  # fmt: skip


if __name__ == "__main__":
    main()

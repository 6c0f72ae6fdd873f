"""DICOMweb benchmark (issue 4): pacslab's DicomwebServer vs Orthanc's DICOMweb plugin, on the same data.

Run by hand: ``.venv/bin/python benchmarks/dicomweb.py [--data DIR] [--small] [--repeat N]``. Prints a Markdown table:

* STOW-RS ingest: 4 client threads, each POSTing its share of the set in requests of 32 files (files/s, MB/s),
  after one untimed request storing a small instance that is not in the set; ``--stow-rounds`` rounds (3 by
  default), each into fresh servers in turning order, the median reported with every round's figure;
* QIDO-RS study search latency, median and p95 over one keep-alive connection (http.client);
* WADO-RS of one CT series (multipart, streamed) in MB/s, median and best of ``--wado-rounds`` (12)
  retrievals from each server in turn after a first one; then the first retrieval of each other CT series
  (the median and range of the first retrievals reported too): once after both servers' STOW-RS
  (pacslab's originals whole), once more after pacslab built its volumes (originals rebuilt from their
  heads + volume frames);
* rendered frame latency (``/rendered``, JPEG), median over one keep-alive session.

Each server runs in its own process: pacslab as ``python -c`` around :class:`pacslab.dicomweb.DicomwebServer`
with a bearer token, Orthanc from Debian with ``TCP_NODELAY=1``. As root it re-runs itself in a loopback-only
network namespace (Orthanc binds every interface).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).parent))
import _peers  # noqa: E402

_DICOM_MULTIPART = 'multipart/related; type="application/dicom"'
_SERVE = """
import sys, pacslab
from pacslab._serving import serving_process
from pacslab.dicomweb import DicomwebServer
archive = pacslab.open_archive(sys.argv[1])
serving_process()  # before the server's threads start, as `pacslab serve` does
server = DicomwebServer(archive, port=int(sys.argv[2]), stable_delay=None, workers=4).start()
print("ready", flush=True)
server.serve_forever()
"""


def _data(path: Path, small: bool) -> list[Path]:
    if not path.exists():
        from pacslab import examples

        print(f"generating the benchmark set in {path} …", file=sys.stderr)
        kwargs = dict(n_ct_series=2, ct_slices=60, n_mr_series=1, n_dx=4) if small else {}
        examples.write_benchmark_set(path, **kwargs)
    return sorted(p for p in path.rglob("*") if p.is_file())


class PacslabWeb:
    """A DicomwebServer in its own process over a new archive, and a write token."""

    def __init__(self, work: Path, name: str = "pacslab-archive") -> None:
        import pacslab
        from pacslab.dicomweb import create_token

        self.root = work / name
        with pacslab.open_archive(self.root, create=True) as archive:
            self.token = create_token(archive, role="admin", name="bench")
        self.port = _peers.free_port()
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVE, str(self.root), str(self.port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == b"ready"
        self.url = f"http://127.0.0.1:{self.port}/dicom-web"
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def build_volumes(self) -> float:
        start = time.perf_counter()
        code = f"import pacslab; pacslab.open_archive({str(self.root)!r}).build_volumes()"
        subprocess.run([sys.executable, "-c", code],
                       check=True)  # fmt: skip
        return time.perf_counter() - start

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def _multipart(paths: list[Path]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + p.read_bytes() + b"\r\n"
             for p in paths]  # fmt: skip
    return b"".join(parts) + b"--" + boundary.encode() + b"--\r\n", (
        f'multipart/related; type="application/dicom"; boundary={boundary}'
    )


def stow(url: str, headers: dict[str, str], files: list[Path], clients: int = 4, batch: int = 32) -> dict[str, float]:
    """POST every file, *clients* threads, *batch* files per request; files/s and MB/s."""
    batches = [files[i : i + batch] for i in range(0, len(files), batch)]
    bodies = [_multipart(b) for b in batches]  # built before the clock starts

    def worker(k: int) -> None:
        with requests.Session() as s:
            for body, ctype in bodies[k::clients]:
                r = s.post(f"{url}/studies", data=body, headers={**headers, "Content-Type": ctype}, timeout=600)
                assert r.status_code == 200, (r.status_code, r.text[:500])

    start = time.perf_counter()
    with cf.ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    wall = time.perf_counter() - start
    size = sum(p.stat().st_size for p in files)
    return {"files_s": len(files) / wall, "mb_s": size / wall / 1e6}


def warm_up(url: str, headers: dict[str, str], work: Path) -> None:
    """Store one small instance that is not in the set, so that neither server is timed while it starts up
    (pacslab's STOW-RS worker processes start with the first request)."""
    from pacslab import examples

    (path,) = examples.write_series(examples.generate_ct_series(seed=99, n_slices=1, rows=32, columns=32),
                                    work / "warm-up")  # fmt: skip
    body, ctype = _multipart([path])
    r = requests.post(f"{url}/studies", data=body, headers={**headers, "Content-Type": ctype}, timeout=120)
    assert r.status_code == 200, (r.status_code, r.text[:500])


def latency(url: str, headers: dict[str, str], repeat: int, accept: str) -> tuple[float, float]:
    """Median and p95 of GET *url* in ms over one keep-alive connection (after 20 warm-up requests).

    The client is the standard library's ``http.client`` with TCP_NODELAY: ~0.1 ms of its own per
    request where ``requests`` adds ~0.7 ms, which would hide the servers' difference.
    """
    parts = urllib.parse.urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    connection.connect()
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    try:
        for i in range(repeat + 20):
            start = time.perf_counter()
            connection.request("GET", target, headers={**headers, "Accept": accept})
            response = connection.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - start
            assert response.status == 200, (url, response.status, body[:300])
            if i >= 20:
                times.append(elapsed * 1000)
    finally:
        connection.close()
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def _wado_once(url: str, headers: dict[str, str], study: str, series: str) -> tuple[float, int]:
    """MB/s of one streamed WADO-RS series retrieval, and its bytes."""
    start = time.perf_counter()
    size = 0
    with requests.get(f"{url}/studies/{study}/series/{series}", stream=True, timeout=600,
                      headers={**headers, "Accept": _DICOM_MULTIPART}) as r:  # fmt: skip
        assert r.status_code == 200, r.status_code
        for chunk in r.iter_content(1 << 20):
            size += len(chunk)
    return size / (time.perf_counter() - start) / 1e6, size


def wado_series(
    servers: dict[str, tuple[str, dict[str, str]]], series: list[tuple[str, str]], rounds: int
) -> dict[str, str]:
    """WADO-RS of the first of *series* (study, series UIDs) from each server in turn, *rounds* times (the
    order turning each round) after a first retrieval each; then a first retrieval of each other series.

    Per server: the median and best MB/s of the rounds, the median and range of the first retrievals,
    and the bytes of the first series. Alternating puts the servers through the same moments of a
    shared machine, whose speed drifts by half between minutes. First retrievals are reported apart:
    pacslab keeps the chunks it decoded (``volumes.cache-mb``) and Orthanc the files it read or wrote
    last (``MaximumStorageCacheSize``).
    """
    rates: dict[str, list[float]] = {who: [] for who in servers}
    first: dict[str, list[float]] = {who: [] for who in servers}
    sizes: dict[str, int] = {}

    def first_retrievals(k: int, study: str, uid: str) -> None:
        for who in list(servers)[:: -1 if k % 2 else 1]:
            first[who].append(_wado_once(*servers[who], study, uid)[0])

    first_retrievals(0, *series[0])
    for k in range(rounds):
        for who in list(servers)[:: -1 if k % 2 else 1]:
            rate, sizes[who] = _wado_once(*servers[who], *series[0])
            rates[who].append(rate)
    for k, (study, uid) in enumerate(series[1:], start=1):
        first_retrievals(k, study, uid)
    return {
        who: f"{statistics.median(r):.0f} (best {max(r):.0f}; first retrievals of {len(series)} series: "
        f"median {statistics.median(first[who]):.0f}, {min(first[who]):.0f}–{max(first[who]):.0f}; "
        f"{sizes[who] / 1e6:.0f} MB)"
        for who, r in rates.items()
    }


def _stow_target(server: PacslabWeb | _peers.Orthanc) -> tuple[str, dict[str, str]]:
    if isinstance(server, PacslabWeb):
        return server.url, server.headers
    return f"http://127.0.0.1:{server.http_port}/dicom-web", {}


def _median_of(results: list[dict[str, float]]) -> str:
    """``"M files/s (N MB/s)"`` of the median round, and every round's files/s."""
    ranked = sorted(results, key=lambda r: r["files_s"])
    mid = ranked[len(ranked) // 2]
    rounds = "/".join(f"{r['files_s']:.0f}" for r in results)
    return f"{mid['files_s']:.0f} files/s ({mid['mb_s']:.0f} MB/s; rounds {rounds})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="benchmark set (generated with pacslab.examples when missing)")
    parser.add_argument("--small", action="store_true", help="a reduced set (2 CT × 60, 1 MR, 4 DX)")
    parser.add_argument("--repeat", type=int, default=1000, help="QIDO requests (rendered: a quarter)")
    parser.add_argument("--stow-rounds", type=int, default=3, help="STOW-RS rounds into fresh servers (median)")
    parser.add_argument("--wado-rounds", type=int, default=12, help="WADO-RS retrievals from each server (median)")
    args = parser.parse_args()
    _peers.in_private_network()
    work = Path(tempfile.mkdtemp(prefix="pacslab-dicomweb-bench-"))
    files = _data(args.data or work / "data", args.small)
    size = sum(p.stat().st_size for p in files)
    import pydicom

    ct = [p for p in files if pydicom.dcmread(p, stop_before_pixels=True, specific_tags=["Modality"]).Modality == "CT"]
    first = pydicom.dcmread(ct[0], stop_before_pixels=True)
    study, series, sop = first.StudyInstanceUID, first.SeriesInstanceUID, first.SOPInstanceUID
    ct_series = [(study, series)]  # the first, then every other CT series of the set
    for p in ct:
        head = pydicom.dcmread(p, stop_before_pixels=True, specific_tags=["StudyInstanceUID", "SeriesInstanceUID"])
        if (head.StudyInstanceUID, head.SeriesInstanceUID) not in ct_series:
            ct_series.append((head.StudyInstanceUID, head.SeriesInstanceUID))
    patient = first.PatientID
    print(f"{len(files)} files, {size / 1e6:.0f} MB; CT series {series}", file=sys.stderr)

    stow_figure = "STOW-RS ingest, 4 clients × 32 files/request"
    rows: dict[str, dict[str, object]] = {stow_figure: {"figure": stow_figure}}  # first, filled in at the end

    def put(figure: str, who: str, value: str) -> None:
        rows.setdefault(figure, {"figure": figure})[who] = value

    orthanc = _peers.Orthanc()
    peers = {"Orthanc 1.10.1": (f"http://127.0.0.1:{orthanc.http_port}/dicom-web", {}, orthanc)}
    pacslab_server = PacslabWeb(work)
    peers = {"pacslab": (pacslab_server.url, pacslab_server.headers, pacslab_server), **peers}
    stowed: dict[str, list[dict[str, float]]] = {who: [] for who in peers}
    try:
        for who, (url, headers, _) in peers.items():
            print(f"{who}: STOW-RS …", file=sys.stderr)
            _peers.settle()  # the other server's files written out first, not while this one is timed
            warm_up(url, headers, work)
            stowed[who].append(stow(url, headers, files))
            _peers.settle()  # what the server just stored goes out before the figures measured on it
            med, p95 = latency(f"{url}/studies?PatientID={patient}", headers, args.repeat, "application/dicom+json")
            put("QIDO-RS study search, median / p95 (keep-alive)", who, f"{med:.1f} / {p95:.1f} ms")
            med, p95 = latency(f"{url}/studies/{study}/series/{series}/instances/{sop}/rendered", headers,
                               max(args.repeat // 4, 10), "image/jpeg")  # fmt: skip
            put("rendered frame (JPEG), median / p95", who, f"{med:.1f} / {p95:.1f} ms")
        both = {who: (url, headers) for who, (url, headers, _) in peers.items()}
        _peers.settle()
        wado = (f"WADO-RS one CT series, MB/s: median of {args.wado_rounds} alternating after a first; "
                f"first retrievals of every CT series")  # fmt: skip
        for who, figure in wado_series(both, ct_series, args.wado_rounds).items():
            put(wado, who, figure)
        print("pacslab: building volumes …", file=sys.stderr)
        seconds = pacslab_server.build_volumes()
        _peers.settle()  # the volumes just written go out before the measurements that follow
        wado_built = wado + ", after pacslab built its volumes"
        for who, figure in wado_series(both, ct_series, args.wado_rounds).items():
            put(wado_built, "pacslab, volumes built" if who == "pacslab" else who, figure)
        put("build volumes after STOW (not served)", "pacslab", f"{seconds:.1f} s")
        med, p95 = latency(f"{pacslab_server.url}/studies?PatientID={patient}", pacslab_server.headers, args.repeat,
                           "application/dicom+json")  # fmt: skip
        put("QIDO-RS study search, median / p95 (keep-alive)", "pacslab, volumes built", f"{med:.1f} / {p95:.1f} ms")
        for round_ in range(1, args.stow_rounds):  # fresh servers, the other one first every other round
            for who in list(peers)[:: -1 if round_ % 2 else 1]:
                print(f"{who}: STOW-RS round {round_ + 1} …", file=sys.stderr)
                fresh = (  # each keeps its files until the end: deleting them would slow the next one's writes
                    PacslabWeb(work, f"pacslab-round-{round_}")
                    if who == "pacslab"
                    else _peers.Orthanc(work / f"orthanc-round-{round_}")
                )
                try:
                    url, headers = _stow_target(fresh)
                    _peers.settle()
                    warm_up(url, headers, work)
                    stowed[who].append(stow(url, headers, files))
                finally:
                    fresh.stop()
        for who, results in stowed.items():
            put(stow_figure, who, _median_of(results))
    finally:
        pacslab_server.stop()
        orthanc.stop()
        shutil.rmtree(work, ignore_errors=True)  # the archive (and the data, when generated here) go with the run
    print(f"\n{len(files)} files, {size / 1e6:.0f} MB, {os.cpu_count()} cores\n")
    print(_peers.table(list(rows.values()), ["figure", "pacslab", "pacslab, volumes built", "Orthanc 1.10.1"]))


if __name__ == "__main__":
    main()

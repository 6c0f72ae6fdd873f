"""Ingest benchmark (issue 2): pacslab folder ingest vs Orthanc and dcmtk's storescp on the same files.

Run by hand: ``.venv/bin/python benchmarks/ingest.py [--data DIR] [--small]``. Prints a Markdown table.
As root it re-runs itself in a loopback-only network namespace (Orthanc and storescp bind every interface).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _peers  # noqa: E402


def _data(path: Path, small: bool) -> tuple[int, int]:
    if not path.exists():
        from pacslab import examples

        print(f"generating the benchmark set in {path} …", file=sys.stderr)
        kwargs = dict(n_ct_series=2, ct_slices=60, n_mr_series=1, n_dx=4) if small else {}
        examples.write_benchmark_set(path, **kwargs)
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def bench_pacslab(data: Path, work: Path) -> dict[str, float]:
    root = work / "pacslab-archive"
    exe = Path(sys.executable).parent / "pacslab"
    subprocess.run([str(exe), "init", str(root)], check=True, stdout=subprocess.DEVNULL)
    m = _peers.run_measured([str(exe), "ingest", str(root), str(data), "--no-progress"])
    m["disk"] = _peers.du(root)
    m["slice_ms"] = slice_latency(root)
    return m


def bench_pacslab_api(data: Path, work: Path) -> dict[str, float]:
    """``Archive.ingest`` called in a running Python (a notebook's kernel): the CLI's start-up left out."""
    root = work / "pacslab-archive"
    code = f"""
import json, os, time, pacslab
a = pacslab.open_archive({str(root)!r}, create=True)
t0, c0 = time.perf_counter(), os.times()
a.ingest([{str(data)!r}], progress=False)
t1, c1 = time.perf_counter(), os.times()
cpu = sum(getattr(c1, k) - getattr(c0, k) for k in ("user", "system", "children_user", "children_system"))
print(json.dumps({{"wall": t1 - t0, "cpu": cpu}}))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    m: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    m["disk"] = _peers.du(root)
    return m


def slice_latency(root: Path) -> float:
    """Median ms of open_volume + reading one slice, over the archive's image series (fresh process)."""
    code = f"""
import time, statistics, pacslab
a = pacslab.open_archive({str(root)!r})
times = []
for uid in a.series(volume_state="ready").SeriesInstanceUID:
    t = time.perf_counter()
    v = a.open_volume(uid)
    v.isel(z=v.sizes["z"] // 2).values
    times.append((time.perf_counter() - t) * 1000)
print(statistics.median(times[1:] or times))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def bench_storescp(data: Path, work: Path) -> dict[str, float]:
    scp = _peers.StoreSCP(work / "storescp")
    try:
        cpu0 = scp.cpu()
        wall = _peers.storescu(scp.port, data)
        time.sleep(0.2)
        return {"wall": wall, "cpu": scp.cpu() - cpu0, "rss": scp.rss(), "disk": scp.disk_bytes()}
    finally:
        scp.stop()


def bench_orthanc(data: Path, work: Path) -> dict[str, float]:
    orthanc = _peers.Orthanc(work / "orthanc")
    try:
        cpu0 = orthanc.cpu()
        wall = _peers.storescu(orthanc.dicom_port, data, called="ORTHANC")
        time.sleep(0.5)
        rss = _peers._stat(orthanc.proc.pid)[1]
        return {"wall": wall, "cpu": orthanc.cpu() - cpu0, "rss": rss, "disk": orthanc.disk_bytes()}
    finally:
        orthanc.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "pacslab-bench-set")
    parser.add_argument("--small", action="store_true", help="a small set, to try the script quickly")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None, help="where the receivers write (a temporary folder)")
    args = parser.parse_args()
    _peers.in_private_network()
    n, size = _data(args.data, args.small)
    print(f"input: {n} files, {size / 1e6:.0f} MB in {args.data}\n")
    results: dict[str, list[dict[str, float]]] = {"pacslab folder ingest (volumes included)": [],
                                                   "pacslab Archive.ingest in a running Python (no start-up)": [],
                                                   "Orthanc 1.10 (storescu, one association)": [],
                                                   "dcmtk storescp (storescu, one association)": []}  # fmt: skip
    names = list(results)
    benches = [(names[0], bench_pacslab, True), (names[1], bench_pacslab_api, True),
               (names[2], bench_orthanc, bool(shutil.which("Orthanc"))),
               (names[3], bench_storescp, bool(shutil.which("storescp")))]  # fmt: skip
    # Every receiver writes into a new folder and nothing is deleted until the end: ext4 scans past the inodes
    # freed in the last minutes whenever it allocates one, so a receiver run right after another's output was
    # removed is slowed by it. The order turns with each repetition. Before each receiver the page cache's dirty
    # data is written out (_peers.settle, not timed): otherwise the kernel writes one receiver's files out while a
    # later one is timed (30 s after they were written), and the turning order keeps who follows whom.
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        for i in range(args.repeat):
            turn = i % len(benches)
            for k, (name, bench, available) in enumerate(benches[turn:] + benches[:turn]):
                if available:
                    work = Path(tmp) / f"{i}-{k}-{name.split()[0]}"
                    work.mkdir()
                    _peers.settle()  # the previous receiver's files written out first, not while this one is timed
                    results[name].append(bench(args.data, work))
                    print(f"repetition {i + 1}, {name}: {n / results[name][-1]['wall']:.0f} files/s", file=sys.stderr)
        print(f"removing the receivers' output ({_peers.du(tmp) / 1e9:.1f} GB) …", file=sys.stderr)
    rows = []
    orthanc_rate = None
    for name, runs in results.items():
        if not runs:
            continue
        wall = statistics.median(r["wall"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        rate = n / wall
        if name.startswith("Orthanc"):
            orthanc_rate = rate
        row = {"receiver": name, "files/s": f"{rate:.0f}", "MB/s": f"{size / 1e6 / wall:.0f}",
               "CPU ms/file": f"{cpu / n * 1000:.1f}", "peak RSS MB": f"{max(r['rss'] for r in runs) / 1e6:.0f}" if "rss" in runs[0] else "—",  # noqa: E501
               "stored / input": f"{statistics.median(r['disk'] for r in runs) / size:.2f}",
               "open_volume + 1 slice ms": f"{runs[0]['slice_ms']:.1f}" if "slice_ms" in runs[0] else "—"}  # fmt: skip
        rows.append(row)
    for row in rows:
        row["× Orthanc files/s"] = f"{float(row['files/s']) / orthanc_rate:.2f}" if orthanc_rate else "—"
    columns = ["receiver", "files/s", "× Orthanc files/s", "MB/s", "CPU ms/file", "peak RSS MB", "stored / input",
               "open_volume + 1 slice ms"]  # fmt: skip
    print(_peers.table(rows, columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())

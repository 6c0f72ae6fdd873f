"""Catalog scale benchmark (issue 10): study search and ingest as the catalog grows to 10 million instances.

A synthetic catalog (generated rows, not files: 4 series × 50 instances per study, one or two
studies per patient, seven studies a day from 2006 on) is grown step by step — by default to 10 k, 1 M and
10 M instances — on SQLite and on PostgreSQL. At each size:

* QIDO-RS study search (HTTP, the real DicomwebServer, one keep-alive session) and C-FIND STUDY
  (DIMSE, the real DicomServer, one association): median and p95 over a mix of searches a
  radiologist makes — PatientID, AccessionNumber, a patient-name prefix (``DOE^J*``), a day of
  StudyDate, a week of CT studies — each returning about as many studies at every size (1 to 8);
* at 1 M instances (and on the empty catalog): the folder-ingest rate of the same files.

Run by hand: ``.venv/bin/python benchmarks/scale.py [--sizes 10000 1000000 10000000] [--backends sqlite
postgresql]``. PostgreSQL is a server from Debian's packages started in a temporary folder on
127.0.0.1 (``pacslab.testing.peers.PostgresServer``; fsync off, as in the tests). Prints a
Markdown table. Targets (measured, not asserted): study search p95 grows less than 2× from 10 k to
10 M instances; ingest at 1 M instances ≥ 0.8× the empty-archive rate.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import _peers  # noqa: E402

SERIES_PER_STUDY = 4
INSTANCES_PER_SERIES = 50
PER_STUDY = SERIES_PER_STUDY * INSTANCES_PER_SERIES
MODALITIES = ("CT", "MR", "CR", "US", "PT", "DX")
FIRST = dt.date(2006, 1, 1)
STUDIES_PER_DAY = 7
FAMILY = ("DOE", "ROE", "POE", "MOE", "LOE", "KOE", "HOE", "GOE", "FOE", "ZOE")
GIVEN = ("JANE", "JOHN", "ANNA", "PETER", "MARIA", "LUCAS", "EMMA", "NOAH", "MIA", "LEO")
NOW = "2026-01-01T00:00:00+00:00"
HEADER = '{"00080018": {"vr": "UI", "Value": ["%s"]}}'


def _uid(kind: int, n: int, sub: int = 0) -> str:
    return f"2.25.9{kind}{n:09d}{sub:05d}"


def study_row(n: int) -> dict[str, Any]:
    """The attributes of synthetic study *n* (deterministic, so queries can name existing values)."""
    rnd = random.Random(n)
    patient = n // 2  # one or two studies per patient
    family, given = FAMILY[patient % 10], GIVEN[(patient // 10) % 10]
    return {
        "StudyInstanceUID": _uid(1, n),
        "PatientID": f"PID{patient:08d}",
        "PatientName": f"{family}{patient // 100:06d}^{given}",
        "PatientBirthDate": (dt.date(1940, 1, 1) + dt.timedelta(days=patient % 25000)).strftime("%Y%m%d"),
        "PatientSex": "FM"[patient % 2],
        # the archive grows with time: seven studies a day, so a day's search finds as many at every size
        "StudyDate": (FIRST + dt.timedelta(days=n // STUDIES_PER_DAY)).strftime("%Y%m%d"),
        "StudyTime": f"{rnd.randrange(7, 19):02d}{rnd.randrange(60):02d}00",
        "AccessionNumber": f"ACC{n:09d}",
        "StudyDescription": rnd.choice(("CT CHEST", "MR BRAIN", "CR THORAX", "US ABDOMEN", "PET WB", "DX HAND")),
        "Modality": MODALITIES[n % len(MODALITIES)],
    }


def _rows(first_study: int, last_study: int) -> Iterator[tuple[list[tuple], list[tuple], list[tuple], list[tuple]]]:
    """Patient, study, series and instance rows of studies [first, last), in chunks of 500 studies."""
    for start in range(first_study, last_study, 500):
        patients, studies, series, instances = [], [], [], []
        for n in range(start, min(start + 500, last_study)):
            s = study_row(n)
            if n % 2 == 0:
                patients.append((s["PatientID"], s["PatientName"], None, s["PatientBirthDate"], s["PatientSex"]))
            studies.append(
                (s["StudyInstanceUID"], s["PatientID"], s["PatientName"], None, s["PatientBirthDate"], s["PatientSex"],
                 s["StudyDate"], s["StudyTime"], s["AccessionNumber"], s["StudyDescription"], None, str(n % 10000),
                 s["Modality"], SERIES_PER_STUDY, PER_STUDY, NOW, NOW)
            )  # fmt: skip
            for k in range(SERIES_PER_STUDY):
                se = _uid(2, n, k)
                series.append((se, s["StudyInstanceUID"], s["Modality"], k + 1, s["StudyDescription"], None,
                               s["StudyDate"], s["StudyTime"], None, INSTANCES_PER_SERIES, "none", NOW,
                               NOW))  # fmt: skip
                for i in range(INSTANCES_PER_SERIES):
                    sop = _uid(3, n, k * INSTANCES_PER_SERIES + i)
                    instances.append(
                        (sop, se, s["StudyInstanceUID"], "1.2.840.10008.5.1.4.1.1.2", i + 1, 512, 512, None,
                         "1.2.840.10008.1.2.1", 1, f"{n:016x}{k:04x}{i:044x}", 525000, f"synthetic/{sop}", "raw",
                         525000, None, "scale-benchmark", NOW, None, HEADER % sop)
                    )  # fmt: skip
        yield patients, studies, series, instances


_INSERT = {
    "patients": "INSERT OR IGNORE INTO patients (PatientID, PatientName, IssuerOfPatientID, PatientBirthDate, "
    "PatientSex) VALUES (?, ?, ?, ?, ?)",
    "studies": "INSERT INTO studies (StudyInstanceUID, PatientID, PatientName, IssuerOfPatientID, PatientBirthDate, "
    "PatientSex, StudyDate, StudyTime, AccessionNumber, StudyDescription, ReferringPhysicianName, StudyID, "
    "ModalitiesInStudy, NumberOfStudyRelatedSeries, NumberOfStudyRelatedInstances, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "series": "INSERT INTO series (SeriesInstanceUID, StudyInstanceUID, Modality, SeriesNumber, SeriesDescription, "
    "BodyPartExamined, SeriesDate, SeriesTime, FrameOfReferenceUID, NumberOfSeriesRelatedInstances, volume_state, "
    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "instances": "INSERT INTO instances (SOPInstanceUID, SeriesInstanceUID, StudyInstanceUID, SOPClassUID, "
    "InstanceNumber, Rows, Columns, NumberOfFrames, TransferSyntaxUID, has_pixels, sha256, size, stored_key, "
    "stored_codec, stored_size, pixel_ref, source, received_at, geometry, header) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
}


def grow(catalog: Any, first_study: int, last_study: int) -> float:
    """Insert synthetic studies [first, last) through the catalog's own connection (then ANALYZE); seconds taken."""
    start = time.perf_counter()
    for chunk in _rows(first_study, last_study):
        with catalog.transaction() as db:
            for table, rows in zip(("patients", "studies", "series", "instances"), chunk, strict=True):
                if rows:
                    db.executemany(_INSERT[table], rows)
    if catalog.dialect.name == "postgresql":
        # what autovacuum does after a bulk load, done now so it does not run during the measurement
        with catalog.transaction() as db:
            db.execute("ANALYZE")
    return time.perf_counter() - start


def searches(n_studies: int, count: int, seed: int = 1) -> list[dict[str, str]]:
    """A mix of study searches over existing values, each matching a handful of studies."""
    rnd = random.Random(seed)
    out = []
    for k in range(count):
        s = study_row(rnd.randrange(n_studies))
        kind = k % 5
        if kind == 0:
            out.append({"PatientID": s["PatientID"]})
        elif kind == 1:
            out.append({"AccessionNumber": s["AccessionNumber"]})
        elif kind == 2:
            out.append({"PatientName": s["PatientName"].split("^")[0] + "^" + s["PatientName"].split("^")[1][0] + "*"})
        elif kind == 3:
            out.append({"StudyDate": s["StudyDate"]})
        else:
            day = dt.datetime.strptime(s["StudyDate"], "%Y%m%d").date()
            week = f"{day:%Y%m%d}-{day + dt.timedelta(days=6):%Y%m%d}"
            out.append({"StudyDate": week, "ModalitiesInStudy": "CT"})
    return out


def qido_latencies(url: str, queries: list[dict[str, str]], token: str) -> list[float]:
    import requests

    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/dicom+json"})
    times = []
    for params in queries:
        start = time.perf_counter()
        r = session.get(f"{url}/studies", params={**params, "limit": "100"})
        r.raise_for_status()
        times.append(time.perf_counter() - start)
    return times


def cfind_latencies(port: int, queries: list[dict[str, str]]) -> list[float]:
    import socket

    from pydicom.dataset import Dataset
    from pynetdicom import AE
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as FIND

    ae = AE(ae_title="BENCH")
    ae.add_requested_context(FIND)
    assoc = ae.associate("127.0.0.1", port, ae_title="PACSLAB")
    assert assoc.is_established, "C-FIND association refused"
    # Nagle + delayed ACK would add 40 ms to every request (../shared/peers: the Nagle trap)
    assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    try:
        for params in queries:
            ds = Dataset()
            ds.QueryRetrieveLevel = "STUDY"
            for key in ("StudyInstanceUID", "PatientID", "PatientName", "StudyDate", "AccessionNumber",
                        "ModalitiesInStudy", "StudyDescription"):  # fmt: skip
                setattr(ds, key, params.get(key, ""))
            start = time.perf_counter()
            for status, _ in assoc.send_c_find(ds, FIND):
                if status is None or status.Status not in (0xFF00, 0xFF01, 0x0000):
                    raise RuntimeError(f"C-FIND failed: {status}")
            times.append(time.perf_counter() - start)
    finally:
        assoc.release()
    return times


def _stats(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered) * 1000, ordered[max(0, int(round(0.95 * len(ordered))) - 1)] * 1000


@contextlib.contextmanager
def services(archive: Any) -> Iterator[tuple[str, int, str]]:
    from pacslab.dicomweb import DicomwebServer, create_token
    from pacslab.dimse import DicomServer

    token = create_token(archive, role="read", name="scale-benchmark")
    web = DicomwebServer(archive, port=0, stable_delay=None).start()
    dimse = DicomServer(archive, port=0, stable_delay=None).start()
    try:
        yield f"http://127.0.0.1:{web.port}/dicom-web", dimse.port, token
    finally:
        dimse.stop()
        web.stop()


def ingest_rate(archive: Any, folder: Path) -> float:
    """Files/s of ``pacslab ingest`` in a fresh process (so both runs start their worker pool alike)."""
    import json
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "pacslab.cli.main", "ingest", archive.url, str(folder), "--json", "--no-progress"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    report = json.loads(out.stdout)
    assert report["new"] and not report["rejected"], report
    return report["new"] / report["seconds"]


def ingest_input(work: Path, n_series: int, run: int = 0) -> Path:
    """Input folder *run*: *n_series* CT series of 100 slices of 256², new UIDs for every run."""
    from pacslab import examples

    folder = work / f"ingest-input-{run}"
    if not folder.exists():
        for seed in range(n_series):
            datasets = examples.generate_ct_series(seed=700 + 100 * run + seed, n_slices=100, rows=256, columns=256)
            examples.write_series(datasets, folder / f"s{seed}")
    return folder


@contextlib.contextmanager
def catalog_urls(backend: str) -> Iterator[Any]:
    """``name -> catalog URL`` (None: the archive's own SQLite file); PostgreSQL: a throw-away server."""
    if backend == "sqlite":
        yield lambda name: None
        return
    from pacslab.testing.peers import PostgresServer

    server = PostgresServer()
    try:
        yield server.create_database
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000, 10_000_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--queries", type=int, default=300, help="searches per size and protocol")
    parser.add_argument("--ingest-series", type=int, default=4, help="CT series of 100 slices for the ingest rate")
    parser.add_argument("--ingest-at", type=int, default=1_000_000, help="catalog size of the loaded ingest run")
    parser.add_argument("--ingest-runs", type=int, default=2, help="ingest runs per condition (the best counts)")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()

    import pacslab

    work = args.work or Path(tempfile.mkdtemp(prefix="pacslab-bench-scale-"))
    folders = [ingest_input(work, args.ingest_series, run) for run in range(args.ingest_runs)]
    rows, summary = [], []
    for backend in args.backends:
        with catalog_urls(backend) as new_catalog:
            archive = pacslab.open_archive(work / f"archive-{backend}", create=True, catalog=new_catalog("scale"))
            empty_rates = []
            for run, folder in enumerate(folders):  # each into an empty archive of its own
                where, catalog = work / f"empty-{backend}-{run}", new_catalog(f"e{run}")
                empty = pacslab.open_archive(where, create=True, catalog=catalog)
                empty_rates.append(ingest_rate(empty, folder))
                empty.close()
            empty_rate = max(empty_rates)
            rows.append({"backend": backend, "instances": 0, "ingest files/s": f"{empty_rate:.0f}"})
            studies, p95 = 0, {}
            for size in sorted(set(args.sizes) | {args.ingest_at}):
                target = size // PER_STUDY
                seconds = grow(archive.catalog, studies, target)
                studies = target
                row: dict[str, Any] = {"backend": backend, "instances": f"{size:,}", "studies": f"{studies:,}",
                                       "rows added in (s)": f"{seconds:.0f}"}  # fmt: skip
                if size in args.sizes:
                    queries = searches(studies, args.queries)
                    with services(archive) as (url_web, port, token):
                        qido_latencies(url_web, queries[:20], token)  # warm up
                        q_med, q_p95 = _stats(qido_latencies(url_web, queries, token))
                        f_med, f_p95 = _stats(cfind_latencies(port, queries))
                    p95[size] = (q_p95, f_p95)
                    row.update({"QIDO median (ms)": f"{q_med:.1f}", "QIDO p95 (ms)": f"{q_p95:.1f}",
                                "C-FIND median (ms)": f"{f_med:.1f}", "C-FIND p95 (ms)": f"{f_p95:.1f}"})  # fmt: skip
                if size == args.ingest_at:
                    rate = max(ingest_rate(archive, folder) for folder in folders)
                    row["ingest files/s"] = f"{rate:.0f}"
                    summary.append(f"{backend}: ingest at {size:,} instances {rate / empty_rate:.2f}× the empty "
                                   "archive's rate (target ≥ 0.8×)")  # fmt: skip
                rows.append(row)
                print(row, flush=True)
            small, large = min(p95), max(p95)
            summary.append(
                f"{backend}: study search p95 from {small:,} to {large:,} instances: QIDO-RS "
                f"{p95[large][0] / p95[small][0]:.2f}×, C-FIND {p95[large][1] / p95[small][1]:.2f}× (target < 2×)"
            )
            archive.close()
    columns = ["backend", "instances", "studies", "rows added in (s)", "QIDO median (ms)", "QIDO p95 (ms)",
               "C-FIND median (ms)", "C-FIND p95 (ms)", "ingest files/s"]  # fmt: skip
    print()
    print(_peers.table(rows, columns))
    print()
    print("\n".join(summary))


if __name__ == "__main__":
    main()

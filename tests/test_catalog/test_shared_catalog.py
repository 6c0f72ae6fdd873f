"""Several processes on one PostgreSQL-backed archive: two DICOM receivers, concurrent writers, the CLI."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
import yaml
from pydicom.data import get_testdata_file

import pacslab
from pacslab import examples
from pacslab.archive import init_archive
from pacslab.catalog import PostgresCatalog
from pacslab.errors import CatalogError
from pacslab.testing.peers import NODELAY_ENV, free_port, wait_for, wait_port


def _write(series_list, folder: Path) -> set[str]:
    for series in series_list:
        examples.write_series(series, folder / series[0].SeriesInstanceUID)
    return {ds.SOPInstanceUID for series in series_list for ds in series}


# Receivers build inline; with the spool each one has its own locked spool folder in ROOT/spool.
_RECEIVER_ENV = {**NODELAY_ENV, "PACSLAB_INGEST__WORKERS": "1"}


def _receiver(root: Path, port: int, log: Path, spool: bool) -> subprocess.Popen[bytes]:
    """``pacslab serve`` in its own process."""
    env = {**_RECEIVER_ENV, "PACSLAB_DIMSE__SPOOL": str(spool).lower()}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pacslab", "serve", str(root), "--no-http", "--dicom-port", str(port),
             "--stable-delay", "0.5"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    return proc


def _storescu(port: int, folder: Path, aet: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["storescu", "-aet", aet, "-aec", "PACSLAB", "+sd", "+r", "127.0.0.1", str(port), str(folder)],
        env=NODELAY_ENV, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


@pytest.mark.skipif(
    shutil.which("storescu") is None, reason="storescu (dcmtk) is not installed (make test installs it)"
)
@pytest.mark.parametrize("spool", [False, True], ids=["archive-then-answer", "spooled"])
def test_two_receivers_lose_nothing_and_duplicate_nothing(tmp_path, postgres_url, spool):
    studies = examples.demo_studies(seed=2)
    ct, one_ct, mr, dx = (next(s for s in studies if s[0].Modality == m and len(s) == n)
                          for m, n in (("CT", 22), ("CT", 1), ("MR", 20), ("DX", 1)))  # fmt: skip
    shared = _write([ct, dx], tmp_path / "shared")
    only_a = _write([one_ct], tmp_path / "only-a")
    only_b = _write([mr], tmp_path / "only-b")
    expected = shared | only_a | only_b
    root = tmp_path / "archive"
    init_archive(root, catalog=postgres_url).close()
    ports = [free_port(), free_port()]
    receivers = [_receiver(root, port, tmp_path / f"receiver{i}.log", spool) for i, port in enumerate(ports)]
    try:
        for port in ports:
            wait_port(port, timeout=60)
        jobs = [(ports[0], tmp_path / "shared", "MODA"), (ports[1], tmp_path / "shared", "MODB"),
                (ports[0], tmp_path / "only-a", "MODA2"), (ports[1], tmp_path / "only-b", "MODB2")]  # fmt: skip
        with cf.ThreadPoolExecutor(len(jobs)) as pool:
            results = list(pool.map(lambda job: _storescu(*job), jobs))
        assert [r.returncode for r in results] == [0] * len(jobs), [r.stderr[-2000:] for r in results]
        archive = pacslab.open_archive(root)
        wait_for(lambda: len(archive.instances()) >= len(expected), timeout=120)
        wait_for(lambda: set(archive.series().volume_state) <= {"ready", "none"}, timeout=120)
    finally:
        for proc in receivers:  # every instance is archived (counted above): no need to wait for the
            proc.kill()  # graceful stop (about 10 s)
            proc.wait(timeout=60)
    instances = archive.instances()
    assert instances.SOPInstanceUID.is_unique
    assert set(instances.SOPInstanceUID) == expected
    assert archive.conflicts().empty
    series = archive.series()
    by_series = instances.groupby("SeriesInstanceUID").size().to_dict()
    assert dict(zip(series.SeriesInstanceUID, series.NumberOfSeriesRelatedInstances, strict=True)) == by_series
    studies = archive.studies()
    by_study = instances.groupby("StudyInstanceUID").size().to_dict()
    assert dict(zip(studies.StudyInstanceUID, studies.NumberOfStudyRelatedInstances, strict=True)) == by_study
    assert archive.catalog.count_consistency() == []
    report = archive.verify()
    assert report.ok and not report.orphans and not report.pending, report.problems
    # both receivers wrote to the one catalog: each one's associations are in the audit table
    callers = " ".join(str(v) for v in archive.audit_log().astype(str).to_numpy().ravel())
    assert "MODA" in callers and "MODB" in callers
    archive.close()


_INGEST = (
    "import sys, pacslab; a = pacslab.open_archive(sys.argv[1]); "
    "r = a.ingest(sys.argv[2], progress=False, build_volumes=False); print(r.new, r.duplicate, r.conflict); a.close()"
)


def test_concurrent_add_instances_keep_one_row_and_right_counts(tmp_path, postgres_url):
    """Three processes add overlapping batches of one series at once: each instance once, counters right."""
    series = examples.demo_studies(seed=3)[0]
    root = tmp_path / "archive"
    archive = init_archive(root, catalog=postgres_url)
    folders = []
    for i in range(3):  # overlapping halves, in different orders
        folder = tmp_path / f"batch{i}"
        part = series[i * len(series) // 4 :][: len(series) // 2] + series[: len(series) // 4]
        examples.write_series(part if i % 2 else part[::-1], folder)
        folders.append(folder)
    expected = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for f in folders for p in f.rglob("*.dcm")}
    procs = [
        subprocess.Popen([sys.executable, "-c", _INGEST, str(root), str(f)], stdout=subprocess.PIPE, text=True)
        for f in folders
    ]
    outcomes = [[int(n) for n in proc.communicate(timeout=180)[0].split()] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 3
    assert sum(o[0] for o in outcomes) == len(expected)  # each instance was new to exactly one process
    assert sum(o[0] + o[1] for o in outcomes) == sum(len(list(f.rglob("*.dcm"))) for f in folders)
    assert sum(o[2] for o in outcomes) == 0
    instances = archive.instances()
    assert instances.SOPInstanceUID.is_unique and set(instances.SOPInstanceUID) == expected
    (row,) = archive.series().itertuples()
    assert row.NumberOfSeriesRelatedInstances == len(expected)
    assert archive.studies().NumberOfStudyRelatedInstances.tolist() == [len(expected)]
    assert archive.catalog.count_consistency() == []
    assert archive.conflicts().empty
    archive.close()


def test_volume_build_claim_is_exclusive_across_connections(postgres_url):
    a, b = PostgresCatalog(postgres_url), PostgresCatalog(postgres_url)
    try:
        assert a.claim_volume_build("1.2.3", owner="a")
        assert not b.claim_volume_build("1.2.3", owner="b")
        b.release_volume_build("1.2.3", owner="b")  # not its claim: nothing happens
        assert not b.claim_volume_build("1.2.3", owner="b")
        a.release_volume_build("1.2.3", owner="a")
        assert b.claim_volume_build("1.2.3", owner="b")
        assert a.claim_volume_build("1.2.3", owner="a", stale_seconds=0)  # an old claim is taken over
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        with a.transaction() as db:  # the claim of a builder that died (kill -9) on this host
            db.execute(
                "INSERT INTO volume_builds (SeriesInstanceUID, owner, claimed_at) VALUES (?, ?, ?)",
                ("1.2.4", f"{socket.gethostname()}:{gone.pid}:x", "9999"),
            )
        assert not b.claim_volume_build("1.2.3", owner="b")
        assert b.claim_volume_build("1.2.4", owner="b")
    finally:
        a.close()
        b.close()


def test_audit_table_is_append_only(postgres_url):
    catalog = PostgresCatalog(postgres_url)
    try:
        catalog.audit("export", uids=["1.2.3"], count=1)
        import psycopg

        for sql in ("UPDATE audit SET action = 'x'", "DELETE FROM audit", "TRUNCATE audit"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"), catalog.transaction() as db:
                db.execute(sql)
        assert catalog.audit_log().action.tolist() == ["export"]
    finally:
        catalog.close()


def test_modules_with_own_tables_work_on_postgres(tmp_path, postgres_url):
    """Tokens, measurements and de-identification keep their tables in the shared catalog too."""
    from pacslab.analysis.results import measurements, write_measurements
    from pacslab.anonymize.service import project_secret, reidentify
    from pacslab.dicomweb.auth import TokenStore
    from pacslab.widgets._annotations import AnnotationStore

    archive = init_archive(tmp_path / "archive", catalog=postgres_url)
    tokens = TokenStore(archive)
    secret = tokens.create("notebook", "write")
    assert tokens.authenticate(secret).role.value == "write"
    assert tokens.revoke("notebook") == 1
    assert project_secret(archive, "p1") == project_secret(archive, "p1")
    n = write_measurements(
        archive,
        [{"roi": "Lung", "feature": "volume_ml", "value": 12.5}, {"roi": "Bone", "feature": "volume_ml", "value": 3}],
        provenance={"run_id": "r1", "analysis": "a", "SeriesInstanceUID": "1.2.3"},
    )
    assert n == 2
    frame = measurements(archive, roi=["Lung", "Bone"], feature="vol*")
    assert frame.roi.tolist() == ["Lung", "Bone"] and frame.value.tolist() == [12.5, 3.0]
    assert measurements(archive, feature="[uv]ol*_ml").roi.tolist() == ["Lung", "Bone"]
    assert measurements(archive, feature="x*").empty
    assert AnnotationStore(archive).frame().empty
    assert reidentify(archive, "nobody", role="admin") == []
    archive.close()


def test_cli_init_with_postgres_catalog(tmp_path, postgres_url, capsys):
    from pacslab.cli.main import main

    root = tmp_path / "archive"
    assert main(["init", str(root), "--catalog", postgres_url]) == 0
    assert yaml.safe_load((root / "pacslab.yaml").read_text())["catalog"] == postgres_url
    folder = tmp_path / "in"
    examples.write_series(examples.demo_studies(seed=4)[0], folder)
    assert main(["ingest", str(root), str(folder)]) == 0
    assert main(["verify", str(root)]) == 0
    with pacslab.open_archive(root) as archive:
        assert isinstance(archive.catalog, PostgresCatalog)
        assert len(archive.instances()) == len(os.listdir(folder))


def test_unreachable_server_is_a_clear_error(tmp_path):
    url = f"postgresql://pacslab:secret@127.0.0.1:{free_port()}/nowhere"
    with pytest.raises(CatalogError, match="Cannot connect to the PostgreSQL catalog") as info:
        pacslab.open_archive(tmp_path / "archive", create=True, catalog=url)
    assert "secret" not in str(info.value) and "pacslab.yaml" in str(info.value)


def test_forked_child_does_not_close_the_parents_connection(postgres_url):
    """A forked worker that touches (or drops) an inherited catalog opens its own connection."""
    catalog = PostgresCatalog(postgres_url)
    try:
        assert catalog.counts()["instances"] == 0
        pid = os.fork()
        if pid == 0:  # the child: use the catalog, then close it, which must not end the parent's session
            code = 0
            try:
                catalog.close()
                catalog.audit("child")
                catalog.close()
            except BaseException:  # noqa: BLE001 - reported through the exit status
                code = 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert catalog.audit_log().action.tolist() == ["child"]  # the parent's connection still works
    finally:
        catalog.close()


def test_fresh_process_reads_rows_with_column_names_as_spelled(tmp_path, postgres_url):
    """PostgreSQL reports column names lower-cased; a process whose first query is SELECT * still gets the schema's."""
    archive = init_archive(tmp_path / "archive", catalog=postgres_url)
    archive.ingest([get_testdata_file("CT_small.dcm")], progress=False, build_volumes=False)
    (uid,) = archive.instances().SOPInstanceUID
    archive.close()
    code = (
        "import json, sys; from pacslab.catalog import PostgresCatalog; "
        "print(json.dumps(sorted(PostgresCatalog(sys.argv[1]).instance(sys.argv[2]))))"
    )
    out = subprocess.run([sys.executable, "-c", code, postgres_url, uid], capture_output=True, text=True, check=True)
    keys = json.loads(out.stdout)
    assert {"SOPInstanceUID", "TransferSyntaxUID", "Rows", "Columns", "stored_key", "header"} <= set(keys)

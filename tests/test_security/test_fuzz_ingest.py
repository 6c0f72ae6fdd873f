"""Hostile input: mutated DICOM files through folder ingest, C-STORE and STOW-RS.

Invariants after every batch: nothing crashes or hangs, every input is accounted for
(new + duplicate + conflict + rejected == inputs), ``archive.verify()`` is ok and every
catalog instance reads back byte-identical to one of the inputs.

``PACSLAB_FUZZ_EXAMPLES`` (default 10) sets the batches per path; e.g.
``PACSLAB_FUZZ_EXAMPLES=200 pytest tests/test_security`` for a long run.
"""

from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import given

import pacslab
from fuzz_helpers import EXAMPLES, batch, build, dataset_offset

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    phases=(Phase.explicit, Phase.generate),  # no shrinking: a failure prints its batch
)


def run_with_timeout(fn, timeout: float):
    """Run *fn* in a thread; fail when it does not return in *timeout* seconds (a hang)."""
    out: dict = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - reported below
            out["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"hang: no answer in {timeout} s"
    if "error" in out:
        raise out["error"]
    return out["value"]


def check_archive(archive: pacslab.Archive, inputs: set[bytes], *, suffix_ok: bool = False) -> None:
    report = archive.verify()
    assert report.ok, report
    uids = list(archive.instances()["SOPInstanceUID"]) if len(archive.instances()) else []
    for uid in uids:
        data = archive.read_instance(uid, verify=True)
        if suffix_ok:  # DIMSE carries the dataset only: the archive adds a file meta
            body = data[dataset_offset(data) :]
            assert data in inputs or body in inputs, f"{uid} does not read back as sent"
        else:
            assert data in inputs, f"{uid} does not read back as ingested"


@pytest.fixture(scope="module")
def fuzz_archive(tmp_path_factory):
    a = pacslab.open_archive(tmp_path_factory.mktemp("fuzz") / "archive", create=True)
    yield a
    a.close()


def test_fuzz_folder_ingest(fuzz_archive, tmp_path_factory):
    inputs: set[bytes] = set()
    counter = iter(range(10**9))

    @FUZZ
    @given(batch)
    def case(specs):
        folder = tmp_path_factory.mktemp("in")
        files = [build(s) for s in specs]
        for i, data in enumerate(files):
            (folder / f"f{next(counter):06d}.dcm").write_bytes(data)
        inputs.update(files)
        report = run_with_timeout(lambda: fuzz_archive.ingest(folder, progress=False, build_volumes=False), 120)
        assert report.new + report.duplicate + report.conflict + report.n_rejected + len(report.skipped) == len(files), report
        assert all(reason for _, reason in report.rejected)
        check_archive(fuzz_archive, inputs)

    case()

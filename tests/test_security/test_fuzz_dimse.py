"""Hostile input through C-STORE: mutated datasets over real associations to DicomServer (spool on and off).

Each mutant goes out either as a pydicom Dataset that pynetdicom encodes (when the mutated
file still reads as one with its UIDs) or as raw mutated bytes (an
:class:`~pacslab.dimse.EncodedInstance`, sent byte for byte). Invariants per batch: every
request gets a response, every failure status carries an Error Comment, and once the spool
drained every request is accounted for in the association's audit entry (new + duplicate +
conflict + rejected), the rejections in ``archive.rejections()`` with a reason; verify is ok
and every instance reads back as the bytes sent. Sizes and seed: :mod:`pacslab.testing.fuzz`.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, evt

import pacslab
from pacslab.config import config
from pacslab.dimse import DicomServer, EncodedInstance, _raw
from pacslab.testing.fuzz import (
    assert_archive_consistent,
    batches,
    build_mutant,
    dataset_offset,
    fuzz_given,
    fuzz_size,
    run_with_timeout,
    seed_files,
)

SIZE = fuzz_size("c-store")
SUCCESS = (0x0000, 0xB000, 0xB006, 0xB007)


def _seed_contexts() -> list[tuple[str, str]]:
    """(SOP class, transfer syntax) of every seed file."""
    out = []
    for data in seed_files():
        meta = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).file_meta
        out.append((str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID)))
    return out


def _seed_identity(index: int) -> tuple[str, str, str]:
    data = seed_files()[index % len(seed_files())]
    meta = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).file_meta
    return str(meta.MediaStorageSOPClassUID), str(meta.MediaStorageSOPInstanceUID), str(meta.TransferSyntaxUID)


@pytest.fixture(params=[False, True], ids=["sync", "spool"])
def served(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[tuple[pacslab.Archive, DicomServer]]:
    archive = pacslab.open_archive(tmp_path / "archive", create=True)
    server = DicomServer(archive, port=0, host="127.0.0.1", spool=request.param, tls=False, stable_delay=3600).start()
    try:
        yield archive, server
    finally:
        server.stop()
        archive.close()


class Sender:
    """A pynetdicom SCU with pacslab's byte-exact sending, recording the data set bytes it put on the wire."""

    def __init__(self, server: DicomServer, ae_title: str) -> None:
        _raw.install()
        self.server = server
        self.ae = AE(ae_title=ae_title)
        for sop, ts in sorted(set(_seed_contexts())):
            self.ae.add_requested_context(sop, [ts])
        self.ae.acse_timeout = self.ae.dimse_timeout = self.ae.network_timeout = 30
        self.sent: list[bytes] = []
        self.tamper: Any = None

    def _on_sent(self, event: Any) -> None:
        if type(event.message).__name__ == "C_STORE_RQ":
            if self.tamper is not None:
                self.tamper(event.message)
            data_set = event.message.data_set
            self.sent.append(data_set.getvalue() if data_set is not None else b"")

    def associate(self) -> Any:
        handlers = [(evt.EVT_CONN_OPEN, _raw.set_nodelay), (evt.EVT_DIMSE_SENT, self._on_sent)]
        assoc = self.ae.associate("127.0.0.1", self.server.port, ae_title=self.server.ae_title, evt_handlers=handlers)
        assert assoc.is_established, "the server refused the association"
        _raw.keep_responses(assoc)
        return assoc


def _as_dataset(data: bytes) -> Dataset | None:
    """The mutant as pydicom reads it, when it has what pynetdicom needs to send it (else None)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data), force=True)
            if "SOPClassUID" not in ds or "SOPInstanceUID" not in ds or "TransferSyntaxUID" not in ds.file_meta:
                return None
            str(ds.SOPClassUID), str(ds.SOPInstanceUID)
    except Exception:  # noqa: BLE001 - unreadable: sent raw instead
        return None
    return ds


def _send(assoc: Any, spec: Any, data: bytes, as_dataset: bool) -> tuple[Dataset | None, str]:
    """Send one mutant; its response (None when the sender could not build the request) and how it went."""
    if as_dataset and (ds := _as_dataset(data)) is not None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return assoc.send_c_store(ds), "dataset"
        except (AttributeError, ValueError, TypeError, KeyError):
            pass  # no context for its (mutated) SOP class, or pydicom cannot encode it: send it raw
    sop, iuid, ts = _seed_identity(spec[0])
    try:
        instance = EncodedInstance(data[dataset_offset(data) :], sop_class_uid=sop, sop_instance_uid=iuid,
                                   transfer_syntax=ts)  # fmt: skip
    except Exception:  # noqa: BLE001 - a body that starts like a file meta the sender cannot parse
        return None, "unsent"
    return assoc.send_c_store(instance), "raw"


def _association_counts(archive: pacslab.Archive, ae_title: str, timeout: float = 30.0) -> dict[str, int]:
    """The counts of the association's audit entry (written once it closed and its spooled instances are done)."""
    deadline = time.monotonic() + timeout
    while True:
        log = archive.audit_log()
        rows = log[(log["action"] == "association") & (log["actor"] == ae_title)] if len(log) else log
        if len(rows):
            return dict(json.loads(rows.iloc[-1]["detail"])["counts"])
        assert time.monotonic() < deadline, f"no audit entry for the association of {ae_title}"
        time.sleep(0.05)


def test_fuzz_c_store(served: tuple[pacslab.Archive, DicomServer]) -> None:
    archive, server = served
    titles = (f"FUZZ{n:04d}" for n in itertools.count())
    inputs: set[bytes] = set()
    totals = {"sent": 0, "failed": 0, "stored": 0, "dataset": 0, "raw": 0, "unsent": 0}

    @fuzz_given(batches(SIZE.batch), size=SIZE)
    def case(specs):
        # Given a batch of mutants and a fresh association
        title = next(titles)
        sender = Sender(server, title)
        before = len(archive.rejections())

        def send_all() -> list[Dataset]:
            assoc = sender.associate()
            statuses = []
            try:
                for i, spec in enumerate(specs):
                    status, how = _send(assoc, spec, build_mutant(spec), as_dataset=i % 2 == 0)
                    totals[how] += 1
                    if status is not None:
                        assert status, f"no C-STORE response to mutant {spec!r}"
                        statuses.append(status)
            finally:
                assoc.release()
            return statuses

        # When they are sent (a hang fails the test)
        statuses = run_with_timeout(send_all, 180)
        inputs.update(sender.sent)
        # Then each got a response, each failure with an Error Comment
        assert len(statuses) == len(sender.sent)
        failures = [s for s in statuses if int(s.Status) not in SUCCESS]
        assert all(str(s.get("ErrorComment", "")).strip() for s in failures), failures
        # and once the spool drained, each is archived, a duplicate or conflict, or rejected with a reason
        assert server.flush(120), "the spool did not drain"
        counts = _association_counts(archive, title)
        outcomes = sum(counts.get(k, 0) for k in ("new", "duplicate", "conflict", "rejected"))
        assert outcomes == len(statuses), counts
        if not server.settings.spool:  # archived before answering: every rejection was answered as a failure
            assert counts.get("rejected", 0) == len(failures), counts
        assert counts.get("rejected", 0) >= len(failures), counts
        assert len(archive.rejections()) - before == counts.get("rejected", 0)
        assert_archive_consistent(archive, inputs, bare_ok=True)
        totals["sent"] += len(statuses)
        totals["failed"] += len(failures)
        totals["stored"] += counts.get("new", 0)

    case()
    assert totals["sent"] >= SIZE.cases * 0.9, totals  # few mutants the sender could not even put in a request
    assert totals["failed"] > 0 and totals["stored"] > 0, totals
    assert totals["dataset"] > 0 and totals["raw"] > 0, totals


@pytest.mark.parametrize("body", [b"", b"\x08\x00"], ids=["empty", "two-bytes"])
def test_degenerate_data_set_gets_a_failure_with_reason(
    served: tuple[pacslab.Archive, DicomServer], body: bytes
) -> None:
    # Given a C-STORE whose data set is empty (once answered by nothing: the request never completed)
    archive, server = served
    sender = Sender(server, "EMPTYSET")
    sop, iuid, ts = _seed_identity(0)

    def send() -> Dataset:
        assoc = sender.associate()
        try:
            return assoc.send_c_store(
                EncodedInstance(body, sop_class_uid=sop, sop_instance_uid=iuid, transfer_syntax=ts)
            )
        finally:
            assoc.release()

    # When it is sent
    status = run_with_timeout(send, 60)
    # Then the server answers a failure with its reason, and records the rejection
    assert status and int(status.Status) not in SUCCESS
    assert "missing or empty" in str(status.ErrorComment)
    assert server.flush(30)
    assert len(archive.rejections()) == 1 and archive.rejections()["reason"].iloc[0]
    assert archive.catalog.count("instances", {}) == 0


def test_c_store_announcing_no_data_set_gets_a_failure(served: tuple[pacslab.Archive, DicomServer]) -> None:
    # Given a C-STORE-RQ whose Command Data Set Type says "no data set" (PS3.7 E.1-1: C-STORE needs one)
    archive, server = served
    sender = Sender(server, "NODATASET")

    def no_data_set(message: Any) -> None:
        message.command_set.CommandDataSetType = 0x0101
        message.data_set = None

    sender.tamper = no_data_set
    data = seed_files()[0]

    def send() -> Dataset:
        assoc = sender.associate()
        try:
            return assoc.send_c_store(EncodedInstance(data))
        finally:
            assoc.release()

    # When it is sent, the server answers a failure with a reason, and stores nothing
    status = run_with_timeout(send, 60)
    assert status and int(status.Status) not in SUCCESS and str(status.ErrorComment)
    assert server.flush(30)
    assert archive.catalog.count("instances", {}) == 0


def test_data_set_that_never_comes_ends_in_an_abort(tmp_path: Any) -> None:
    # Given a server with a short network timeout, and a sender that announces a data set but never sends it
    with config.set({"dimse.network-timeout": 1.0}):
        archive = pacslab.open_archive(tmp_path / "archive", create=True)
        server = DicomServer(archive, port=0, host="127.0.0.1", tls=False).start()
    try:
        sender = Sender(server, "NEVERSENDS")

        def withhold(message: Any) -> None:
            message.data_set = None  # Command Data Set Type stays "present"

        sender.tamper = withhold

        def send() -> tuple[Dataset, bool]:
            assoc = sender.associate()
            status = assoc.send_c_store(EncodedInstance(seed_files()[0]))
            assoc.join(10)  # wait for the association thread to end
            return status, bool(assoc.is_established)

        # When it is sent, the server cannot answer an incomplete request: it aborts the association
        # once the network timeout passed (the sender's DIMSE timeout, 30 s, is not what ends it)
        status, established = run_with_timeout(send, 25)
        assert not status and not established
        log = archive.audit_log()
        (entry,) = log[(log["action"] == "association") & (log["actor"] == "NEVERSENDS")].itertuples()
        assert entry.outcome == "aborted" and json.loads(entry.detail)["counts"] == {}
        assert archive.catalog.count("instances", {}) == 0
    finally:
        server.stop()
        archive.close()


def test_spool_recovers_when_a_worker_process_dies(tmp_path: Any) -> None:
    # Given a spooling server whose worker pool broke (a worker died: a decoder crash, the OOM killer)
    from pacslab.examples import generate_ct_series

    with config.set({"ingest.workers": 2}):
        archive = pacslab.open_archive(tmp_path / "archive", create=True)
        server = DicomServer(archive, port=0, host="127.0.0.1", tls=False, spool=True, stable_delay=3600).start()
        try:
            pool = server._spool._pool()  # type: ignore[union-attr]
            assert pool is not None
            assert pool.submit(os._exit, 1).exception(timeout=60) is not None
            # When a batch large enough for the worker pool arrives
            sender = Sender(server, "AFTERCRASH")
            instances = []
            for ds in generate_ct_series(seed=5, rows=16, columns=16, n_slices=30):
                buf = io.BytesIO()
                ds.save_as(buf, enforce_file_format=True)
                instances.append(EncodedInstance(buf.getvalue()))

            def send() -> list[int]:
                assoc = sender.associate()
                try:
                    return [int(assoc.send_c_store(i).Status) for i in instances]
                finally:
                    assoc.release()

            assert run_with_timeout(send, 120) == [0] * 30
            # Then the spool still drains into the archive (a new pool replaces the broken one)
            assert server.flush(60), "the spool is stuck behind a broken worker pool"
            assert archive.catalog.count("instances", {}) == 30
        finally:
            server.stop()
            archive.close()

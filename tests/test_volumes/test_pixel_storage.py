"""Uncompressed pixel data is kept once, in the volume; originals still come back byte for byte."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit

import pacslab
import pacslab.archive
import pacslab.volumes.builder
from pacslab import examples
from pacslab.storage import OriginalStore


def _files(datasets, folder):
    return {p.name: p.read_bytes() for p in examples.write_series(datasets, folder)}


def _assert_identical(archive, files):
    for name, data in files.items():
        assert archive.read_instance(name.removesuffix(".dcm"), verify=True) == data


def test_ct_pixels_live_in_the_volume(archive, tmp_path):
    datasets = examples.generate_ct_series(seed=30, n_slices=12, rows=64, columns=64)
    files = _files(datasets, tmp_path / "in")
    archive.ingest(tmp_path / "in", progress=False)
    instances = archive.instances()
    assert set(instances.stored_codec) == {"pxr"}
    assert instances.stored_size.sum() < 0.15 * instances["size"].sum()  # headers only (8 KB of pixels each)
    _assert_identical(archive, files)
    assert archive.verify().ok


def test_rebuild_after_new_instances_keeps_originals(archive, tmp_path):
    datasets = examples.generate_ct_series(seed=31, n_slices=10, rows=48, columns=48)
    first, second = datasets[::2], datasets[1::2]
    files = _files(first, tmp_path / "a") | _files(second, tmp_path / "b")
    archive.ingest(tmp_path / "a", progress=False)
    uid = datasets[0].SeriesInstanceUID
    before = archive.volumes(uid).path.iloc[0]
    archive.ingest(tmp_path / "b", progress=False)
    after = archive.volumes(uid).path.iloc[0]
    assert before != after and not archive.fs.exists(f"{archive.root}/{before}")
    assert archive.open_volume(uid).shape == (10, 48, 48)
    _assert_identical(archive, files)
    v = archive.verify()
    assert v.ok and v.orphans == []


def test_buffers_of_rebuilt_originals_join_to_them_and_leave_the_frames_uncopied(archive, tmp_path, monkeypatch):
    datasets = examples.generate_ct_series(seed=37, n_slices=10, rows=40, columns=40)
    files = _files(datasets, tmp_path / "in")
    archive.ingest(tmp_path / "in", progress=False)
    uid = datasets[0].SeriesInstanceUID
    read_file, whole_reads = OriginalStore._read_file, []
    monkeypatch.setattr(OriginalStore, "_read_file", lambda self, name: whole_reads.append(name) or read_file(self, name))
    got = dict(archive.iter_instances(uid, as_buffers=True))
    assert len(whole_reads) == 1 and whole_reads[0].endswith("/heads.pxr")  # the series' heads, read once
    assert len(got) == 10
    for sop, buffers in got.items():
        assert b"".join(buffers) == files[f"{sop}.dcm"]
        head, *frames = buffers
        assert isinstance(head, bytes) and len(frames) == 1
        assert isinstance(frames[0], memoryview) and frames[0].nbytes == 40 * 40 * 2
        assert isinstance(frames[0].obj, np.ndarray) and frames[0].obj.base is not None  # a view of a decoded block
    assert dict(archive.iter_instances(uid)) == {sop: b"".join(b) for sop, b in got.items()}


def test_a_whole_original_moved_into_its_volume_while_read_comes_back(archive, tmp_path, monkeypatch):
    """Instances received one by one (C-STORE, STOW-RS) rest whole until their series' volume is built, which
    moves their pixel data into it and removes the whole files: a read that found a whole file in the
    catalog just before reads the instance again from where the catalog now keeps it."""
    datasets = examples.generate_ct_series(seed=38, n_slices=6, rows=32, columns=32)
    files = _files(datasets, tmp_path / "in")
    for data in files.values():
        archive.ingest_bytes(data)  # volumes left pending, originals whole
    sop = next(iter(files)).removesuffix(".dcm")
    assert archive.catalog.instance(sop)["stored_codec"] != "pxr"
    read, builds = archive.originals.read, []

    def read_after_a_build(key, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not builds:
            builds.append(archive.build_volumes())  # commits the volume, then removes the whole originals
        return read(key, *args, **kwargs)

    monkeypatch.setattr(archive.originals, "read", read_after_a_build)
    assert archive.read_instance(sop, verify=True) == files[f"{sop}.dcm"]
    assert builds and archive.catalog.instance(sop)["stored_codec"] == "pxr"


@pytest.mark.parametrize("new_at", ["start", "end"])
def test_series_retrieval_survives_a_rebuild_midway(archive, tmp_path, new_at):
    """A volume rebuilt at a new path between two instances of a retrieval: every instance still comes back whole.

    New slices at the start shift every slice's place in the volume, so a reference read before the
    rebuild points at the wrong frames of the new volume; the old volume is gone, so its chunks read
    as the fill value. Both must be caught, not streamed out.
    """
    datasets = examples.generate_ct_series(seed=32, n_slices=26, rows=48, columns=48)
    # 3 chunks of 8 slices: the later ones are read after the rebuild
    first, second = (datasets[2:], datasets[:2]) if new_at == "start" else (datasets[:24], datasets[24:])
    files = _files(first, tmp_path / "a") | _files(second, tmp_path / "b")
    archive.ingest(tmp_path / "a", progress=False)
    uid = datasets[0].SeriesInstanceUID
    before = archive.volumes(uid).path.iloc[0]
    got = {}
    for n, (sop, data) in enumerate(archive.iter_instances(uid)):
        got[sop] = data
        if n == 0:  # new instances arrive and the volume is rebuilt at another path
            archive.ingest(tmp_path / "b", progress=False)
            assert archive.volumes(uid).path.iloc[0] != before
    assert len(got) == 24  # the instances the retrieval started with
    assert [sop for sop in got if got[sop] != files[f"{sop}.dcm"]] == []


@pytest.mark.parametrize("step", ["listing blobs", "opening a volume"])
def test_verify_while_a_series_is_rebuilt_reports_nothing(archive, tmp_path, monkeypatch, step):
    """A rebuild that commits in the middle of verify (after the catalog rows were read, or the volume
    rows) adds blobs and deletes the volume those reads named: a live archive is still reported consistent."""
    datasets = examples.generate_ct_series(seed=36, n_slices=12, rows=32, columns=32)
    _files(datasets[:8], tmp_path / "a")
    _files(datasets[8:], tmp_path / "b")
    archive.ingest(tmp_path / "a", progress=False)
    where = {
        "listing blobs": (archive.originals, "iter_keys"),
        "opening a volume": (pacslab.archive, "open_volume_group"),
    }
    owner, name = where[step]
    read = getattr(owner, name)
    pending = [tmp_path / "b"]

    def read_after_a_rebuild(*args, **kwargs):
        if pending:
            archive.ingest(pending.pop(), progress=False)  # new slices: the series is rebuilt at a new path
        return read(*args, **kwargs)

    monkeypatch.setattr(owner, name, read_after_a_rebuild)
    report = archive.verify()
    assert not pending  # the rebuild happened inside verify
    assert report.ok, report.problems
    assert report.orphans == []
    monkeypatch.undo()
    assert archive.verify().checked == {"instances": 12, "blobs": 12, "volumes": 1}


def test_failed_rebuild_keeps_the_previous_volume(archive, tmp_path):
    datasets = examples.generate_ct_series(seed=32, n_slices=6, rows=32, columns=32)
    files = _files(datasets, tmp_path / "a")
    archive.ingest(tmp_path / "a", progress=False)
    broken = datasets[0].copy()
    broken.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["broken"])
    broken.ImagePositionPatient = [0, 0, 500]
    broken.PixelData = encapsulate([b"\xff\xd8 not a jpeg \xff\xd9"])
    broken.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    broken.BitsAllocated, broken.BitsStored, broken.HighBit, broken.PixelRepresentation = 8, 8, 7, 0
    broken.save_as(tmp_path / "broken.dcm", enforce_file_format=True)
    report = archive.ingest(tmp_path / "broken.dcm", progress=False)
    uid = datasets[0].SeriesInstanceUID
    assert report.new == 1 and [u for u, _ in report.no_volume] == [uid]
    assert archive.series(SeriesInstanceUID=uid).volume_state.iloc[0] == "failed"
    _assert_identical(archive, files)  # still readable: the previous volume holds their pixels
    assert archive.verify().ok


def test_pixel_data_with_bits_beyond_bits_stored_is_kept_whole(archive, tmp_path):
    datasets = examples.generate_ct_series(seed=33, n_slices=3, rows=32, columns=32)
    for ds in datasets:
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 0
        ds.PixelPaddingValue = 0
        raw = np.frombuffer(ds.PixelData, dtype="<u2") & 0x0FFF | 0xA000  # overlay-style bits above BitsStored
        ds.PixelData = raw.astype("<u2").tobytes()
    files = _files(datasets, tmp_path / "in")
    archive.ingest(tmp_path / "in", progress=False)
    assert "pxr" not in set(archive.instances().stored_codec)
    _assert_identical(archive, files)
    volume = archive.open_volume(datasets[0].SeriesInstanceUID, rescale=False)
    np.testing.assert_array_equal(volume[0].values, datasets[0].pixel_array)


def test_native_pixels_are_read_in_place_without_pydicom(archive, tmp_path, monkeypatch):
    """Ingest records where little-endian native pixel data starts; building reads it there, not through pydicom."""
    datasets = examples.generate_ct_series(seed=37, n_slices=6, rows=32, columns=32)
    files = _files(datasets, tmp_path / "in")
    decoded = []
    read = pacslab.volumes.builder.read_dataset
    monkeypatch.setattr(pacslab.volumes.builder, "read_dataset", lambda *a, **k: decoded.append(1) or read(*a, **k))
    archive.ingest(tmp_path / "in", progress=False)
    assert decoded == []
    volume = archive.open_volume(datasets[0].SeriesInstanceUID, rescale=False).values
    expected = sorted(datasets, key=lambda d: float(d.ImagePositionPatient[2]))
    np.testing.assert_array_equal(volume, np.stack([d.pixel_array for d in expected]))
    assert set(archive.instances().stored_codec) == {"pxr"}
    _assert_identical(archive, files)


def test_values_pydicom_would_sign_extend_are_decoded_by_pydicom(archive, tmp_path):
    datasets = examples.generate_ct_series(seed=38, n_slices=3, rows=32, columns=32)
    for ds in datasets:
        ds.BitsStored, ds.HighBit = 12, 11
        raw = np.frombuffer(ds.PixelData, dtype="<i2").copy()
        raw[:3] = [0x0FFF, 0x0800, -5]  # -1 and -2048 in 12 bits, their signs not extended to 16
        ds.PixelData = raw.tobytes()
    files = _files(datasets, tmp_path / "in")
    archive.ingest(tmp_path / "in", progress=False)
    volume = archive.open_volume(datasets[0].SeriesInstanceUID, rescale=False).values
    for ds in datasets:
        z = [d.SOPInstanceUID for d in sorted(datasets, key=lambda d: float(d.ImagePositionPatient[2]))].index(
            ds.SOPInstanceUID
        )
        np.testing.assert_array_equal(volume[z], ds.pixel_array)
        assert list(volume[z].ravel()[:3]) == [-1, -2048, -5]
    _assert_identical(archive, files)


def test_damaged_volume_is_found_by_verify(archive, tmp_path):
    datasets = examples.generate_ct_series(seed=34, n_slices=8, rows=32, columns=32)
    _files(datasets, tmp_path / "in")
    archive.ingest(tmp_path / "in", progress=False)
    path = archive.volumes().path.iloc[0]
    chunk = next(p for p in archive.fs.find(f"{archive.root}/{path}/0") if "/c." in p)
    data = bytearray(archive.fs.cat_file(chunk))
    data[len(data) // 2] ^= 0xFF
    archive.fs.pipe_file(chunk, bytes(data))
    report = archive.verify()
    assert not report.ok and report.problems


@pytest.mark.parametrize("naming", ["uid"])
def test_export_series_with_referenced_pixels(archive, tmp_path, naming):
    datasets = examples.generate_mr_series(seed=35, n_slices=5, rows=32, columns=32, echo_times=[10.0, 80.0])
    files = _files(datasets, tmp_path / "in")
    archive.ingest(tmp_path / "in", progress=False)
    assert set(archive.instances().stored_codec) == {"pxr"}
    written = archive.export(datasets[0].SeriesInstanceUID, tmp_path / "out")
    assert {p.rsplit("/", 1)[1]: open(p, "rb").read() for p in written} == files


def test_memory_archive_references_pixels(memory_archive, tmp_path):
    datasets = examples.generate_ct_series(seed=36, n_slices=4, rows=32, columns=32)
    files = _files(datasets, tmp_path / "in")
    memory_archive.ingest(tmp_path / "in", progress=False)
    assert set(memory_archive.instances().stored_codec) == {"pxr"}
    _assert_identical(memory_archive, files)


def test_ingesting_again_leaves_no_orphans(archive, tmp_path):
    datasets = examples.generate_ct_series(seed=37, n_slices=4, rows=32, columns=32)
    files = _files(datasets, tmp_path / "in")
    archive.ingest(tmp_path / "in", progress=False)
    again = archive.ingest(tmp_path / "in", progress=False)
    assert again.duplicate == 4 and again.new == 0
    for data in files.values():
        assert archive.ingest_bytes(data) == "duplicate"
    report = archive.verify()
    assert report.ok and report.orphans == []
    assert set(archive.instances().stored_codec) == {"pxr"}


def test_instances_arriving_during_a_build_keep_the_series_pending(archive, tmp_path):
    datasets = examples.generate_ct_series(seed=38, n_slices=4, rows=32, columns=32)
    files = _files(datasets[:3], tmp_path / "a")
    archive.ingest(tmp_path / "a", progress=False, build_volumes=False)
    uid = datasets[0].SeriesInstanceUID
    from pacslab.ingest.pipeline import commit_build
    from pacslab.volumes.builder import build_series_volumes

    result = build_series_volumes(archive.fs, archive.root, archive.catalog.frames_of_series(uid),
                                  archive._series_identity(uid))  # fmt: skip
    files |= _files(datasets[3:], tmp_path / "b")  # a C-STORE lands while the build runs
    archive.ingest(tmp_path / "b", progress=False, build_volumes=False)
    commit_build(archive, result)
    assert archive.series(SeriesInstanceUID=uid).volume_state.iloc[0] == "pending"
    _assert_identical(archive, files)
    archive.build_volumes()
    assert archive.series(SeriesInstanceUID=uid).volume_state.iloc[0] == "ready"
    assert archive.open_volume(uid).sizes["z"] == 4
    _assert_identical(archive, files)


def _count_decodes(monkeypatch):
    from pacslab.volumes._chunks import ChunkArray

    decoded, read_chunk = [], ChunkArray.read_chunk
    monkeypatch.setattr(
        ChunkArray, "read_chunk", lambda self, index, out=None: decoded.append(index) or read_chunk(self, index, out)
    )
    return decoded


def test_a_series_retrieved_again_is_not_decoded_again(archive, tmp_path, monkeypatch):
    datasets = examples.generate_ct_series(seed=38, n_slices=20, rows=40, columns=40)  # 3 chunks of 8 slices
    files = _files(datasets, tmp_path / "in")
    archive.ingest(tmp_path / "in", progress=False)
    uid = datasets[0].SeriesInstanceUID
    decoded = _count_decodes(monkeypatch)
    first = dict(archive.iter_instances(uid, as_buffers=True))
    assert len(decoded) == 3
    again = dict(archive.iter_instances(uid, as_buffers=True))
    assert len(decoded) == 3  # the archive kept the decoded chunks
    for sop, buffers in again.items():
        assert b"".join(buffers) == b"".join(first[sop]) == files[f"{sop}.dcm"]
        assert all(b.readonly for b in buffers[1:])  # frames shared by retrievals cannot be changed by one of them


def test_whole_originals_retrieved_again_are_not_read_again(archive, tmp_path, monkeypatch):
    """Before a series' volume is built its originals rest whole: the archive keeps those it read too."""
    datasets = examples.generate_ct_series(seed=40, n_slices=6, rows=32, columns=32)
    files = _files(datasets, tmp_path / "in")
    for data in files.values():
        archive.ingest_bytes(data)  # volumes left pending, originals whole
    uid = datasets[0].SeriesInstanceUID
    reads, read = [], OriginalStore.read
    monkeypatch.setattr(OriginalStore, "read", lambda self, key, **kw: reads.append(key) or read(self, key, **kw))
    expected = {name.removesuffix(".dcm"): data for name, data in files.items()}
    assert dict(archive.iter_instances(uid)) == expected
    assert len(reads) == 6
    assert dict(archive.iter_instances(uid)) == expected
    assert len(reads) == 6  # kept from the first retrieval
    assert archive.read_instance(next(iter(expected)), verify=True) == expected[next(iter(expected))]
    assert len(reads) == 7  # a verified read goes to storage and hashes what it finds there
    with pacslab.config.set({"volumes.cache-mb": 0}):  # only the last one read is kept
        small = pacslab.open_archive(archive.url)
    for _ in range(2):
        assert dict(small.iter_instances(uid)) == expected
    assert len(reads) == 7 + 12
    small.close()


def test_the_decoded_chunks_kept_are_bounded(archive, tmp_path, monkeypatch):
    datasets = examples.generate_ct_series(seed=39, n_slices=20, rows=40, columns=40)
    files = _files(datasets, tmp_path / "in")
    archive.ingest(tmp_path / "in", progress=False)
    uid = datasets[0].SeriesInstanceUID
    with pacslab.config.set({"volumes.cache-mb": 0}):  # only the last chunk read is kept
        small = pacslab.open_archive(archive.url)
    decoded = _count_decodes(monkeypatch)
    for _ in range(2):
        assert dict(small.iter_instances(uid)) == {name.removesuffix(".dcm"): data for name, data in files.items()}
    assert len(decoded) == 6
    small.close()

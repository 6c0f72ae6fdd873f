"""A full disk stops a command with a message that says so and what to do; running it again completes the work."""

from __future__ import annotations

import errno

import pacslab
import pacslab.archive
import pacslab.ingest.pipeline
import pacslab.storage._originals
import pacslab.volumes._chunks
import pacslab.volumes.store
from pacslab import examples
from pacslab.cli.main import main


def test_a_full_disk_stops_the_ingest_saying_so_and_running_it_again_completes_it(tmp_path, monkeypatch, capsys):
    examples.write_series(examples.generate_ct_series(seed=5, n_slices=6, rows=32, columns=32), tmp_path / "in")
    root = str(tmp_path / "archive")
    assert main(["init", root]) == 0

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", f"{root}/originals/x")

    for module in (pacslab.storage._originals, pacslab.volumes._chunks, pacslab.volumes.store,
                   pacslab.ingest.pipeline, pacslab.archive):  # fmt: skip
        monkeypatch.setattr(module, "write_atomic", full)
    with pacslab.config.set({"ingest.workers": 1}):  # in this process, where the writes fail
        assert main(["ingest", root, str(tmp_path / "in"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "pacslab ingest: the storage is full (No space left on device) writing" in err
    assert "run the command again" in err and "Traceback" not in err
    monkeypatch.undo()
    archive = pacslab.open_archive(root)
    assert archive.verify().ok and archive.rejections().empty  # nothing quarantined: the files were not at fault
    archive.close()
    with pacslab.config.set({"ingest.workers": 1}):
        assert main(["ingest", root, str(tmp_path / "in"), "--no-progress"]) == 0
    archive = pacslab.open_archive(root)
    assert len(archive.instances()) == 6 and archive.verify().ok
    archive.close()

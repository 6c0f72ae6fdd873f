"""How a streamed body is cut into writes: runs of small pieces joined, large pieces passed on."""

from __future__ import annotations

import numpy as np

from pacslab.dicomweb.handlers import STREAM_BATCH, write_runs


def test_a_series_batch_of_small_pieces_goes_out_in_one_write() -> None:
    frames = [np.full((64, 64), i, dtype=np.int16) for i in range(40)]
    pieces: list[bytes | memoryview] = []
    for i, frame in enumerate(frames):  # a part delimiter, the head of a file, its frame (a view of a block)
        pieces += [b"\r\n--b\r\nContent-Type: application/dicom\r\n\r\n", b"head %d" % i, memoryview(frame).cast("B")]
    out = write_runs(pieces)
    assert len(out) == 1
    assert out[0] == b"".join(pieces)


def test_large_pieces_are_passed_on_uncopied_between_joined_runs() -> None:
    big = bytes(STREAM_BATCH)
    pieces: list[bytes | memoryview] = [b"--b\r\n", b"head", big, b"\r\n--b--\r\n"]
    out = write_runs(pieces)
    assert [len(p) for p in out] == [9, STREAM_BATCH, 9]
    assert out[1] is big
    assert b"".join(out) == b"".join(pieces)
    assert write_runs([big]) == [big] and write_runs([]) == []

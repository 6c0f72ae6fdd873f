from __future__ import annotations

import numpy as np
import pytest

from pacslab.widgets import view3d
from pacslab.widgets.view3d import VolumeRendering


def test_view3d_downsamples_and_scales(small) -> None:
    archive, ct, _ = small
    labels = np.zeros((12, 128, 128), dtype=np.uint8)
    labels[4:8, 40:60, 40:60] = 1
    widget = archive.view3d(ct, labels=labels, size=32)
    assert isinstance(widget, VolumeRendering)
    assert widget.shape == [12, 32, 32] and len(widget.data) == 12 * 32 * 32
    assert widget.spacing == [2.5, 3.2, 2.4]
    assert np.frombuffer(widget.labels, np.uint8).reshape(12, 32, 32)[5, 12, 12] == 1
    lo, hi = widget.value_range
    volume = archive.load_volume(ct).values[:, ::4, ::4]
    assert lo == volume.min() and hi == volume.max()
    assert widget.window_center == 40.0  # the first DICOM preset


def test_view3d_of_plain_volume(small) -> None:
    archive, ct, _ = small
    widget = view3d(archive.open_volume(ct), size=200, renderer="mip")
    assert widget.shape == [12, 128, 128] and not isinstance(widget, VolumeRendering)
    with pytest.raises(ValueError, match="renderer"):
        view3d(archive.open_volume(ct), renderer="itk")

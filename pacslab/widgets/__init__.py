"""Notebook widgets: a study browser, a slice viewer with annotations, and a 3-D view.

All widgets are :class:`anywidget.AnyWidget` subclasses whose JavaScript ships in
``pacslab/widgets/static``; nothing is loaded from the internet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pacslab.widgets._annotations import AnnotationStore, measure, roi_mask
from pacslab.widgets._slices import SliceSource, orientation_label, thumbnail_png
from pacslab.widgets._sr import read_sr, write_sr
from pacslab.widgets.browser import StudyBrowser
from pacslab.widgets.view3d import View3D, view3d
from pacslab.widgets.viewer import Viewer, side_by_side

if TYPE_CHECKING:
    import pandas as pd

    from pacslab.archive import Archive

__all__ = [
    "AnnotationStore",
    "SliceSource",
    "StudyBrowser",
    "View3D",
    "Viewer",
    "annotations",
    "measure",
    "orientation_label",
    "read_sr",
    "roi_mask",
    "side_by_side",
    "thumbnail_png",
    "view3d",
    "write_sr",
]


def annotations(archive: Archive, series_instance_uid: str | None = None, **_: Any) -> pd.DataFrame:
    """The archive's annotations (of one series, or all) with their measurements, as a DataFrame."""
    return AnnotationStore(archive).frame(series_instance_uid=series_instance_uid)

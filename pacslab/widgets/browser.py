"""The study browser widget: search, a server-side paged study list, series with thumbnails."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from pacslab.widgets._query import SORTABLE, _records, filters_from_form, series_rows, study_page

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = ["StudyBrowser"]

_STATIC = Path(__file__).parent / "static"


class StudyBrowser(anywidget.AnyWidget):
    """Search the archive's studies, page through them and pick a series.

    Only one page of studies is read from the catalog at a time (``limit``/``offset`` and a count),
    so the browser stays fast on archives of 100 000 studies. Clicking a study lists its series
    with thumbnails; clicking a series sets :attr:`selected`, which the next cell can use::

        browser = archive.browse()
        browser                       # pick a series
        archive.view(browser.selected["SeriesInstanceUID"])

    Parameters
    ----------
    archive : Archive
    page_size : int
        Studies per page.
    """

    _esm = _STATIC / "browser.js"
    _css = _STATIC / "widgets.css"

    form = traitlets.Dict().tag(sync=True)
    sort_by = traitlets.Unicode("StudyDate").tag(sync=True)
    ascending = traitlets.Bool(False).tag(sync=True)
    page = traitlets.Int(0).tag(sync=True)
    page_size = traitlets.Int(25).tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    rows = traitlets.List().tag(sync=True)
    sortable = traitlets.List(list(SORTABLE)).tag(sync=True)
    expanded = traitlets.Unicode("").tag(sync=True)
    series = traitlets.List().tag(sync=True)
    selected = traitlets.Dict().tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(self, archive: Archive, *, page_size: int = 25, **kwargs: Any) -> None:
        super().__init__(page_size=page_size, **kwargs)
        self.archive = archive
        self.observe(self._refresh, names=["form", "sort_by", "ascending", "page", "page_size"])
        self.observe(self._expand, names=["expanded"])
        self._refresh()

    def _refresh(self, change: Any = None) -> None:
        if change is not None and change["name"] in ("form", "sort_by", "ascending", "page_size") and self.page:
            self.page = 0  # re-enters through the observer
            return
        try:
            frame, total = study_page(
                self.archive,
                filters_from_form(self.form),
                page=self.page,
                page_size=self.page_size,
                sort_by=self.sort_by,
                ascending=self.ascending,
            )
        except ValueError as exc:
            self.error = str(exc)
            return
        self.error = ""
        self.total = total
        self.rows = _records(frame)

    def _expand(self, change: Any) -> None:
        self.series = series_rows(self.archive, change["new"]) if change["new"] else []

    def select(self, series_instance_uid: str) -> None:
        """Select a series of the expanded study (what a click does)."""
        for row in self.series:
            if row["SeriesInstanceUID"] == series_instance_uid:
                self.selected = {
                    "StudyInstanceUID": self.expanded,
                    **{k: v for k, v in row.items() if k != "thumbnail"},
                }
                return
        raise ValueError(f"Series {series_instance_uid!r} is not in the expanded study {self.expanded!r}.")

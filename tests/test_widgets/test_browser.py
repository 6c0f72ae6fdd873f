from __future__ import annotations

import time

import pytest

from pacslab.widgets import StudyBrowser
from pacslab.widgets._query import filters_from_form, study_page


def test_filters_from_form() -> None:
    f = filters_from_form(
        {
            "PatientName": "doe",
            "date_from": "2024-01-01",
            "date_to": "20240131",
            "Modality": "CT",
            "attribute": "SliceThickness=2.5; BodyPartExamined=CHEST",
        }
    )
    assert f == {
        "PatientName": "*doe*",
        "StudyDate": "20240101-20240131",
        "Modality": "CT",
        "SliceThickness": "2.5",
        "BodyPartExamined": "CHEST",
    }
    with pytest.raises(ValueError, match="Keyword=value"):
        filters_from_form({"attribute": "nonsense"})


def test_browser_search_expand_select(small) -> None:
    archive, ct, mr = small
    browser = archive.browse(page_size=1)
    assert browser.total == 2 and len(browser.rows) == 1
    browser.page = 1
    assert len(browser.rows) == 1
    browser.form = {"Modality": "CT"}
    assert browser.total == 1 and browser.page == 0
    study = browser.rows[0]["StudyInstanceUID"]
    browser.expanded = study
    assert [s["SeriesInstanceUID"] for s in browser.series] == [ct]
    assert browser.series[0]["thumbnail"].startswith("data:image/png;base64,")
    seen = []
    browser.observe(lambda c: seen.append(c["new"]), names=["selected"])
    browser.select(ct)
    assert browser.selected["SeriesInstanceUID"] == ct and seen
    browser.form = {"attribute": "oops"}
    assert "Keyword=value" in browser.error


def test_sorting(small) -> None:
    archive, _, _ = small
    browser = StudyBrowser(archive)
    dates = [r["StudyDate"] for r in browser.rows]
    assert dates == sorted(dates, reverse=True)
    browser.ascending = True
    assert [r["StudyDate"] for r in browser.rows] == sorted(dates)
    with pytest.raises(ValueError, match="Cannot sort"):
        study_page(archive, {}, sort_by="; DROP TABLE studies")


@pytest.mark.slow
def test_paging_is_fast_on_100k_studies(archive) -> None:
    cols = [r[1] for r in archive.catalog._conn.execute("PRAGMA table_info(studies)")]
    notnull = {r[1] for r in archive.catalog._conn.execute("PRAGMA table_info(studies)") if r[3]}
    rows = []
    for i in range(100_000):
        row = {c: None for c in cols}
        row.update(
            StudyInstanceUID=f"1.2.3.{i}",
            PatientID=f"P{i % 5000}",
            PatientName=f"NAME{i % 977}^X",
            StudyDate=f"2024{1 + i % 12:02d}{1 + i % 28:02d}",
            StudyDescription="CT CHEST" if i % 2 else "MR HEAD",
        )
        for c in notnull:
            if row[c] is None:
                row[c] = 0
        rows.append(tuple(row[c] for c in cols))
    with archive.catalog.transaction() as db:
        db.executemany(f"INSERT INTO studies VALUES ({','.join('?' * len(cols))})", rows)
    limits = []
    query = archive.catalog.query

    def recording_query(level, filters=None, **kwargs):
        limits.append(kwargs.get("limit"))
        return query(level, filters, **kwargs)

    archive.catalog.query = recording_query  # every page must be fetched by the catalog, never all rows
    t = time.perf_counter()
    browser = StudyBrowser(archive, page_size=50)
    browser.page = 1000
    browser.form = {"PatientName": "NAME12*"}
    elapsed = time.perf_counter() - t
    assert browser.total > 0 and len(browser.rows) == 50
    assert limits and all(limit is not None and limit <= 50 for limit in limits), limits
    print(f"3 pages of 100k studies in {elapsed * 1000:.0f} ms")

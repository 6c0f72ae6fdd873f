"""The framework-free pieces: multipart, media types, DICOM JSON, windowing, error → status."""

from __future__ import annotations

import io

import numpy as np
import pytest

from pacslab.dicomweb.dicomjson import element, parse_attribute, rewrite_bulk_uris
from pacslab.dicomweb.multipart import multipart_length, multipart_stream, parse_accept, parse_multipart
from pacslab.dicomweb.render import window_to_uint8
from pacslab.dicomweb.service import NotAcceptableError, PayloadTooLargeError, status_for
from pacslab.errors import AccessDeniedError, InvalidDicomInputError, StudyNotFoundError


def test_multipart_round_trip() -> None:
    parts = [("application/dicom", b"one\r\n--not-the-boundary"), ("application/dicom", b"")]
    body = b"".join(multipart_stream(parts, "B"))
    parsed = parse_multipart(b"preamble\r\n" + body, 'multipart/related; type="application/dicom"; boundary="B"')
    assert [p.data for p in parsed] == [b"one\r\n--not-the-boundary", b""]
    assert parsed[0].content_type.type == "application/dicom"


@pytest.mark.parametrize("sizes", [[], [0], [5], [1000, 0, 17]])
def test_multipart_length_is_the_streamed_length(sizes: list[int]) -> None:
    """WADO-RS sends Content-Length from the catalog's sizes: it must equal the bytes streamed, part by part."""
    parts = [(f"application/dicom; transfer-syntax=1.2.{i}", b"x" * n) for i, n in enumerate(sizes)]
    pieces = list(multipart_stream(parts, "0123abc"))
    assert multipart_length([(t, len(d)) for t, d in parts], "0123abc") == sum(map(len, pieces))
    assert all(any(p is d for p in pieces) for _, d in parts if d)  # each part's data is sent as it is, not copied
    parsed = parse_multipart(b"".join(pieces), "multipart/related; boundary=0123abc") if parts else []
    assert [p.data for p in parsed] == [d for _, d in parts]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"--B\r\nContent-Type: application/dicom\r\n\r\nabc",
        b"--B--\r\n",
        b"--Bxx\r\n\r\n--B--",
        b"--B\r\nbad\r\n\r\nx\r\n--B--",
    ],
)
def test_malformed_multipart(body: bytes) -> None:
    with pytest.raises(InvalidDicomInputError):
        parse_multipart(body, "multipart/related; boundary=B")


def test_accept_header() -> None:
    ranges = parse_accept('multipart/related; type="application/dicom"; transfer-syntax=*, application/dicom+json')
    assert [r.type for r in ranges] == ["multipart/related", "application/dicom+json"]
    assert ranges[0].param("type") == "application/dicom" and ranges[0].param("transfer-syntax") == "*"


def test_dicom_json_elements() -> None:
    assert element("PatientName", "DOE^JANE") == {"vr": "PN", "Value": [{"Alphabetic": "DOE^JANE"}]}
    assert element("ModalitiesInStudy", "CT\\MR") == {"vr": "CS", "Value": ["CT", "MR"]}
    assert element("NumberOfStudyRelatedSeries", 3) == {"vr": "IS", "Value": [3]}
    assert element("AccessionNumber", None) == {"vr": "SH"}
    assert element("SliceThickness", float("nan")) == {"vr": "DS"}
    assert parse_attribute("00100010") == parse_attribute("PatientName") == "PatientName"
    with pytest.raises(InvalidDicomInputError):
        parse_attribute("Nope")
    nested = {"00091001": {"vr": "OB", "BulkDataURI": "bulk:00091001"}}
    header = {"7FE00010": {"vr": "OW", "BulkDataURI": "bulk:7FE00010"}, "00400275": {"vr": "SQ", "Value": [nested]}}
    rewrite_bulk_uris(header, "http://h/i")
    assert header["7FE00010"]["BulkDataURI"] == "http://h/i/bulk/7FE00010"
    assert header["00400275"]["Value"][0]["00091001"]["BulkDataURI"] == "http://h/i/bulk/00091001"


def test_windowing() -> None:
    values = np.array([-1000.0, 40.0, 240.0, 3000.0])
    assert window_to_uint8(values, 40, 400).tolist() == [0, 128, 255, 255]
    assert window_to_uint8(values, 40, 400, "sigmoid")[1] == 128


@pytest.mark.parametrize("window", [None, "40,400", "-600,1500,linear_exact", "40,400,sigmoid"])
def test_rendered_pixels_are_the_windowed_modality_values(window: str | None) -> None:
    from PIL import Image

    from pacslab import examples
    from pacslab.dicomweb.render import _stored_range, parse_window, render_frame

    # Given a CT image whose stored values span fewer values than it has pixels (rendered through a table)
    (ds,) = examples.generate_ct_series(seed=4, n_slices=1, rows=128, columns=128)
    stored = ds.pixel_array
    assert _stored_range(stored) is not None
    # When it is rendered losslessly, Then each pixel is its own modality value windowed
    got = np.asarray(Image.open(io.BytesIO(render_frame(ds, None, media="image/png", window=window))))
    values = stored.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    presets = (float(ds.WindowCenter[0]), float(ds.WindowWidth[0]), "linear")  # the first of its presets
    center, width, function = parse_window(window) or presets
    assert np.array_equal(got, window_to_uint8(values, center, width, function))
    assert len(np.unique(got)) > 20  # a real picture, not a flat one


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (StudyNotFoundError("x"), 404),
        (InvalidDicomInputError("x"), 400),
        (AccessDeniedError("x"), 403),
        (NotAcceptableError("x"), 406),
        (PayloadTooLargeError("x"), 413),
        (RuntimeError("x"), 500),
    ],
)
def test_status_for(exc: Exception, status: int) -> None:
    assert status_for(exc) == status

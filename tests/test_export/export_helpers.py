"""Helpers of the export tests (a module with its own name: several test folders have a conftest)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pydicom

import pacslab


class Filled:
    """The shared archive, its input files and the generated series (lists of datasets)."""

    def __init__(self, archive: pacslab.Archive, inputs: Path, series: list[list[Any]]) -> None:
        self.archive, self.inputs, self.series = archive, inputs, series
        self.files = {str(read(p.read_bytes()).SOPInstanceUID): p.read_bytes() for p in inputs.rglob("*.dcm")}

    @property
    def ct(self) -> list[Any]:
        return self.series[0]

    @property
    def oblique(self) -> list[Any]:
        return self.series[1]

    @property
    def mr(self) -> list[Any]:
        return self.series[2]

    def identifiers(self, datasets: list[Any]) -> set[str]:
        """Every identifying string of *datasets*: names, IDs and UIDs."""
        out = set()
        for ds in datasets:
            out |= {str(ds.PatientName), str(ds.PatientID), str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID),
                    str(ds.SOPInstanceUID), str(ds.FrameOfReferenceUID)}  # fmt: skip
        return {s for s in out if s}


def read(data: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(data), force=True)


def export_rows(archive: pacslab.Archive, destination: str | Path) -> pd.DataFrame:
    """The audit rows of exports to *destination* (a path, an AE or a URL)."""
    log = archive.audit_log()
    log = log[log["action"] == "export"]
    mask = [json.loads(d).get("destination") == str(destination) for d in log["detail"]]
    return log[mask]

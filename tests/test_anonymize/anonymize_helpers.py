"""Shared checks of the anonymize tests: a de-identified dataset against PS3.15 Table E.1-1."""

from __future__ import annotations

import functools
import re
import warnings
from pathlib import Path
from typing import Any

import pydicom
from pydicom.data import get_testdata_files
from pydicom.dataset import Dataset

from pacslab.anonymize import ActionValues, OptionValues, load_table

STANDARD_UID_PREFIX = "1.2.840.10008."


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str | bytes):
        return not value.strip(b"\x00 " if isinstance(value, bytes) else "\x00 ")
    try:
        return len(value) == 0
    except TypeError:
        return False


def _standard_uids(value: Any) -> bool:
    values = value if isinstance(value, list | tuple | pydicom.multival.MultiValue) else [value]
    return all(str(v).startswith(STANDARD_UID_PREFIX) for v in values)


def table_violations(
    original: Dataset, result: Dataset, options: frozenset[OptionValues] = frozenset(), path: str = ""
) -> list[str]:
    """Every attribute that Table E.1-1 marks for removal, replacement or a new UID and that kept its value.

    Walks *original* recursively; sequences are compared item by item.
    """
    table = load_table()
    problems = []
    for elem in original:
        tag = int(elem.tag)
        group = tag >> 16
        where = f"{path}({group:04X},{tag & 0xFFFF:04X}) {elem.keyword}"
        row = table.row_for(tag)
        action = row.action(options) if row is not None else None
        declared = "PrivateDataElementCharacteristicsSequence" in original
        if group % 2 and (OptionValues.RETAIN_SAFE_PRIVATE not in options or not declared):
            if tag in result:  # nothing vouches for this private attribute (none of the test files declares any safe)
                problems.append(f"{where}: private attribute kept")
            continue
        if elem.VR == "SQ":
            if tag in result and result[tag].VR == "SQ":
                for i, (a, b) in enumerate(zip(elem.value or [], result[tag].value or [], strict=False)):
                    problems += table_violations(a, b, options, f"{where}[{i}] > ")
            continue
        if action is None or not action.removes:
            continue
        if tag not in result or _empty(elem.value) or _empty(result[tag].value):
            continue
        if elem.VR == "UI" and _standard_uids(elem.value):
            continue
        if result[tag].value == elem.value:
            problems.append(f"{where}: action {action.value} but the value {elem.value!r} was kept")
    return problems


def structure(ds: Dataset, path: tuple[int, ...] = ()) -> set[tuple[int, ...]]:
    """The set of tag paths of a dataset (sequence items by index)."""
    paths = set()
    for elem in ds:
        here = (*path, int(elem.tag))
        paths.add(here)
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or []):
                paths |= structure(item, (*here, -1 - i))
    return paths


@functools.cache
def pydicom_storage_files() -> tuple[Path, ...]:
    """The local pydicom test files that are storage instances (never downloads anything)."""
    found = []
    for name in get_testdata_files():
        path = Path(name)
        if path.suffix.lower() not in (".dcm", "") or "DICOMDIR" in path.name.upper():
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path)
        except Exception:  # noqa: BLE001 - deliberately broken files
            continue
        if str(ds.get("SOPClassUID", "")).startswith("1.2.840.10008.5.1.4.") and "SOPInstanceUID" in ds:
            found.append(path)
    return tuple(sorted(found))


def read(path: Path) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


def dciodvfy_errors(path: Path | str) -> set[str]:
    """dciodvfy's error lines, with UIDs normalised (they change by design)."""
    import subprocess

    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    lines = (result.stdout + result.stderr).splitlines()
    return {re.sub(r"\b\d+(\.\d+){2,}\b", "<uid>", line) for line in lines if line.startswith("Error")}


__all__ = ["ActionValues", "dciodvfy_errors", "pydicom_storage_files", "read", "structure", "table_violations"]

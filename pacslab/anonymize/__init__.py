"""De-identification per DICOM PS3.15 Annex E (Basic Application Level Confidentiality Profile).

- :func:`deidentify_dataset` — one pydicom Dataset in, a de-identified copy out.
- :func:`deidentify` — a study, series or instance of an archive to a folder of
  de-identified files, with consistent project-scoped UIDs and pseudonyms.
- :func:`reidentify` — the private way back, for administrators.

The profile is data: ``table_e1_1.csv`` (PS3.15 Table E.1-1, loaded by
:func:`load_table`), its action codes :class:`ActionValues` and its options
:class:`OptionValues`. :mod:`pacslab.anonymize.engine` documents every choice
the standard leaves open.
"""

from __future__ import annotations

from pacslab.anonymize.engine import (
    BurnedInAnnotationError,
    Deidentifier,
    burned_in_reason,
    deidentify_dataset,
    parse_options,
)
from pacslab.anonymize.profiles import ActionValues, OptionValues, ProfileRow, ProfileTable, load_table
from pacslab.anonymize.service import DeidentifyReport, deidentify, project_secret, reidentify
from pacslab.anonymize.uids import Pseudonymizer

__all__ = [
    "ActionValues",
    "BurnedInAnnotationError",
    "Deidentifier",
    "DeidentifyReport",
    "OptionValues",
    "ProfileRow",
    "ProfileTable",
    "Pseudonymizer",
    "burned_in_reason",
    "deidentify",
    "deidentify_dataset",
    "load_table",
    "parse_options",
    "project_secret",
    "reidentify",
]

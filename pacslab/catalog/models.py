"""What the catalog records: the columns of each level and the record of one instance."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = [
    "INSTANCE_COLUMNS",
    "InstanceRecord",
    "LEVELS",
    "PATIENT_COLUMNS",
    "SERIES_COLUMNS",
    "STUDY_COLUMNS",
]

#: Patient-level attributes (kept on the patient and, as received, on each study).
PATIENT_COLUMNS = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
)

#: Study-level attributes, indexed for search.
STUDY_COLUMNS = (
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyDescription",
    "ReferringPhysicianName",
    "StudyID",
)

#: Series-level attributes, indexed for search.
SERIES_COLUMNS = (
    "SeriesInstanceUID",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "BodyPartExamined",
    "SeriesDate",
    "SeriesTime",
    "FrameOfReferenceUID",
)

#: Instance-level attributes, indexed for search.
INSTANCE_COLUMNS = (
    "SOPInstanceUID",
    "SOPClassUID",
    "InstanceNumber",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "TransferSyntaxUID",
)

LEVELS = ("patients", "studies", "series", "instances")

INTEGER_COLUMNS = frozenset({"SeriesNumber", "InstanceNumber", "Rows", "Columns", "NumberOfFrames"})


@dataclasses.dataclass(frozen=True)
class InstanceRecord:
    """Everything the catalog keeps about one received instance.

    Attributes
    ----------
    attributes : dict
        Values of the indexed columns of every level, by DICOM keyword.
    header : str
        The whole header as DICOM JSON (PS3.18 F.2), bulk data left out.
    geometry : str
        JSON of what stacking slices into a volume needs (positions, orientation, …).
    sha256, size : str, int
        Hash and length of the file as received.
    stored_key, stored_codec, stored_size : str, str, int
        Where and how the original rests in storage.
    source : str
        Where it came from (a path, ``zip:member``, ``dimse:AE@host``, ``stow:user``).
    has_pixels : bool
        Whether it carries image pixel data (so its series gets a volume).
    held : bool
        Not in storage yet: the worker that prepared it builds its series' volume from memory
        and writes the original only if its pixel data does not go into that volume.
    """

    attributes: dict[str, Any]
    header: str
    geometry: str
    sha256: str
    size: int
    stored_key: str
    stored_codec: str
    stored_size: int
    source: str
    has_pixels: bool
    held: bool = False

    @property
    def sop_instance_uid(self) -> str:
        """The SOPInstanceUID."""
        return str(self.attributes["SOPInstanceUID"])

    @property
    def series_instance_uid(self) -> str:
        """The SeriesInstanceUID."""
        return str(self.attributes["SeriesInstanceUID"])

    @property
    def study_instance_uid(self) -> str:
        """The StudyInstanceUID."""
        return str(self.attributes["StudyInstanceUID"])

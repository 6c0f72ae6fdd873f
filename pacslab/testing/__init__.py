"""Test support that ships with pacslab: real DICOM peers (dcmtk, Orthanc) on loopback."""

from __future__ import annotations

__all__: list[str] = []

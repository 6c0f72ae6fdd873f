"""Volumes: every image series as a chunked Zarr array with its physical geometry."""

from __future__ import annotations

from pacslab.volumes.geometry import VolumeGeometry
from pacslab.volumes.store import read_volume, write_volume

__all__ = ["VolumeGeometry", "read_volume", "write_volume"]

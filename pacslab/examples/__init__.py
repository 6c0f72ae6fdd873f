"""Synthetic, deterministic DICOM examples: demo studies, test fixtures, benchmark data.

Everything is generated from a seed with numpy and pydicom (no downloads, no
real patient data); see :mod:`pacslab.examples._synthetic` for the anatomy and
the conventions (patient/study dictionaries, geometry, pixel encodings).
"""

from __future__ import annotations

from pacslab.examples._synthetic import (
    Ellipsoid,
    demo_studies,
    ellipsoid_surface_area,
    generate_ct_series,
    generate_dx_image,
    generate_enhanced_ct,
    generate_localizer_mixed_series,
    generate_mr_series,
    generate_oblique_ct,
    generate_phantom_ct,
    make_patient,
    make_study,
    oblique_orientation,
    write_benchmark_set,
    write_demo_archive_input,
    write_series,
)

__all__ = [
    "Ellipsoid",
    "demo_studies",
    "ellipsoid_surface_area",
    "generate_ct_series",
    "generate_dx_image",
    "generate_enhanced_ct",
    "generate_localizer_mixed_series",
    "generate_mr_series",
    "generate_oblique_ct",
    "generate_phantom_ct",
    "make_patient",
    "make_study",
    "oblique_orientation",
    "write_benchmark_set",
    "write_demo_archive_input",
    "write_series",
]

"""Cohort analysis with dask, next to the archive.

Select series in the catalog, open them as lazy volumes, run an analysis over all
of them in parallel — on the local threaded scheduler, a LocalCluster or a remote
dask cluster — and keep the results in the archive: measurements with provenance
(:func:`measurements`) and label volumes as Zarr and DICOM SEG.

Examples
--------
>>> import pacslab
>>> from pacslab import analysis
>>> archive = pacslab.open_archive("/data/pacs")  # doctest: +SKIP
>>> cohort = archive.series(Modality="CT")  # doctest: +SKIP
>>> result = analysis.run_cohort(archive, "ct-segmentation", cohort)  # doctest: +SKIP
>>> analysis.measurements(archive, feature="volume_ml", roi="Lung", wide=False)  # doctest: +SKIP
"""

from __future__ import annotations

from pacslab.analysis.cohort import (
    Analysis,
    AnalysisOutput,
    CohortResult,
    get_analysis,
    list_analyses,
    register_analysis,
    run_cohort,
)
from pacslab.analysis.derived import read_labels, write_derived_volume, write_seg
from pacslab.analysis.features import first_order, roi_features, shape
from pacslab.analysis.results import derived_volumes, measurements
from pacslab.analysis.scheduler import Runner, open_runner
from pacslab.analysis.segmentation import (
    body_from_tissue,
    body_labels,
    body_mask,
    bone_mask,
    components,
    ct_labels,
    label_components_np,
    lung_mask,
)

__all__ = [
    "Analysis",
    "AnalysisOutput",
    "CohortResult",
    "Runner",
    "body_from_tissue",
    "body_labels",
    "body_mask",
    "bone_mask",
    "components",
    "ct_labels",
    "derived_volumes",
    "first_order",
    "get_analysis",
    "label_components_np",
    "list_analyses",
    "lung_mask",
    "measurements",
    "open_runner",
    "read_labels",
    "register_analysis",
    "roi_features",
    "run_cohort",
    "shape",
    "write_derived_volume",
    "write_seg",
]

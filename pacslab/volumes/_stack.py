"""Frames → ordered, regular stacks: the decisions that make or break a volume.

Slices are ordered by their position along the slice normal (never by file name
or InstanceNumber). Frames that cannot share one regular grid — other
orientations or sizes, localizers, gaps, duplicate positions — are split into
separate stacks, each with a note that says why.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from pacslab.volumes._frames import EXTRA_DIMENSIONS, Frame
from pacslab.volumes.geometry import VolumeGeometry

__all__ = ["Stack", "form_stacks"]

_POSITION_DECIMALS = 2  # positions equal to 0.01 mm count as the same slice


@dataclasses.dataclass
class Stack:
    """One regular grid of frames: ``frames[t][z]``, with ``t`` the optional 4th dimension."""

    frames: list[list[Frame]]
    geometry: VolumeGeometry
    positions: np.ndarray
    extra_dim: str | None = None
    extra_values: list[float] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def n_frames(self) -> int:
        """Frames in the stack."""
        return sum(len(f) for f in self.frames)

    @property
    def first(self) -> Frame:
        """The first frame (top-left of the grid)."""
        return self.frames[0][0]


def _signature(f: Frame) -> tuple[object, ...]:
    orientation = None if f.orientation is None else tuple(np.round(f.orientation, 3))
    spacing = None if f.spacing is None else tuple(np.round(f.spacing, 4))
    return (
        f.rows,
        f.columns,
        f.samples,
        f.bits,
        f.signed,
        orientation,
        spacing,
        f.localizer,
        f.position is None,
    )


def form_stacks(frames: Sequence[Frame], *, tolerance: float = 0.01) -> list[Stack]:
    """Split *frames* into regular stacks, the largest first.

    Parameters
    ----------
    frames : sequence of Frame
        Every image frame of one series.
    tolerance : float
        Relative deviation of a slice gap from the median gap still counted as regular.
    """
    groups: dict[tuple[object, ...], list[Frame]] = defaultdict(list)
    for f in frames:
        groups[_signature(f)].append(f)
    ordered = sorted(groups.values(), key=lambda g: (g[0].localizer, -len(g)))
    notes = []
    if len(ordered) > 1:
        notes.append(
            f"the series holds {len(ordered)} groups of frames that differ in orientation, size, pixel spacing "
            "or image type (e.g. a localizer); each became its own stack"
        )
    stacks: list[Stack] = []
    for group in ordered:
        if group[0].position is None or group[0].orientation is None:
            stacks.append(_without_geometry(group))
        else:
            stacks.extend(_with_geometry(group, tolerance))
    for s in stacks:
        s.notes[:0] = notes
    return stacks


def _pixel_spacing(f: Frame) -> tuple[float, float]:
    return f.spacing if f.spacing is not None else (1.0, 1.0)


def _without_geometry(group: list[Frame]) -> Stack:
    group = sorted(group, key=lambda f: (f.instance_number, f.sop_instance_uid, f.frame))
    dy, dx = _pixel_spacing(group[0])
    geometry = VolumeGeometry(shape=(len(group), group[0].rows, group[0].columns), spacing=(1.0, dy, dx), known=False)
    notes = ["no patient geometry (ImagePositionPatient / ImageOrientationPatient): frames in acquisition order"]
    if len(group) == 1:
        notes = ["a single 2-D image without patient geometry"]
    return Stack([group], geometry, np.arange(len(group), dtype=float), notes=notes)


def _normal(f: Frame) -> np.ndarray:
    o = np.asarray(f.orientation)
    n = np.cross(o[:3], o[3:])
    return n / np.linalg.norm(n)


def _with_geometry(group: list[Frame], tolerance: float) -> list[Stack]:
    normal = _normal(group[0])
    pos = {id(f): round(float(np.dot(f.position, normal)), _POSITION_DECIMALS) for f in group}  # type: ignore[arg-type]
    unique = {pos[id(f)] for f in group}
    if len(unique) == len(group):
        return _split_gaps([sorted(group, key=lambda f: pos[id(f)])], None, [], pos, normal, tolerance, [])
    for name in EXTRA_DIMENSIONS:
        split = _split_by(group, name, pos)
        if split is not None:
            values = sorted(split)
            columns = [sorted(split[v], key=lambda f: pos[id(f)]) for v in values]
            note = [f"4-D: {len(values)} values of {name} at {len(unique)} positions"]
            return _split_gaps(columns, name, values, pos, normal, tolerance, note)
    # Duplicate positions that no attribute explains: one stack per repetition.
    ranked: dict[int, list[Frame]] = defaultdict(list)
    seen: dict[float, int] = defaultdict(int)
    for f in sorted(group, key=lambda f: (f.instance_number, f.sop_instance_uid, f.frame)):
        ranked[seen[pos[id(f)]]].append(f)
        seen[pos[id(f)]] += 1
    stacks = []
    dup = sum(1 for n in seen.values() if n > 1)
    note = (
        f"{dup} slice positions occur more than once and no echo, temporal, b-value, trigger or acquisition "
        "attribute tells the repetitions apart; they were split into separate stacks by InstanceNumber"
    )
    for rank in sorted(ranked):
        column = sorted(ranked[rank], key=lambda f: pos[id(f)])
        stacks += _split_gaps([column], None, [], pos, normal, tolerance, [note])
    return stacks


def _split_by(group: list[Frame], name: str, pos: dict[int, float]) -> dict[float, list[Frame]] | None:
    by: dict[float, list[Frame]] = defaultdict(list)
    for f in group:
        value = f.extra_value(name)
        if value is None:
            return None
        by[value].append(f)
    if len(by) < 2:
        return None
    position_sets = [sorted(pos[id(f)] for f in fs) for fs in by.values()]
    if any(len(set(p)) != len(p) for p in position_sets) or any(p != position_sets[0] for p in position_sets):
        return None
    return by


def _split_gaps(
    columns: list[list[Frame]],
    extra_dim: str | None,
    extra_values: list[float],
    pos: dict[int, float],
    normal: np.ndarray,
    tolerance: float,
    notes: list[str],
) -> list[Stack]:
    z = np.array([pos[id(f)] for f in columns[0]])
    if len(z) < 2:
        return [_make(columns, extra_dim, extra_values, z, normal, None, notes)]
    gaps = np.diff(z)
    median = float(np.median(gaps))
    breaks = [i + 1 for i, g in enumerate(gaps) if g > 1.5 * median]
    if not breaks:
        own = list(notes)
        if np.max(np.abs(gaps - median)) > tolerance * median:
            own.append(
                f"irregular slice spacing ({gaps.min():.3g} to {gaps.max():.3g} mm); "
                "the z coordinate holds each slice's true position"
            )
        return [_make(columns, extra_dim, extra_values, z, normal, median, own)]
    stacks = []
    edges = [0, *breaks, len(z)]
    note = (
        f"gaps in slice positions (more than 1.5 × the {median:.3g} mm spacing) "
        f"split the series into {len(edges) - 1} stacks"
    )
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        part = [c[a:b] for c in columns]
        stacks += (
            _split_gaps(part, extra_dim, extra_values, pos, normal, tolerance, [*notes, note])
            if b - a > 1
            else [_make(part, extra_dim, extra_values, z[a:b], normal, median, [*notes, note])]
        )
    return stacks


def _make(
    columns: list[list[Frame]],
    extra_dim: str | None,
    extra_values: list[float],
    z: np.ndarray,
    normal: np.ndarray,
    spacing: float | None,
    notes: list[str],
) -> Stack:
    first = columns[0][0]
    o = first.orientation
    assert o is not None and first.position is not None
    dy, dx = _pixel_spacing(first)
    if spacing is None or spacing <= 0:
        spacing = first.thickness or 1.0
    geometry = VolumeGeometry(
        shape=(len(columns[0]), first.rows, first.columns),
        spacing=(float(spacing), float(dy), float(dx)),
        origin=tuple(float(v) for v in first.position),  # type: ignore[arg-type]
        direction=(tuple(o[:3]), tuple(o[3:]), tuple(float(v) for v in normal)),  # type: ignore[arg-type]
    )
    return Stack(columns, geometry, np.asarray(z, dtype=float), extra_dim, list(extra_values), list(notes))

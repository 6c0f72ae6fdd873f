"""Stacking decisions on frames with known geometry."""

from __future__ import annotations

import numpy as np

from pacslab.volumes._frames import Frame
from pacslab.volumes._stack import form_stacks

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def _frames(zs, *, orientation=AXIAL, rows=8, cols=8, extra=(), start=0, localizer=False, spacing=(0.5, 0.5)):
    o = np.asarray(orientation)
    normal = np.cross(o[:3], o[3:])
    out = []
    for n, z in enumerate(zs):
        pos = tuple(float(v) for v in np.array([10.0, -5.0, 0.0]) + z * normal)
        out.append(Frame(sop_instance_uid=f"1.2.{start + n}", frame=0, rows=rows, columns=cols, position=pos,
                         orientation=orientation, spacing=spacing, instance_number=start + n,
                         localizer=localizer, extra=tuple(extra)))
    return out


def test_order_is_by_position_not_instance_number():
    rng = np.random.default_rng(0)
    zs = rng.permutation(np.arange(20) * 2.5)
    (stack,) = form_stacks(_frames(zs))
    np.testing.assert_allclose(np.diff(stack.positions), 2.5)
    assert stack.geometry.spacing[0] == 2.5
    assert stack.geometry.shape == (20, 8, 8)
    assert stack.notes == []


def test_oblique_direction_is_kept():
    c, s = np.cos(0.3), np.sin(0.3)
    orientation = (1.0, 0.0, 0.0, 0.0, c, s)
    (stack,) = form_stacks(_frames(np.arange(5) * 3.0, orientation=orientation))
    np.testing.assert_allclose(stack.geometry.direction[1], (0, c, s))
    np.testing.assert_allclose(stack.geometry.direction[2], np.cross((1, 0, 0), (0, c, s)))
    assert stack.geometry.spacing[0] == 3.0


def test_localizer_is_split_off():
    axial = _frames(np.arange(10) * 2.0)
    scout = _frames([0.0], orientation=(0.0, 1.0, 0.0, 0.0, 0.0, -1.0), rows=16, cols=16, start=100, localizer=True)
    stacks = form_stacks(axial[:5] + scout + axial[5:])
    assert [s.geometry.shape[0] for s in stacks] == [10, 1]
    assert stacks[1].first.localizer
    assert "localizer" in stacks[0].notes[0]


def test_gap_splits_the_stack():
    stacks = form_stacks(_frames([0, 2, 4, 6, 20, 22, 24]))
    assert sorted(s.geometry.shape[0] for s in stacks) == [3, 4]
    assert all("gaps" in " ".join(s.notes) for s in stacks)


def test_irregular_spacing_is_flagged_and_kept():
    (stack,) = form_stacks(_frames([0, 2, 4.2, 6, 8]))
    assert "irregular" in " ".join(stack.notes)
    np.testing.assert_allclose(stack.positions, [0, 2, 4.2, 6, 8])


def test_echoes_make_a_fourth_dimension():
    zs = np.arange(6) * 4.0
    frames = _frames(zs, extra=[("echo", 10.0)]) + _frames(zs, extra=[("echo", 80.0)], start=50)
    (stack,) = form_stacks(frames)
    assert stack.extra_dim == "echo" and stack.extra_values == [10.0, 80.0]
    assert len(stack.frames) == 2 and all(len(c) == 6 for c in stack.frames)


def test_unexplained_duplicates_are_split_with_a_reason():
    zs = np.arange(4) * 2.0
    stacks = form_stacks(_frames(zs) + _frames(zs, start=10))
    assert len(stacks) == 2
    assert all("more than once" in " ".join(s.notes) for s in stacks)


def test_frames_without_geometry_keep_acquisition_order():
    frames = [Frame(sop_instance_uid="1.9", frame=i, rows=4, columns=4) for i in (2, 0, 1)]
    (stack,) = form_stacks(frames)
    assert [f.frame for f in stack.frames[0]] == [0, 1, 2]
    assert not stack.geometry.known

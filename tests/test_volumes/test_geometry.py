from __future__ import annotations

import numpy as np

from pacslab import VolumeGeometry


def _oblique() -> VolumeGeometry:
    a, b = np.deg2rad(20), np.deg2rad(10)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    rz = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
    d = (rz @ rx).T
    return VolumeGeometry(shape=(10, 64, 32), spacing=(2.5, 0.7, 0.8), origin=(-100.0, 20.0, 35.0),
                          direction=tuple(tuple(v) for v in d))


def test_affine_maps_indices_to_patient():
    g = _oblique()
    p = g.index_to_patient([3, 5, 7])  # (k, j, i)
    d = np.asarray(g.direction)
    expected = np.asarray(g.origin) + 7 * 0.8 * d[0] + 5 * 0.7 * d[1] + 3 * 2.5 * d[2]
    np.testing.assert_allclose(p, expected)


def test_patient_to_index_inverts():
    g = _oblique()
    idx = np.array([[0, 0, 0], [9, 63, 31], [4.5, 10.25, 3.0]])
    np.testing.assert_allclose(g.patient_to_index(g.index_to_patient(idx)), idx, atol=1e-9)


def test_dict_round_trip():
    g = _oblique()
    assert VolumeGeometry.from_dict(g.to_dict()) == g


def test_axis_coordinates_for_axial():
    g = VolumeGeometry(shape=(3, 2, 2), spacing=(5.0, 0.5, 0.25), origin=(-10.0, -20.0, 30.0))
    c = g.axis_coordinates()
    np.testing.assert_allclose(c["z"], [30, 35, 40])
    np.testing.assert_allclose(c["y"], [-20, -19.5])
    np.testing.assert_allclose(c["x"], [-10, -9.75])

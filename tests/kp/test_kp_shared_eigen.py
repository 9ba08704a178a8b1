"""k·p through the shared eigen layer: equal to the previous k·p-only solver path to 1e-10, its Θ and
symmetry data, and the shapes the box basis can (and cannot) solve."""

from __future__ import annotations

from kp_pipeline import kp_solve

import numpy as np
import pytest

from perovskite_tb.errors import GeometryError, InputError
from perovskite_tb.model.shapes import ShapeSpec

from kp.confinement import assemble, band_edge_doublets, hamiltonian_at_field, make_basis
from kp.parameters import load_kp_parameters
from kp.shapes import box_edges, edges_for_cells
from kp.solver import time_reversal_map, time_reverse

P = load_kp_parameters("CsPbI3", "etb-nestoklon2023")

#: (E_e, E_h, diag g_e, diag g_h) of the k·p-only solver (kp/solver.py at commit 7fb84fb: its own
#: dense / shift-invert dispatch, parity or C4z x P blocks, SuperLU via factor_ldl).
PREVIOUS = {
    "cuboid_n566_si": (dict(edge=(6.0, 6.5, 7.0), n_basis=(5, 6, 6), method="shift-invert"),
                       [1.7980079546843528, -0.12263509596064762, [2.0428115458336693, 1.981600252281866, 1.9290862713273254],
                        [0.4782832990571428, 0.5499698188704274, 0.5770373201715747]]),
    "cube5_n6_si": (dict(edge=(5.0, 5.0, 5.0), n_basis=6, method="shift-invert"),
                    [1.8895751122820408, -0.18966064261162574, [1.4545676813402242, 1.4545676813402246, 1.4545676813402275],
                     [0.8084483477592804, 0.8084483477592799, 0.8084483477592787]]),
    "cuboid_small_n4": (dict(edge=(6.0, 6.5, 7.0), n_basis=4),
                        [1.7979006214338895, -0.13238362022842864, [2.049357289181056, 1.9874864573019508, 1.9344460419592875],
                         [0.42909813402129776, 0.46799324147895777, 0.4930153516055934]]),
    "sine3_n6": (dict(edge=(3.0, 3.0, 3.0), basis="sine", n_basis=6),
                 [2.2458528481914426, -0.40987079030086704, [0.3523029217306202, 0.3523029217306196, 0.3523029217306204],
                  [1.358545800785838, 1.3585458007858384, 1.3585458007858386]]),
}


@pytest.mark.parametrize("case", sorted(PREVIOUS))
def test_shared_eigen_layer_equals_previous_kp_path(case):
    kw, (Ee, Eh, ge, gh) = PREVIOUS[case]
    kw = dict(kw)
    r = kp_solve(P, kw.pop("edge"), **kw)
    assert abs(r.electron.energy - Ee) < 1e-10 and abs(r.hole.energy - Eh) < 1e-10
    assert np.abs(r.g_e.tensor.diagonal() - ge).max() < 1e-10
    assert np.abs(r.g_h.tensor.diagonal() - gh).max() < 1e-10
    assert r.stats["solver"] == kw.get("method", "dense")
    assert r.stats["n_blocks"] == (4 if case.startswith("cube") or case.startswith("sine") else 2)


def test_finite_field_pair_equals_previous_kp_path():
    """At B = (0.3, −0.5, 2) T the Zeeman pairs (no Kramers completion, inversion blocks) are unchanged."""
    b = make_basis(P, (6.0, 6.5, 7.0), n_basis=4)
    t = assemble(P, b)
    H = hamiltonian_at_field(P, b, [0.3, -0.5, 2.0])
    e, h = band_edge_doublets(t, H=H)
    for d, ref in ((e, [1.7977845242656725, 1.798018459140689]), (h, [-0.1324149204557163, -0.1323557880180485])):
        w = np.linalg.eigvalsh(d.vectors.conj().T @ (H @ d.vectors))
        assert np.abs(w - ref).max() < 1e-10


def test_time_reversal_map_is_antiunitary_involution_up_to_sign():
    b = make_basis(P, (4.0, 4.0, 5.0), n_basis=(3, 3, 4), vb_shell=1)
    target, phase = time_reversal_map(b)
    assert np.array_equal(np.sort(target), np.arange(b.n_states))  # a permutation
    v = np.random.default_rng(1).standard_normal(b.n_states) + 1j
    assert np.allclose(time_reverse(time_reverse(v, b), b), -v)


def test_non_grid_basis_solves_on_parity_blocks():
    """vb_shell = 1 (VB on the interior triples) is no full grid: P blocks only, still the inertia proof."""
    b = make_basis(P, (5.0, 5.0, 5.0), n_basis=5, vb_shell=1)
    t = assemble(P, b)
    assert not b.full_grid and [a[0] for a in t.symmetry.actions] == ["P"]
    e, h = band_edge_doublets(t, method="shift-invert")
    ed, hd = band_edge_doublets(t, method="dense")
    assert abs(e.energy - ed.energy) < 1e-10 and abs(h.energy - hd.energy) < 1e-10


def test_box_edges_of_shapes():
    a = 0.63
    assert box_edges(ShapeSpec.from_n_cells((2, 3, 4)), a) == pytest.approx((2 * a, 3 * a, 4 * a))
    assert box_edges(ShapeSpec.from_n_cells(5), a) == pytest.approx((5 * a,) * 3)
    assert edges_for_cells((2, 3, 4), a) == pytest.approx((2 * a, 3 * a, 4 * a))
    assert box_edges((1.0, 2.0, 3.0)) == (1.0, 2.0, 3.0)
    for kind, kw in (("sphere", dict(diameter_nm=4.0)), ("spheroid", dict(semi_axes_nm=(2.0, 2.0, 3.0)))):
        with pytest.raises(InputError) as exc:
            box_edges(ShapeSpec(kind, **kw), a)
        assert repr(kind) in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(InputError):
        box_edges(ShapeSpec.from_n_cells(3))  # a ShapeSpec needs the lattice constant
    with pytest.raises(InputError):
        edges_for_cells(3, -0.6)
    with pytest.raises(GeometryError):
        edges_for_cells((0, 3, 3), a)


def test_cuboid_shape_solves_the_cuboid_not_a_cube():
    """A (3, 3, 4)-cell k·p point must solve the 3a × 3a × 4a box (not the 3a cube stored under its key)."""
    a = 0.63
    r = kp_solve(P, ShapeSpec.from_n_cells((3, 3, 4)), a_nm=a, n_basis=4)
    assert r.terms.basis.edge_nm == pytest.approx((3 * a, 3 * a, 4 * a))
    cube = kp_solve(P, (3 * a,) * 3, n_basis=4)
    assert r.electron.energy < cube.electron.energy  # the longer box confines less
    assert abs(r.g_e.tensor[2, 2] - r.g_e.tensor[0, 0]) > 1e-4  # uniaxial, not isotropic

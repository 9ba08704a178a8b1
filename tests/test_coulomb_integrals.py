"""Pair densities, the reusable Coulomb operator and J/K/⟨ab|v|cd⟩ (observables.coulomb_integrals).

Physics checks: the mean direct integral of the band-edge electron and hole doublets equals the
E_C of :mod:`perovskite_tb.observables.coulomb` (ETB cube and k·p box, ε_out ≠ ε_in), the operator's
self-energies equal Σ_e, Σ_h (Brus, J. Chem. Phys. 80, 4403 (1984)), the index symmetries of the
direct and exchange integrals (Franceschetti et al., PRB 58, R13367 (1998)), K ≥ 0 for a positive-
definite homogeneous kernel, linearity of the potential, and set-up done once.
"""

from __future__ import annotations

from kp_pipeline import kp_solve

import numpy as np
import pytest

from perovskite_tb.errors import InputError
from perovskite_tb.observables import _poisson as P
from perovskite_tb.observables._coulomb_checks import box_cos2, cube_weights
from perovskite_tb.observables.coulomb import (
    atom_weights,
    box_region,
    coulomb_envelope,
    coulomb_etb,
    coulomb_etb_doublets,
    coulomb_of_solution,
)
from perovskite_tb.observables.coulomb_integrals import (
    CoulombOperator,
    coulomb_elements,
    direct_exchange,
    pair_density_atoms,
)

EPS_IN, EPS_OUT = 6.1, 2.2


@pytest.fixture(scope="module")
def etb5():
    """5-cell CsPbI3 cube: structure, HamiltonianTerms, band edges (one eigen-solve, ≈ 7 s)."""
    from perovskite_tb.model.materials import load_parameters
    from perovskite_tb.nc import nc_gfactors

    p = load_parameters("CsPbI3")
    _, ht, edges = nc_gfactors(p, 5, return_terms=True)
    return p, ht, edges


@pytest.fixture(scope="module")
def kp5():
    from kp.confinement import nc_default_set
    from kp.parameters import load_kp_parameters

    return kp_solve(load_kp_parameters("CsPbI3", nc_default_set("CsPbI3")), (5.0, 5.0, 5.0))


# --------------------------------------------------------------------------- reproduces coulomb.py
@pytest.mark.physics
def test_etb_band_edge_J_and_self_energies_equal_coulomb_eV(etb5):
    p, ht, edges = etb5
    Ve, Vh = edges.electron.vectors, edges.hole.vectors
    ref = coulomb_etb_doublets(ht.structure, Ve, Vh, p.n_orb, eps_in=EPS_IN, eps_out=EPS_OUT)
    op = CoulombOperator.for_structure(ht.structure, EPS_IN, EPS_OUT)
    J, K = direct_exchange(op, Ve, Vh, n_orb=p.n_orb)
    assert J.shape == K.shape == (2, 2)
    assert J.mean() == pytest.approx(ref.E_C, rel=1e-9)  # Kramers-averaged densities, bilinearity
    qe = op.charges_from_atoms(atom_weights(Ve, p.n_orb))
    qh = op.charges_from_atoms(atom_weights(Vh, p.n_orb))
    assert op.self_energy(qe) == pytest.approx(ref.Sigma_e, rel=1e-9)
    assert op.self_energy(qh) == pytest.approx(ref.Sigma_h, rel=1e-9)
    e_hom = op.interaction(qe, qh, part="homogeneous")
    assert e_hom == pytest.approx(ref.E_C_homogeneous, rel=1e-12)
    # Kramers partners: same density, so every J_eh entry is E_C, and the e–h exchange is small, > 0
    np.testing.assert_allclose(J, ref.E_C, rtol=1e-6)
    assert np.all(K > 0) and K.max() < 0.05 * ref.E_C
    # pipeline entry gives the same E_C
    from perovskite_tb.model.terms import terms_from_hamiltonian

    assert coulomb_of_solution(terms_from_hamiltonian(ht), edges, EPS_IN, EPS_OUT).E_C == ref.E_C


@pytest.mark.physics
def test_kp_band_edge_J_and_self_energies_equal_coulomb_eV(kp5):
    ref = coulomb_of_solution(kp5.terms, kp5, EPS_IN, EPS_OUT)
    op = CoulombOperator.for_envelope(kp5.terms.basis, EPS_IN, EPS_OUT)
    Ve, Vh = kp5.electron.vectors, kp5.hole.vectors
    J, K = direct_exchange(op, Ve, Vh)
    assert J.mean() == pytest.approx(ref.E_C, rel=1e-9)
    de = op.charges_from_states(Ve, Ve, pairs="columns").real
    dh = op.charges_from_states(Vh, Vh, pairs="columns").real
    assert op.self_energy(de.mean(axis=0)) == pytest.approx(ref.Sigma_e, rel=1e-9)
    assert op.self_energy(dh.mean(axis=0)) == pytest.approx(ref.Sigma_h, rel=1e-9)
    assert np.all(K >= 0)


def test_analytic_cube_and_box_match_coulomb_module():
    s, we, wh = cube_weights(6)
    for eo in (EPS_IN, EPS_OUT, 12.0):
        ref = coulomb_etb(s, we, wh, eps_in=EPS_IN, eps_out=eo)
        op = CoulombOperator.for_structure(s, EPS_IN, eo)
        qe, qh = op.charges_from_atoms(we), op.charges_from_atoms(wh)
        assert op.interaction(qe, qh) == pytest.approx(ref.E_C, rel=1e-10)
        np.testing.assert_allclose(
            op.self_energy(np.stack([qe, qh])), [ref.Sigma_e, ref.Sigma_h], rtol=1e-10, atol=1e-15
        )
    f = box_cos2(5.0)
    ref = coulomb_envelope(f, f, box_region(5.0), eps_in=EPS_IN, eps_out=EPS_OUT)
    op = CoulombOperator.for_box(5.0, EPS_IN, EPS_OUT)
    X, Y, Z = op.node_axes()
    n = f(X[:, None, None], Y[None, :, None], Z[None, None, :])
    q = n / n.sum()
    assert op.interaction(q, q) == pytest.approx(ref.E_C, rel=1e-10)
    assert op.self_energy(q) == pytest.approx(ref.Sigma_e, rel=1e-10)


# --------------------------------------------------------------------------- index symmetries
def _random_states(n_atoms, k, seed, n_orb=20):
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((n_atoms * n_orb, k)) + 1j * rng.standard_normal((n_atoms * n_orb, k))
    Q, _ = np.linalg.qr(V)
    return Q


@pytest.fixture(scope="module")
def cube4():
    s, _, _ = cube_weights(4)
    return s, _random_states(s.n_sites, 4, 7)


@pytest.mark.physics
def test_direct_exchange_and_four_index_symmetries(cube4):
    s, S = cube4
    op = CoulombOperator.for_structure(s, EPS_IN, EPS_OUT)
    W = coulomb_elements(op, S, n_orb=20)
    assert W.shape == (4, 4, 4, 4) and W.dtype == complex
    scale = np.abs(W).max()
    np.testing.assert_allclose(W, W.transpose(1, 0, 3, 2), atol=1e-13 * scale)  # ⟨ab|cd⟩ = ⟨ba|dc⟩
    np.testing.assert_allclose(W, np.conj(W.transpose(2, 3, 0, 1)), atol=1e-13 * scale)
    J, K = direct_exchange(op, S, S, n_orb=20)
    np.testing.assert_allclose(J, J.T, rtol=1e-13)
    np.testing.assert_allclose(K, np.conj(K.T), rtol=1e-12)
    np.testing.assert_allclose(np.diag(K), np.diag(J), rtol=1e-12)
    np.testing.assert_allclose(np.einsum("abab->ab", W), J, rtol=1e-10)
    np.testing.assert_allclose(np.einsum("abba->ab", W), K, rtol=1e-9, atol=1e-12 * scale)
    np.testing.assert_allclose(np.einsum("abab->ab", W).imag, 0, atol=1e-13 * scale)
    # J of two sets A, B is the cross block of J of their union
    J2, K2 = direct_exchange(op, S[:, :2], S[:, 2:], n_orb=20)
    np.testing.assert_allclose(J2, J[:2, 2:], rtol=1e-12)
    np.testing.assert_allclose(K2, K[:2, 2:], rtol=1e-9)


@pytest.mark.physics
def test_exchange_positive_for_homogeneous_kernel(cube4):
    """Cell-averaged 1/r is positive definite: K_ab = B(ρ_ab, ρ_ab*) ≥ 0 (a ≠ b), below J."""
    s, S = cube4
    op = CoulombOperator.for_structure(s, EPS_IN, EPS_IN)
    J, K = direct_exchange(op, S, S, n_orb=20)
    off = ~np.eye(4, dtype=bool)
    assert np.all(K[off] > 0)
    assert np.all(K[off] < J[off])
    # pair densities of orthonormal states: total charge δ_ab
    rho = pair_density_atoms(S[:, [0, 0]], S[:, [0, 1]], 20)
    np.testing.assert_allclose(rho.sum(axis=0), [1.0, 0.0], atol=1e-12)


# --------------------------------------------------------------------------- operator contracts
def test_operator_linear_and_reused(monkeypatch):
    s, we, wh = cube_weights(5)
    op = CoulombOperator.for_structure(s, EPS_IN, EPS_OUT)
    calls = []
    for name in ("face_permittivity", "cube_kernel", "free_space_kernel_fft"):
        orig = getattr(P, name)
        monkeypatch.setattr(
            P, name, lambda *a, _o=orig, _n=name, **k: calls.append(_n) or _o(*a, **k)
        )
    qe, qh = op.charges_from_atoms(we), op.charges_from_atoms(wh)
    v1 = op.potential(qe)
    v2 = op.potential(qe)
    np.testing.assert_array_equal(v1, v2)  # same answer on a second call
    assert op.interaction(qe, qh) == op.interaction(qe, qh)
    assert calls == [] and op.stats["setup_calls"] == 1  # nothing rebuilt
    assert op.stats["solves"] == 6
    # superposition, complex charges, and the stacked form
    a, b = 0.3 - 0.7j, 1.9 + 0.2j
    vh = op.potential(qh)
    vc = op.potential(a * qe + b * qh)
    np.testing.assert_allclose(vc, a * v1 + b * vh, rtol=0, atol=1e-8 * np.abs(v1).max())
    np.testing.assert_allclose(op.potential(np.stack([qe, qh])), np.stack([v1, vh]), rtol=1e-14)
    # complex weights deposit linearly
    np.testing.assert_allclose(op.charges_from_atoms(a * we + b * wh), a * qe + b * qh, atol=1e-15)
    # potential parts add up
    np.testing.assert_allclose(
        op.potential(qe, "homogeneous") + op.potential(qe, "image"), v1, rtol=1e-12, atol=1e-14
    )


def test_pair_density_atoms_and_errors():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(60) + 1j * rng.standard_normal(60)
    b = rng.standard_normal(60) + 1j * rng.standard_normal(60)
    rho = pair_density_atoms(a, b, 20)
    assert rho.shape == (3,) and rho.dtype == complex
    np.testing.assert_allclose(rho, (np.conj(a) * b).reshape(3, 20).sum(1))
    np.testing.assert_allclose(pair_density_atoms(b, a, 20), np.conj(rho))
    with pytest.raises(InputError):
        pair_density_atoms(a[:-1], b[:-1], 20)
    s, we, _ = cube_weights(3)
    op = CoulombOperator.for_structure(s, EPS_IN, EPS_OUT)
    with pytest.raises(InputError, match="atoms"):
        op.charges_from_atoms(we[:-1])
    with pytest.raises(InputError, match="shape"):
        op.potential(np.zeros((3, 3, 3)))
    with pytest.raises(InputError, match="n_orb"):
        direct_exchange(op, np.ones((20 * s.n_sites, 1)), np.ones((20 * s.n_sites, 1)))
    with pytest.raises(InputError, match="real"):
        op.self_energy(1j * op.charges_from_atoms(we))
    with pytest.raises(InputError, match="epsilon_out"):
        CoulombOperator.for_structure(s, EPS_IN, -1.0)
    box = CoulombOperator.for_box(3.0, EPS_IN, EPS_OUT)
    with pytest.raises(InputError, match="for_structure"):
        box.charges_from_atoms(we)


@pytest.mark.parametrize("n", [3, 4, 8, 11])
def test_cube_grid_and_image_potential_symmetric(n):
    """The padded box is symmetric about the NC centre for odd and even N (N = 11 was not), and the
    image potential of a density with cubic symmetry keeps x → −x, x ↔ y (Oh)."""
    from types import SimpleNamespace

    a = 0.6
    k = np.arange(n) * a - 0.5 * (n - 1) * a
    pb = np.stack(np.meshgrid(k, k, k, indexing="ij"), axis=-1).reshape(-1, 3)
    st = SimpleNamespace(positions=pb, species=np.zeros(len(pb), dtype=int), a=a)
    op = CoulombOperator.for_structure(st, EPS_IN, EPS_OUT)
    g = op.grid
    last = g.origin + (np.array(g.shape) - 1) * g.h
    assert np.allclose(g.origin, -last, atol=1e-12)
    assert all(np.allclose(x, -x[::-1], atol=1e-12) for x in op.node_axes())
    if n > 4:
        return  # the potential check below: small cubes only (time)
    w = 1.0 + (pb**4).sum(axis=1)  # cubic, not spherical
    v = op.potential(op.charges_from_atoms(w / w.sum()), "image")
    scale = np.abs(v).max()
    assert np.abs(v - v[::-1]).max() <= 1e-12 * scale
    assert np.abs(v - v[:, :, ::-1]).max() <= 1e-12 * scale
    assert np.abs(v - v.transpose(1, 0, 2)).max() <= 1e-12 * scale

"""Nanocrystal ETB: kernel parity, Hermiticity, Kramers, gauge invariance, symmetry, g extraction (issue 2)."""

import dataclasses

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from perovskite_tb.model._reference import dense_hamiltonian
from perovskite_tb.errors import DegeneracyError
from perovskite_tb.model.geometry import cuboid
from perovskite_tb.gfactor import g_tensor
from perovskite_tb.model.hamiltonian import PEIERLS_COEF, assemble, block_tables
from perovskite_tb.model.materials import load_parameters
from perovskite_tb.nc import finite_field_g, midgap, nc_gfactors
from perovskite_tb.eigen.solver import band_edges, time_reverse

from tolerances import EIG_ATOL_EV, G_ATOL, KRAMERS_ATOL_EV

P = load_parameters("CsPbI3", "nestoklon2023")
P_SP3 = load_parameters("CsPbI3", "nestoklon2021-sp3")

small_cells = st.tuples(*[st.integers(1, 3)] * 3).filter(lambda t: np.prod(t) <= 12)
fields = st.tuples(*[st.floats(-30, 30, allow_nan=False)] * 3).map(np.asarray)
directions = st.tuples(*[st.floats(-1, 1, allow_nan=False)] * 3).filter(
    lambda v: np.linalg.norm(v) > 0.1).map(lambda v: np.asarray(v) / np.linalg.norm(v))
param_sets = st.sampled_from([P, P_SP3])


def _terms(cells, params=P, **kw):
    return assemble(cuboid(params.a, cells), params, **kw)


@given(small_cells, param_sets, fields)
def test_kernel_equals_slow_twin(cells, params, B):
    """numba COO kernel == explicit Python loops, at B = 0 and with exact Peierls phases."""
    s = cuboid(params.a, cells)
    T = assemble(s, params)
    on, hop = block_tables(params)
    assert np.abs(T.H0.toarray() - dense_hamiltonian(s, on, hop)).max() < 1e-14
    Z = sum(B[g] * T._zeeman[g] for g in range(3)).toarray()
    HB = dense_hamiltonian(s, on, hop, B=B, coef=PEIERLS_COEF) + Z
    assert np.abs(T.hamiltonian(B).toarray() - HB).max() < 1e-12


@given(small_cells, param_sets, fields, st.booleans())
def test_hamiltonian_hermitian(cells, params, B, orb):
    T = _terms(cells, params, orbital_zeeman=orb)
    for A in (T.H0, *T.M, *T.J, T.hamiltonian(B)):
        assert abs(A - A.conj().T).max() < 1e-13


@given(small_cells, param_sets)
def test_kramers_degeneracy_at_zero_field(cells, params):
    """Every level of H0 is (at least) doubly degenerate; Θ maps eigenvectors to eigenvectors."""
    T = _terms(cells, params)
    H = T.H0.toarray()
    E, U = np.linalg.eigh(H)
    assert np.allclose(E[0::2], E[1::2], atol=KRAMERS_ATOL_EV)
    v = U[:, 0]
    w = time_reverse(v)
    assert abs(np.vdot(v, w)) < 1e-12  # Θψ ⟂ ψ for a spin-½ system
    assert np.linalg.norm(H @ w - E[0] * w) < 1e-9


def test_trace_equals_sum_of_onsite_energies():
    T = _terms((2, 3, 1))
    s = T.structure
    orbs = {"s": 1, "p": 3, "d": 5, "sstar": 1}
    tr = 0.0
    for atom, nat in (("Pb", s.n_pb), ("X", s.n_x)):
        e = sum(2 * n * getattr(P, f"E_{o}_{atom}") for o, n in orbs.items())
        tr += nat * e
    assert np.real(T.H0.diagonal().sum()) == pytest.approx(tr, rel=1e-12)


@given(small_cells, fields, st.tuples(*[st.floats(-2, 2)] * 3).map(np.asarray))
def test_spectrum_gauge_origin_invariant(cells, B, shift):
    """Exact-Peierls spectrum at finite B is unchanged when the gauge origin moves (closed NC)."""
    s = cuboid(P_SP3.a, cells)
    s2 = dataclasses.replace(s, positions=s.positions + shift)
    E1 = np.linalg.eigvalsh(assemble(s, P_SP3).hamiltonian(B).toarray())
    E2 = np.linalg.eigvalsh(assemble(s2, P_SP3).hamiltonian(B).toarray())
    assert np.allclose(E1, E2, atol=EIG_ATOL_EV)


@given(st.integers(1, 2), fields)
def test_cube_spectrum_invariant_under_field_permutation(n, B):
    """A cube with PbX6 termination is O_h-symmetric: permuting B among x, y, z leaves the spectrum."""
    T = _terms((n, n, n), P_SP3)
    E1 = np.linalg.eigvalsh(T.hamiltonian(B).toarray())
    E2 = np.linalg.eigvalsh(T.hamiltonian(B[[1, 2, 0]]).toarray())
    assert np.allclose(E1, E2, atol=EIG_ATOL_EV)


def _dense_doublets(T):
    E, U = np.linalg.eigh(T.H0.toarray())
    nf = T.n_fill
    return E, U, nf


@pytest.mark.physics
@pytest.mark.parametrize("params", [P, P_SP3], ids=["sp3d5s*", "sp3"])
@pytest.mark.parametrize("n", [2, 3])
def test_no_gap_states_and_solver_matches_dense(params, n):
    """n_fill states below mid-gap (no surface states: this package's PbX6 termination, README); sparse solver == dense eigh."""
    T = _terms((n, n, n), params)
    E, U, nf = _dense_doublets(T)
    sig = midgap(params)
    assert np.count_nonzero(E < sig) == nf
    r = band_edges(T.H0, sigma=sig, n_orb=params.n_orb, n_fill=nf)
    assert r.n_below == nf
    assert r.electron.energy == pytest.approx(E[nf], abs=EIG_ATOL_EV)
    assert r.hole.energy == pytest.approx(E[nf - 1], abs=EIG_ATOL_EV)
    assert r.electron.residual < 1e-8 and r.hole.residual < 1e-8
    # transition energy above the bulk gap (confinement)
    assert E[nf] - E[nf - 1] > 1.0


@pytest.mark.physics
@given(st.integers(2, 3), directions)
def test_cube_g_tensor_isotropic(n, d):
    """Cubes give isotropic g tensors: g·d̂ has length |g| for any field direction."""
    r = nc_gfactors(P, n)
    for g in (r.g_e, r.g_h):
        assert g.anisotropy < 1e-8
        assert np.allclose(g.tensor, g.g * np.eye(3), atol=1e-8)
        assert np.linalg.norm(g.tensor.T @ d) == pytest.approx(abs(g.g), abs=1e-8)


@pytest.mark.physics
@settings(max_examples=6)
@given(small_cells.filter(lambda t: np.prod(t) <= 6), directions, st.booleans())
def test_perturbative_g_equals_finite_field_g(cells, d, orb):
    """Perturbative g (from M at B = 0) equals the ±B exact-Peierls splitting g (≤ 1e-3)."""
    T = _terms(cells, P, orbital_zeeman=orb)
    E, U, nf = _dense_doublets(T)
    assume(E[nf + 2] - E[nf + 1] > 1e-6 and E[nf - 2] - E[nf - 3] > 1e-6)  # skip Γ8 quartet edges
    for idx in ((nf, nf + 1), (nf - 2, nf - 1)):
        V = U[:, idx]
        g = g_tensor(V, T.M, T.J)
        g_fd = finite_field_g(T, float(E[idx[0]]), d, B_T=0.05)
        assert g_fd == pytest.approx(g.along(d), abs=G_ATOL)


@pytest.mark.physics
@pytest.mark.parametrize("n", [2, 3])
def test_cube_signed_g_matches_finite_field_sign(n):
    """For cubes the signed scalar g (J convention) equals the signed finite-field g along z."""
    r, T, e = nc_gfactors(P, n, return_terms=True)
    assert finite_field_g(T, r.E_e, [0, 0, 1]) == pytest.approx(r.g_e.g, abs=G_ATOL)
    assert finite_field_g(T, r.E_h, [0, 0, 1]) == pytest.approx(r.g_h.g, abs=G_ATOL)


@pytest.mark.physics
def test_g_trends_with_confinement():
    """Nano Lett. 2023 / Meliakov 2025 trend: with growing size g_e rises toward bulk, g_h falls (Nestoklon et al., Nano Lett. 23, 8218 (2023))."""
    rs = [nc_gfactors(P, n) for n in (3, 4, 5)]
    E = [r.transition_energy for r in rs]
    assert E[0] > E[1] > E[2] > 1.652
    ge = [r.g_e.g for r in rs]
    gh = [r.g_h.g for r in rs]
    assert ge[0] < ge[1] < ge[2]
    assert gh[0] > gh[1] > gh[2]


def test_degenerate_edge_is_reported():
    """A doublet check that cannot be met raises DegeneracyError rather than returning garbage."""
    T = _terms((2, 2, 2))
    with pytest.raises(DegeneracyError):
        band_edges(T.H0, sigma=midgap(P), n_orb=P.n_orb, n_fill=T.n_fill + 2)


def test_M_stack_is_pydata_sparse():
    T = _terms((1, 2, 2))
    Ms = T.M_stack
    assert Ms.shape == (3, T.n_states, T.n_states)
    assert np.allclose(Ms[2].todense(), T.M[2].toarray())

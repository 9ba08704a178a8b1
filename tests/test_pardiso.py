"""PARDISO back-end (perovskite_tb.eigen._pardiso): solves, inertia, multi-RHS, errors; skipped without the mkl wheel."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import scipy.sparse as sp

from perovskite_tb.eigen import _pardiso

if not _pardiso.is_available():  # importorskip-style: the optional mkl wheel is absent
    pytest.skip("PARDISO back-end needs the PyPI mkl wheel (pip install mkl)", allow_module_level=True)

from perovskite_tb import assemble, cuboid, load_parameters  # noqa: E402
from perovskite_tb.eigen._pardiso import factor_ldl_pardiso  # noqa: E402
from perovskite_tb.errors import SolverError  # noqa: E402
from perovskite_tb.nc import edge_shifts, midgap  # noqa: E402
from perovskite_tb.eigen.ldl import factor_ldl, nd_ordering  # noqa: E402
from perovskite_tb.eigen.symmetry import symmetry_blocks  # noqa: E402
from perovskite_tb.model.terms import terms_from_hamiltonian  # noqa: E402
from perovskite_tb.eigen.band_edges import solve_terms  # noqa: E402
from perovskite_tb.nc import solve  # noqa: E402

P = load_parameters()


def _random_hermitian(n, seed, diag_scale=3.0, zero_diag=False):
    """Sparse complex Hermitian, indefinite (diagonal ±[1, 2]·diag_scale), ~8 off-diagonal entries per row."""
    rng = np.random.default_rng(seed)
    B = sp.random(n, n, density=4.0 / n, random_state=seed) + 1j * sp.random(n, n, density=4.0 / n, random_state=seed + 1)
    A = B + B.conj().T
    if not zero_diag:
        A = A + sp.diags_array(diag_scale * np.sign(rng.standard_normal(n)) * (1.0 + rng.random(n)))
    return sp.csr_array(A)


def _rel_residual(A, X, B):
    return float(np.linalg.norm(A @ X - B) / np.linalg.norm(B))


@pytest.mark.parametrize("seed", range(6))
def test_random_hermitian_inertia_and_solve(seed):
    n = 300 + 37 * seed
    A = _random_hermitian(n, seed)
    E = np.linalg.eigvalsh(A.toarray())
    h, solve, neg = factor_ldl_pardiso(A)
    assert neg == int(np.count_nonzero(E < 0))
    assert h.n_positive == int(np.count_nonzero(E > 0))
    assert h.n_perturbed == 0
    rng = np.random.default_rng(seed)
    b = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    x = solve(b)
    assert x.shape == (n,) and x.dtype == np.complex128
    assert _rel_residual(A, x, b) < 1e-12
    # Same count as SuperLU's no-pivoting LDLᴴ in a METIS order (factor_ldl's contract).
    _, _, neg_lu = factor_ldl(A, nd_ordering(A, 2))
    assert neg_lu == neg


def test_inertia_moves_with_the_shift():
    """n_negative(A − s) counts the eigenvalues below s, for shifts placed between eigenvalues."""
    A = _random_hermitian(250, 11)
    E = np.linalg.eigvalsh(A.toarray())
    for j in (10, 100, 125, 240):
        s = 0.5 * (E[j - 1] + E[j])
        _, _, neg = factor_ldl_pardiso(A - s * sp.eye_array(250, format="csr"))
        assert neg == j


def test_multi_rhs_and_input_not_modified():
    A = _random_hermitian(400, 3)
    h, solve, _ = factor_ldl_pardiso(A)
    rng = np.random.default_rng(0)
    B = rng.standard_normal((400, 5)) + 1j * rng.standard_normal((400, 5))
    B0 = B.copy()
    X = solve(B)
    assert X.shape == (400, 5)
    np.testing.assert_array_equal(B, B0)
    assert _rel_residual(A, X, B) < 1e-12
    for j in range(5):  # column j of a block solve equals the single solve
        np.testing.assert_allclose(X[:, j], solve(B[:, j]), rtol=0, atol=1e-12 * np.abs(X).max())
    assert h.solves == 10
    # A C-ordered real right-hand side and a row-sliced view are accepted too.
    Xr = solve(np.ascontiguousarray(B.real))
    assert _rel_residual(A, Xr, B.real) < 1e-12
    assert h.nnz_factor >= sp.triu(A).nnz
    assert h.memory_kb["peak"] > 0


def test_missing_diagonal_entries_are_inserted():
    A = _random_hermitian(200, 4).tolil()
    A[5, 5] = 0.0
    A[17, 17] = 0.0
    A = sp.csr_array(A)
    A.eliminate_zeros()
    assert A[5, 5] == 0 and A.diagonal()[17] == 0
    h, solve, neg = factor_ldl_pardiso(A, pivoting="bunch-kaufman")
    b = np.ones(200, dtype=np.complex128)
    assert _rel_residual(A, solve(b), b) < 1e-10
    assert neg is None  # Bunch–Kaufman: no inertia


def test_inaccurate_factor_is_refused_and_bunch_kaufman_solves():
    """A weak-diagonal matrix: 1×1 pivoting fails the residual check; Bunch–Kaufman solves it."""
    A = _random_hermitian(400, 3, diag_scale=1.0)
    with pytest.raises(SolverError, match="inaccurate"):
        factor_ldl_pardiso(A)
    h, solve, neg = factor_ldl_pardiso(A, pivoting="bunch-kaufman")
    assert neg is None
    b = np.ones(400, dtype=np.complex128)
    assert _rel_residual(A, solve(b), b) < 1e-10


def test_errors_and_free():
    with pytest.raises(SolverError, match="square"):
        factor_ldl_pardiso(sp.csr_array(np.ones((3, 4), dtype=complex)))
    A = _random_hermitian(100, 1)
    h, solve, _ = factor_ldl_pardiso(A)
    with pytest.raises(SolverError, match="shape"):
        solve(np.ones(99))
    h.free()
    h.free()  # idempotent
    with pytest.raises(SolverError, match="freed"):
        solve(np.ones(100))
    # Garbage collection releases the factor through weakref.finalize.
    h2, _, _ = factor_ldl_pardiso(A)
    fin = h2._finalizer
    assert fin.alive
    del h2
    gc.collect()
    assert not fin.alive


def test_singular_matrix_gives_no_inertia_or_an_error():
    """Exactly singular: PARDISO perturbs a pivot → no inertia (None), or refuses the factor."""
    A = sp.csr_array(sp.block_diag([_random_hermitian(50, 2), sp.csr_array((1, 1), dtype=complex)]))
    A = sp.csr_array(A + sp.csr_array(([0j], ([50], [50])), shape=(51, 51)))
    try:
        h, _, neg = factor_ldl_pardiso(A)
    except SolverError as exc:
        assert "PARDISO" in str(exc)
    else:
        assert neg is None and h.n_perturbed > 0


def test_mkl_info():
    info = _pardiso.mkl_info()
    assert "Math Kernel Library" in info["version"]
    assert info["max_threads"] >= 1 and info["processor"]


# ------------------------------------------------------------------------------------------------
# A real nanocrystal block: H_b − σ at the solver's edge shifts
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nc3():
    st = cuboid(P.a, 3)
    T = assemble(st, P)
    blocks = symmetry_blocks(st.positions, P.n_orb)
    return st, T, blocks


@pytest.mark.parametrize("which", ["hole", "mid", "electron"])
def test_nc_block_inertia_equals_dense_and_superlu(nc3, which):
    _, T, blocks = nc3
    s_h, s_e = edge_shifts(P)
    shift = {"hole": s_h, "mid": midgap(P), "electron": s_e}[which]
    total = 0
    for blk in blocks:
        Hb = blk.restrict(T.H0)
        m = Hb.shape[0]
        A = Hb - shift * sp.eye_array(m, format="csr")
        E = np.linalg.eigvalsh(Hb.toarray())
        n_dense = int(np.count_nonzero(E < shift))
        h, solve, neg = factor_ldl_pardiso(A)
        _, _, neg_lu = factor_ldl(A, nd_ordering(A, P.n_orb))
        assert neg == n_dense == neg_lu
        assert h.n_perturbed == 0
        rng = np.random.default_rng(m)
        B = rng.standard_normal((m, 3)) + 1j * rng.standard_normal((m, 3))
        X = solve(B)
        assert _rel_residual(A, X, B) < 1e-12
        # Against the dense inverse (cond(A) ≤ ‖H‖/0.05 eV, so 1e-10 is a loose bound).
        X_dense = np.linalg.solve(A.toarray(), B)
        assert np.abs(X - X_dense).max() < 1e-10 * np.abs(X_dense).max()
        total += blk.weight * neg
    # Kramers-weighted sum over the C4z×P blocks: the filled states (all shifts lie in the gap).
    assert total == T.n_fill


def test_band_edges_with_pardiso_equal_superlu(nc3):
    """The registered "pardiso" LDLᴴ back-end gives the same doublets, g and inertia proof as SuperLU."""
    _, T, _ = nc3
    terms = terms_from_hamiltonian(T)
    a = solve(terms, solver="shift-invert", ldl="superlu")
    b = solve(terms, solver="shift-invert", ldl="pardiso")
    assert abs(a.E_e - b.E_e) < 1e-10 and abs(a.E_h - b.E_h) < 1e-10
    np.testing.assert_allclose(a.g_e.tensor, b.g_e.tensor, rtol=0, atol=1e-8)
    np.testing.assert_allclose(a.g_h.tensor, b.g_h.tensor, rtol=0, atol=1e-8)
    # The inertia proof ran on PARDISO's counts: every block's negative pivots sum to the filled states.
    edges = solve_terms(terms, method="shift-invert", ldl="pardiso")
    assert edges.n_below == T.n_fill

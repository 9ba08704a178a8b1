"""Real symmetric symmetry blocks (eigen.real_blocks) and block-parallel solves: same physics, real arithmetic.

The antiunitary A = Θ·C2 (A² = +1 in the double group) makes every C4z×P block of a cube, sphere or
cuboid real symmetric (Dresselhaus, Dresselhaus & Jorio, Group Theory (Springer 2008) §16.6). Checks:
the real blocks span the same invariant subspaces (same spectra as the complex blocks), are real to
rounding, the band edges and g tensors do not change, and real PARDISO counts the inertia exactly.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from perovskite_tb import load_parameters
from perovskite_tb.eigen import band_edges as be
from perovskite_tb.eigen.real_blocks import real_basis, real_blocks, realify
from perovskite_tb.eigen.symmetry import symmetry_blocks
from perovskite_tb.model.shapes import ShapeSpec, build
from perovskite_tb.model.terms import etb_terms
from perovskite_tb.nc import nc_gfactors, solve


@pytest.fixture(scope="module")
def params():
    return load_parameters()


def _terms(params, spec):
    return etb_terms(params, build(spec, params.a))


SPECS = [ShapeSpec.from_n_cells(3), ShapeSpec.from_n_cells((2, 3, 4)), ShapeSpec("sphere", diameter_nm=2.6)]


@pytest.mark.parametrize("spec", SPECS, ids=["cube3", "cuboid234", "sphere"])
def test_real_blocks_are_real_and_keep_the_spectrum(params, spec):
    T = _terms(params, spec)
    sym = T.symmetry
    cplx = symmetry_blocks(sym.positions, sym.orbitals_per_site, species=sym.species)
    real = real_blocks(cplx, sym.positions, sym.orbitals_per_site, sym.species)
    assert all(b.real for b in real)
    H0 = T.H0
    for bc, br in zip(cplx, real):
        Q = br.Q
        assert abs(Q.conj().T @ Q - sp.eye_array(br.size)).max() < 1e-12  # still an isometry
        Hc = bc.restrict(H0)
        Hr_c = br.restrict(H0)
        assert abs(Hr_c.imag).max() < 1e-12 * abs(Hr_c).max()  # real to rounding
        Hr = realify(Hr_c, br)
        assert not np.iscomplexobj(Hr.data)
        assert abs(Hr - Hr.T).max() < 1e-12  # real symmetric
        ec = np.linalg.eigvalsh(Hc.toarray())
        er = np.linalg.eigvalsh(Hr.toarray())
        np.testing.assert_allclose(er, ec, atol=1e-10)  # the same invariant subspace


def test_real_basis_refuses_what_is_not_a_real_structure():
    # Θ alone on a P block (Θ² = −1, quaternionic): W W̄ = −1 has no real basis.
    W = sp.csr_array(np.array([[0, -1], [1, 0]], dtype=complex))
    assert real_basis(W) is None
    # Not monomial.
    assert real_basis(sp.csr_array(np.array([[1, 1], [1, -1]], dtype=complex) / np.sqrt(2))) is None
    # A genuine real structure: a swap with a phase; W V̄ = V and V unitary.
    phi = np.exp(0.7j)
    W = sp.csr_array(np.array([[0, phi, 0], [phi, 0, 0], [0, 0, 1j]]))
    V = real_basis(W)
    assert V is not None
    assert abs(W @ V.conj() - V).max() < 1e-14
    assert abs(V.conj().T @ V - sp.eye_array(3)).max() < 1e-14


def test_only_a_matrix_commuting_with_the_antiunitary_becomes_real(params):
    T = _terms(params, SPECS[0])
    b = be.blocks_for(T.symmetry)[0]
    # B ∥ z keeps C4z and Θ·C2x (a magnetic point group): H0 + μB·B·M_z is still real in the block ...
    Hz = b.restrict(T.H0 + 0.01 * T.M[2])
    assert not np.iscomplexobj(realify(Hz, b).data)
    # ... a perturbation odd under Θ·C2x (imaginary antisymmetric in the real basis) is not: kept complex.
    Hr = realify(b.restrict(T.H0), b)
    K = sp.random_array(Hr.shape, density=0.01, random_state=np.random.default_rng(1))
    Hc = sp.csr_array(Hr + 1e-3j * (K - K.T))
    out = realify(Hc, b)
    assert np.iscomplexobj(out.data) and abs(out - Hc).max() == 0


@pytest.mark.parametrize("n", [3, 4])
def test_band_edges_and_g_identical_to_complex_blocks(params, n, monkeypatch):
    T = _terms(params, ShapeSpec.from_n_cells(n))
    r_real = solve(T)
    monkeypatch.setattr(be, "real_blocks", lambda blocks, *a, **k: tuple(blocks))
    r_cplx = solve(T)
    assert r_real.stats["real_blocks"] == 4 and r_cplx.stats["real_blocks"] == 0
    assert abs(r_real.E_e - r_cplx.E_e) < 1e-10 and abs(r_real.E_h - r_cplx.E_h) < 1e-10
    np.testing.assert_allclose(r_real.g_e.tensor, r_cplx.g_e.tensor, atol=1e-8)
    np.testing.assert_allclose(r_real.g_h.tensor, r_cplx.g_h.tensor, atol=1e-8)


def test_block_workers_do_not_change_the_result(params):
    T = _terms(params, ShapeSpec.from_n_cells(4))
    r1 = solve(T, workers=1)
    r2 = solve(T, workers=2)
    assert r1.stats["workers"] == 1 and r2.stats["workers"] == 2
    assert r1.E_e == r2.E_e and r1.E_h == r2.E_h
    np.testing.assert_array_equal(r1.g_e.tensor, r2.g_e.tensor)


def test_bad_workers_is_refused(params):
    from perovskite_tb.errors import InputError

    T = _terms(params, ShapeSpec.from_n_cells(2))
    with pytest.raises(InputError, match="workers"):
        solve(T, workers=0)


def test_real_pardiso_inertia_equals_dense_count():
    from perovskite_tb.eigen import _pardiso

    if not _pardiso.is_available():
        pytest.skip("mkl wheel absent")
    rng = np.random.default_rng(3)
    for m in (40, 300):
        A = sp.random_array((m, m), density=0.05, random_state=rng) + sp.diags_array(rng.normal(0, 3, m))
        A = sp.csr_array(A + A.T)
        ev = np.linalg.eigvalsh(A.toarray())
        for s in (-1.0, 0.3, 2.0):
            h, solve_, neg = _pardiso.factor_ldl_pardiso(A - s * sp.eye_array(m, format="csr"))
            assert h.real and neg == int(np.count_nonzero(ev < s))
            b = rng.standard_normal(m)
            assert np.linalg.norm((A - s * sp.eye_array(m)) @ solve_(b) - b) < 1e-8 * np.linalg.norm(b)
            bc = b + 1j * rng.standard_normal(m)  # complex right-hand side on a real factor
            assert np.linalg.norm((A - s * sp.eye_array(m)) @ solve_(bc) - bc) < 1e-8 * np.linalg.norm(bc)


def test_nc_pipeline_reports_real_blocks(params):
    r = nc_gfactors(params, 3, dielectric=None)
    assert r.stats["real_blocks"] == 4

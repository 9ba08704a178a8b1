"""Confined k·p checks: Hermiticity, Kramers, M = dH/dB, gauge origin, perturbative vs finite field,
large-size limit, bad input."""

import argparse
import json

import numpy as np
import pytest

from kp.bulk import bulk_properties
from perovskite_tb.app.cli.kp import add_subcommands
from kp.confinement import (assemble, band_edge_doublets, gap_free_conditions, hamiltonian_at_field,
                            make_basis, time_reverse)
from kp_pipeline import kp_solve
import perovskite_tb as ptb
from kp.parameters import load_kp_parameters
from perovskite_tb.constants import MU_B
from perovskite_tb.errors import InputError, ParameterError, SolverError
from perovskite_tb.gfactor import g_from_splitting, g_tensor

pytestmark = pytest.mark.physics

EDGE = (6.0, 6.5, 7.0)  # a cuboid without cubic symmetry, small basis: fast
#: the confined model's default set for CsPbI3 (ETB-derived, Foreman 1+gamma_v < 0)
NC_SET = "etb-nestoklon2023"


@pytest.fixture(scope="module")
def small():
    p = load_kp_parameters("CsPbI3", NC_SET)
    b = make_basis(p, EDGE, n_basis=4)
    return p, b, assemble(p, b)


def test_hermitian(small):
    p, b, t = small
    for A in (t.H0, *t.M, *t.J, hamiltonian_at_field(p, b, [0.4, -1.0, 2.5])):
        assert abs(A - A.conj().T).max() < 1e-12


def test_kramers_degeneracy_at_zero_field(small):
    import scipy.linalg as sla

    _, _, t = small
    E = sla.eigh(t.H0.toarray(), t.S.toarray(), eigvals_only=True)
    assert np.allclose(E[::2], E[1::2], atol=1e-9)


def test_time_reversal_commutes_with_H0(small):
    """Θ H0 = H0 Θ and Θ S = S Θ (Θ antiunitary, Θ² = −1) in the Legendre basis."""
    _, b, t = small
    rng = np.random.default_rng(3)
    v = rng.standard_normal(b.n_states) + 1j * rng.standard_normal(b.n_states)
    for A in (t.H0, t.S):
        assert np.allclose(A @ time_reverse(v, b), time_reverse(A @ v, b), atol=1e-12)
    assert np.allclose(time_reverse(time_reverse(v, b), b), -v)


def test_M_is_field_derivative(small):
    p, b, t = small
    h = 1e-3
    for g in range(3):
        B = np.zeros(3)
        B[g] = h
        fd = (hamiltonian_at_field(p, b, B) - hamiltonian_at_field(p, b, -B)) / (2 * h)
        assert abs(fd - t.M[g]).max() < 1e-10 * max(1.0, abs(t.M[g]).max())


def _doublet_solver(p, b, t, which):
    def solve(Bv):
        H = hamiltonian_at_field(p, b, Bv)
        e, h = band_edge_doublets(t, H=H)
        V = (e if which == "e" else h).vectors
        w, U = np.linalg.eigh(V.conj().T @ (H @ V))
        return w, V @ U
    return solve


@pytest.mark.parametrize("which", ["e", "h"])
def test_perturbative_equals_finite_field(small, which):
    p, b, t = small
    e, h = band_edge_doublets(t)
    d = e if which == "e" else h
    gt = g_tensor(d.vectors, t.M, t.J, overlap=t.S)
    for k in range(3):
        n = np.zeros(3)
        n[k] = 1.0
        gf = g_from_splitting(_doublet_solver(p, b, t, which), t.J, n, B_T=0.1)
        assert gf == pytest.approx(gt.tensor[k, k], abs=1e-3)


def test_gauge_origin_invariance(small):
    """Band-edge Zeeman levels at 2 T do not depend on the gauge origin (to basis truncation)."""
    p, b, t = small
    B = np.array([0.3, -0.5, 2.0])
    b1 = make_basis(p, EDGE, n_basis=4, gauge_origin_nm=(1.0, -0.7, 0.4))
    t1 = assemble(p, b1)
    zeeman = MU_B * np.linalg.norm(B)  # ~1e-4 eV
    for which in ("e", "h"):
        w0, _ = _doublet_solver(p, b, t, which)(B)
        w1, _ = _doublet_solver(p, b1, t1, which)(B)
        assert np.abs(w0 - w1).max() < 0.05 * zeeman
    # and the g tensor (B -> 0) is origin-independent to rounding
    e0, _ = band_edge_doublets(t)
    e1, _ = band_edge_doublets(t1)
    assert np.allclose(g_tensor(e0.vectors, t.M, t.J, overlap=t.S).tensor,
                       g_tensor(e1.vectors, t1.M, t1.J, overlap=t1.S).tensor, atol=1e-6)


def test_cube_is_isotropic():
    p = load_kp_parameters("CsPbI3", NC_SET)
    r = kp_solve(p, (8.0, 8.0, 8.0), n_basis=4)
    for gf in (r.g_e, r.g_h):
        assert gf.anisotropy < 1e-8
        assert np.allclose(gf.tensor, gf.g * np.eye(3), atol=1e-8)


@pytest.mark.slow
def test_large_size_limit():
    """NC g → bulk g of the same set. The leading finite-size correction is linear in the
    confinement energy (∝ ⟨k²⟩ ∝ 1/L²), so the straight line through L = 20 and 30 nm (default
    basis) in (E_conf, g) extrapolated to E_conf = 0 must hit the bulk 8-band g within 0.03 for both
    carriers; |g_NC − g_bulk| shrinks 10 → 20 → 30 nm, and the confinement energies are < 10 meV
    at 30 nm."""
    p = load_kp_parameters("CsPbI3", NC_SET)
    gb = bulk_properties(p)
    r = {L: kp_solve(p, (L, L, L)) for L in (10.0, 20.0, 30.0)}
    for carrier, g_bulk, conf in (("g_e", gb.g_e, lambda x: x.electron.energy - p.Eg),
                                  ("g_h", gb.g_h, lambda x: -x.hole.energy)):
        d = [abs(getattr(r[L], carrier).g - g_bulk) for L in (10.0, 20.0, 30.0)]
        assert d[0] > d[1] > d[2]
        (e1, g1), (e2, g2) = ((conf(r[L]), getattr(r[L], carrier).g) for L in (20.0, 30.0))
        g0 = g2 - e2 * (g1 - g2) / (e1 - e2)
        assert g0 == pytest.approx(g_bulk, abs=0.03), carrier
    assert 0 < r[30.0].electron.energy - p.Eg < 0.01
    assert -0.01 < r[30.0].hole.energy < 0


def test_hole_large_size_trend():
    """g_h(NC) moves toward bulk g_h with size: 10 nm +0.13, 30 nm −0.34, bulk −0.434 (N = 10,
    within 0.01 of converged, kp/README.md)."""
    p = load_kp_parameters("CsPbI3", NC_SET)
    gb = bulk_properties(p).g_h
    g10 = kp_solve(p, (10.0, 10.0, 10.0), n_basis=10).g_h.g
    g30 = kp_solve(p, (30.0, 30.0, 30.0), n_basis=10).g_h.g
    assert abs(g30 - gb) < abs(g10 - gb)
    assert abs(g30 - gb) < 0.1


@pytest.mark.parametrize("edge", [(-5.0, 5.0, 5.0), (0.0, 5.0, 5.0), (float("nan"), 5.0, 5.0),
                                  (5.0, 5.0), (5.0, float("inf"), 5.0)])
def test_bad_edge(edge):
    with pytest.raises(InputError):
        ptb.solve("CsPbI3", edge_nm=edge, model="kp")


def test_unknown_set_and_material():
    with pytest.raises(ParameterError):
        ptb.solve("CsPbI3", edge_nm=(5, 5, 5), model="kp", parameter_set="nope")
    with pytest.raises(InputError, match="unknown material"):
        ptb.solve("CsSnI3", edge_nm=(5, 5, 5), model="kp")
    with pytest.raises(ParameterError):  # no temperature model for Br in the universal set
        ptb.solve("CsPbBr3", edge_nm=(5, 5, 5), model="kp", parameter_set="kirstein2022-universal",
                  temperature_K=10.0)
    with pytest.raises(InputError):
        ptb.solve("CsPbI3", edge_nm=(5, 5, 5), model="kp", temperature_K=-1.0)


def _run(argv):
    ap = argparse.ArgumentParser()
    add_subcommands(ap.add_subparsers(dest="cmd"))
    a = ap.parse_args(argv)
    return a.func(a)


def test_cli_kp_bulk(capsys):
    assert _run(["kp-bulk", "--material", "CsPbI3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"Eg_eV", "Delta_so_eV", "Ep_eV", "m_e", "m_h", "g_e", "g_h"}
    assert out["g_e"] > 0 > out["g_h"]  # CsPbI3 signs (Kirstein et al., Nat. Commun. 13, 3062 (2022))


def test_cli_kp_nc(capsys):
    assert _run(["kp-nc", "--material", "CsPbI3", "--edge-nm", "8", "8", "8", "--n-basis", "4",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for k in ("n_states", "E_e_eV", "E_h_eV", "transition_energy_eV", "g_e", "g_h",
              "g_e_tensor", "g_h_tensor", "seconds"):
        assert k in out
    assert out["transition_energy_eV"] > load_kp_parameters("CsPbI3", NC_SET).Eg
    assert out["parameter_set"] == NC_SET
    with pytest.raises(InputError):
        _run(["kp-nc", "--material", "CsPbI3", "--edge-nm", "8", "-1", "8", "--json"])
    with pytest.raises(ParameterError):
        _run(["kp-bulk", "--material", "CsPbI3", "--parameter-set", "x", "--json"])


def _window_levels(p, L, N):
    """All levels of both parity blocks in [-1, Eg + 1] eV (dense)."""
    import scipy.linalg as sla

    t = assemble(p, make_basis(p, (L, L, L), n_basis=N))
    E = []
    for par in (1, -1):
        idx = np.flatnonzero(t.parity == par)
        E.append(sla.eigh(t.H0[idx][:, idx].toarray(), t.S[idx][:, idx].toarray(), eigvals_only=True,
                          subset_by_value=(-1.0, p.Eg + 1.0)))
    return np.sort(np.concatenate(E))


@pytest.mark.parametrize("L", [3.0, 10.0])
def test_no_spurious_in_gap_states(L):
    """Foreman set: no level between the NC hole and electron doublets, none in the bulk gap."""
    p = load_kp_parameters("CsPbI3", NC_SET)
    assert p.gamma_v <= -1.0  # Foreman: 1 + gamma_v <= 0
    r = kp_solve(p, (L, L, L), n_basis=4)
    E = _window_levels(p, L, 4)
    tol = 1e-9
    assert np.sum((E > r.hole.energy + tol) & (E < r.electron.energy - tol)) == 0
    assert np.sum((E > 0) & (E < p.Eg)) == 0
    assert r.hole.energy < 0 < p.Eg < r.electron.energy


def test_energies_monotonic_in_size():
    p = load_kp_parameters("CsPbI3", NC_SET)
    rs = [kp_solve(p, (L, L, L), n_basis=4) for L in (3.0, 4.0, 5.0, 7.0, 10.0, 15.0, 30.0)]
    Ee = np.array([r.electron.energy for r in rs])
    Eh = np.array([r.hole.energy for r in rs])
    assert np.all(np.diff(Ee) < 0) and np.all(np.diff(Eh) > 0)


def test_hole_g_basis_convergence_5nm():
    """Legendre basis, L = 5 nm: g_h(N) converges monotonically, |g_h(8) − g_h(10)| < 1e-3
    (kp/README.md convergence table: 0.8084, 0.8174, 0.8178 for N = 6, 8, 10)."""
    p = load_kp_parameters("CsPbI3", NC_SET)
    g6, g8, g10 = (kp_solve(p, (5.0, 5.0, 5.0), n_basis=N).g_h.g for N in (6, 8, 10))
    assert abs(g8 - g10) < 1e-3
    assert abs(g6 - g10) > abs(g8 - g10)


@pytest.mark.slow
def test_default_basis_is_converged_10nm():
    """At 10 nm the default N (11) is within 3e-3 of N = 14 for g_h, 1e-3 for g_e, 3e-4 eV for E (E_h at N = 11: 2.1e-4)."""
    p = load_kp_parameters("CsPbI3", NC_SET)
    d = kp_solve(p, (10.0, 10.0, 10.0))
    r = kp_solve(p, (10.0, 10.0, 10.0), n_basis=14)
    assert d.terms.basis.n_max[0] < 14
    assert abs(d.g_h.g - r.g_h.g) < 3e-3 and abs(d.g_e.g - r.g_e.g) < 1e-3
    assert abs(d.electron.energy - r.electron.energy) < 3e-4
    assert abs(d.hole.energy - r.hole.energy) < 3e-4


def test_c4_and_inversion_commute_with_H0_S_Mz():
    import scipy.sparse as sp

    from kp.confinement import symmetry_actions

    p = load_kp_parameters("CsPbI3", NC_SET)
    b = make_basis(p, (5.0, 5.0, 6.0), n_basis=(4, 4, 5))
    t = assemble(p, b)
    acts = symmetry_actions(b)
    assert [a[0] for a in acts] == ["P", "C4z"]
    for name, tgt, ph, order in acts:
        U = sp.csr_array((ph, (tgt, np.arange(tgt.size))), shape=(tgt.size,) * 2)
        for A in (t.H0, t.S, t.M[2], t.J[2]):
            assert abs(U @ A - A @ U).max() < 1e-12
        assert abs(U @ t.M[0] - t.M[0] @ U).max() > 1e-6 or name == "P"  # B_x breaks C4z
    assert [a[0] for a in symmetry_actions(make_basis(p, EDGE, n_basis=4))] == ["P"]


def test_nc_default_set_is_etb_derived():
    d = ptb.solve("CsPbI3", edge_nm=(8.0, 8.0, 8.0), model="kp", kp_n_basis=4)
    assert d.context["parameter_set"] == NC_SET
    assert d.residual_e < 1e-8 and d.residual_h < 1e-8


def test_legendre_1d_matches_shen_closed_forms():
    """Shen (1994) Legendre–Galerkin basis φ_k = P_k − P_{k+2} on [−1, 1] (L = 2): stiffness
    ∫φ_j'φ_k' = (4k+6)δ_jk, mass ∫φ_kφ_k = 2/(2k+1) + 2/(2k+5), ∫φ_kφ_{k+2} = −2/(2k+5)
    (shen1994, Lemma 2.1); ours are normalised to unit mass diagonal."""
    from kp.envelope import _legendre_1d

    N = 9
    A = _legendre_1d(2.0, N, 0.0)
    k = np.arange(N)
    mass = 2 / (2 * k + 1) + 2 / (2 * k + 5)
    c = 1 / np.sqrt(mass)
    assert np.allclose(A["S"].diagonal(), 1.0)
    assert np.allclose(np.diag(A["S"], 2), -2 / (2 * k[:-2] + 5) * c[:-2] * c[2:])
    assert np.allclose(A["K2"], np.diag((4 * k + 6) * c**2), atol=1e-12)
    # band structure: S only offsets 0, ±2; k = −i d only ±1; x only ±1, ±3
    off = np.subtract.outer(k, k)
    assert np.all(A["S"][(off != 0) & (np.abs(off) != 2)] == 0)
    assert np.all(A["K"][np.abs(off) != 1] == 0)
    assert np.all(A["X"][(np.abs(off) != 1) & (np.abs(off) != 3)] == 0)
    # Hermitian and the overlap positive definite
    for M in A.values():
        assert np.allclose(M, M.conj().T, atol=1e-13)
    assert np.linalg.eigvalsh(A["S"]).min() > 0


@pytest.mark.parametrize("edge, n", [(EDGE, (5, 6, 6)), ((5.0, 5.0, 5.0), 6)])
def test_dense_and_shift_invert_agree(edge, n):
    """Parity blocks (cuboid) and C4z x P blocks with the inertia check (cube) give the dense levels."""
    p = load_kp_parameters("CsPbI3", NC_SET)
    t = assemble(p, make_basis(p, edge, n_basis=n))
    a = band_edge_doublets(t, method="dense")
    b = band_edge_doublets(t, method="shift-invert")
    for x, y in zip(a, b):
        assert x.energy == pytest.approx(y.energy, abs=1e-10)
        gx, gy = (g_tensor(d.vectors, t.M, t.J, overlap=t.S).tensor for d in (x, y))
        assert np.allclose(gx, gy, atol=1e-8)
        assert y.residual < 1e-9


def test_sine_and_legendre_converge_to_the_same_levels():
    """Both bases are Galerkin approximations of one operator: at L = 3 nm (no resolution problem)
    E_e, E_h agree to 3 meV and g_e to 0.01 between sine N = 8 and Legendre N = 8."""
    p = load_kp_parameters("CsPbI3", NC_SET)
    s = kp_solve(p, (3.0, 3.0, 3.0), basis="sine", n_basis=8)
    lg = kp_solve(p, (3.0, 3.0, 3.0), basis="legendre", n_basis=8)
    assert s.electron.energy == pytest.approx(lg.electron.energy, abs=3e-3)
    assert s.hole.energy == pytest.approx(lg.hole.energy, abs=3e-3)
    assert s.g_e.g == pytest.approx(lg.g_e.g, abs=0.01)


def test_gap_free_conditions():
    """ETB-derived (Foreman) sets satisfy the no-level-in-the-gap theorem; the universal set as
    given (1+γ_v = 1 > 0) does not, and the NC solver refuses it."""
    for mat, name in (("CsPbI3", NC_SET), ("CsPbBr3", "etb-nestoklon2023-fit"),
                      ("CsPbCl3", "etb-nestoklon2023-fit")):
        ok, why = gap_free_conditions(load_kp_parameters(mat, name))
        assert ok, why
    uni = load_kp_parameters("CsPbI3", "kirstein2022-universal")
    ok, why = gap_free_conditions(uni)
    assert not ok and "gamma_v" in why
    with pytest.raises(SolverError):
        kp_solve(uni, (5.0, 5.0, 5.0), n_basis=4)

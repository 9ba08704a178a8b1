"""Confined k·p checks: Hermiticity, Kramers, M = dH/dB, gauge origin, perturbative vs finite field,
large-size limit, bad input."""

import argparse
import json

import numpy as np
import pytest

from kp.bulk import bulk_properties
from kp.cli import add_subcommands
from kp.confinement import (assemble, band_edge_doublets, hamiltonian_at_field, make_basis,
                            nc_gfactors, solve_nc)
from kp.parameters import load_kp_parameters
from perovskite_tb.constants import MU_B
from perovskite_tb.errors import InputError, ParameterError
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
    _, _, t = small
    E = np.linalg.eigvalsh(t.H0.toarray())
    assert np.allclose(E[::2], E[1::2], atol=1e-9)


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
    gt = g_tensor(d.vectors, t.M, t.J)
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
    assert np.allclose(g_tensor(e0.vectors, t.M, t.J).tensor,
                       g_tensor(e1.vectors, t1.M, t1.J).tensor, atol=1e-6)


def test_cube_is_isotropic():
    p = load_kp_parameters("CsPbI3", NC_SET)
    r = solve_nc(p, (8.0, 8.0, 8.0), n_basis=4)
    for gf in (r.g_e, r.g_h):
        assert gf.anisotropy < 1e-8
        assert np.allclose(gf.tensor, gf.g * np.eye(3), atol=1e-8)


@pytest.mark.slow
def test_large_size_limit_electron():
    """g_e(NC) -> g_e(bulk) of the same set: |Δg| shrinks with L and is < 0.1 at L = 30 nm (N = 6)."""
    p = load_kp_parameters("CsPbI3", NC_SET)
    gb = bulk_properties(p)
    d = [abs(solve_nc(p, (L, L, L)).g_e.g - gb.g_e) for L in (10.0, 20.0, 30.0)]
    assert d[0] > d[1] > d[2]
    assert d[2] < 0.1
    # confinement energies vanish like 1/L^2
    r = solve_nc(p, (30.0, 30.0, 30.0))
    assert 0 < r.electron.energy - p.Eg < 0.01
    assert -0.01 < r.hole.energy < 0


def test_hole_large_size_trend():
    """g_h(NC) moves toward bulk g_h with size (loose: hole basis convergence is ~0.03, README)."""
    p = load_kp_parameters("CsPbI3", NC_SET)
    gb = bulk_properties(p).g_h
    g10 = solve_nc(p, (10.0, 10.0, 10.0), n_basis=4).g_h.g
    g30 = solve_nc(p, (30.0, 30.0, 30.0), n_basis=4).g_h.g
    assert abs(g30 - gb) < abs(g10 - gb)
    assert abs(g30 - gb) < 0.1


@pytest.mark.parametrize("edge", [(-5.0, 5.0, 5.0), (0.0, 5.0, 5.0), (float("nan"), 5.0, 5.0),
                                  (5.0, 5.0), (5.0, float("inf"), 5.0)])
def test_bad_edge(edge):
    with pytest.raises(InputError):
        nc_gfactors("CsPbI3", edge)


def test_unknown_set_and_material():
    with pytest.raises(ParameterError):
        nc_gfactors("CsPbI3", (5, 5, 5), parameter_set="nope")
    with pytest.raises(ParameterError):
        nc_gfactors("CsSnI3", (5, 5, 5))
    with pytest.raises(ParameterError):  # no temperature model for Br in the universal set
        nc_gfactors("CsPbBr3", (5, 5, 5), temperature_K=10.0)
    with pytest.raises(InputError):
        nc_gfactors("CsPbI3", (5, 5, 5), temperature_K=-1.0)


def _run(argv):
    ap = argparse.ArgumentParser()
    add_subcommands(ap.add_subparsers(dest="cmd"))
    a = ap.parse_args(argv)
    return a.func(a)


def test_cli_kp_bulk(capsys):
    assert _run(["kp-bulk", "--material", "CsPbI3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"Eg_eV", "Delta_so_eV", "Ep_eV", "m_e", "m_h", "g_e", "g_h"}
    assert out["g_e"] > 0 > out["g_h"]  # CsPbI3 signs, brief §0


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
        E.append(sla.eigh(t.H0[idx][:, idx].toarray(), eigvals_only=True,
                          subset_by_value=(-1.0, p.Eg + 1.0)))
    return np.sort(np.concatenate(E))


@pytest.mark.parametrize("L", [3.0, 10.0])
def test_no_spurious_in_gap_states(L):
    """Foreman set: no level between the NC hole and electron doublets, none in the bulk gap."""
    p = load_kp_parameters("CsPbI3", NC_SET)
    assert p.gamma_v <= -1.0  # Foreman: 1 + gamma_v <= 0
    r = solve_nc(p, (L, L, L), n_basis=4)
    E = _window_levels(p, L, 4)
    tol = 1e-9
    assert np.sum((E > r.hole.energy + tol) & (E < r.electron.energy - tol)) == 0
    assert np.sum((E > 0) & (E < p.Eg)) == 0
    assert r.hole.energy < 0 < p.Eg < r.electron.energy


def test_energies_monotonic_in_size():
    p = load_kp_parameters("CsPbI3", NC_SET)
    rs = [solve_nc(p, (L, L, L), n_basis=4) for L in (3.0, 4.0, 5.0, 7.0, 10.0, 15.0, 30.0)]
    Ee = np.array([r.electron.energy for r in rs])
    Eh = np.array([r.hole.energy for r in rs])
    assert np.all(np.diff(Ee) < 0) and np.all(np.diff(Eh) > 0)


def test_hole_g_basis_convergence_10nm():
    """g_h at L = 10 nm: N = 4 -> 6 changes by < 0.03 (kp/README.md convergence table)."""
    p = load_kp_parameters("CsPbI3", NC_SET)
    g4, g6 = (solve_nc(p, (10.0, 10.0, 10.0), n_basis=N).g_h.g for N in (4, 6))
    assert abs(g6 - g4) < 0.03


def test_nc_default_set_is_etb_derived():
    d = nc_gfactors("CsPbI3", (8.0, 8.0, 8.0), n_basis=4)
    assert d["parameter_set"] == NC_SET
    assert d["residual_e_eV"] < 1e-8 and d["residual_h_eV"] < 1e-8
